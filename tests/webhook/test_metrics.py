"""Prometheus outcome counters: per kind, per handler and target host; never a key in a label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.webhook.receiver import Receiver
from tests.webhook.test_handler import ctx, event, key_meta, settle
from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.handler import build_webhook_handler
from tykevents.deliver.webhook.metrics import WebhookCounters
from tykevents.deliver.webhook.service import WebhookService


async def test_prometheus_outcomes(tmp_path: Path, receivers: Any) -> None:
    registry = CollectorRegistry()
    svc = WebhookService(
        WebhookSettings(dead_letter_path=str(tmp_path / "dl"), max_attempts=1), metrics=WebhookCounters()
    )
    registry.register(svc)
    await svc.start()
    try:
        r: Receiver = await receivers(lambda req: 200 if req.index == 0 else 500)
        h = build_webhook_handler(
            {"target_path": r.url("/hook?api_key=sekrit"), "name": "alerts", "event_timeout": 10},
            ctx(svc, tmp_path),
        )
        await h.handle(event("AuthFailure", key_meta(Key="secret-token-1")))
        await h.handle(event("AuthFailure", key_meta(Key="secret-token-1")))  # suppressed
        await h.handle(event("AuthFailure", key_meta(Key="secret-token-2")))  # 500: failed
        await settle(svc)
    finally:
        await svc.close()
    host = f"127.0.0.1:{r.port}"
    get = registry.get_sample_value
    assert get("tykevents_webhook_outcomes_total", {"kind": "webhook", "outcome": "delivered"}) == 1
    assert get("tykevents_webhook_outcomes_total", {"kind": "webhook", "outcome": "suppressed"}) == 1
    assert (
        get(
            "tykevents_webhook_target_outcomes_total",
            {"handler": "alerts", "host": host, "outcome": "failed"},
        )
        == 1
    )
    assert get("tykevents_webhook_attempt_seconds_count", {"host": host, "result": "5xx"}) == 1
    text = generate_latest(registry).decode()
    assert "secret-token" not in text and "sekrit" not in text


async def test_service_from_config(tmp_path: Path) -> None:
    from tykevents.config import load_config
    from tykevents.deliver.webhook.service import service_from_config

    conf = tmp_path / "tyk.conf"
    conf.write_text('{"tykevents": {"webhooks": {"max_attempts": 2, "dead_letter_path": "state/dl.jsonl"}}}')
    registry = CollectorRegistry()
    svc = service_from_config(load_config(conf, env={}), registry=registry)
    assert svc.settings.max_attempts == 2
    assert svc.dead_letters.path == tmp_path / "state" / "dl.jsonl"
    assert isinstance(svc.metrics, WebhookCounters)
    assert registry.get_sample_value("tykevents_webhook_dropped_total") == 0


def test_label_sets_are_bounded_and_totals_stay_exact() -> None:
    registry = CollectorRegistry()
    m = WebhookCounters(max_series=2)  # a small bound, to see it kept
    registry.register(m)
    for _ in range(3):
        for host in ("a:80", "b:80", "c:80"):
            m.outcome("webhook", "h", host, "delivered")
            m.attempt(host, "2xx", 0.01)
    assert len(m.counts) <= 3 and len(m.attempts) <= 3  # two label sets, then "_other"
    get = registry.get_sample_value
    assert get("tykevents_webhook_outcomes_total", {"kind": "webhook", "outcome": "delivered"}) == 9
    for host in ("a:80", "b:80", "_other"):
        assert (
            get(
                "tykevents_webhook_target_outcomes_total",
                {"handler": "h", "host": host, "outcome": "delivered"},
            )
            == 3
        )
        assert get("tykevents_webhook_attempt_seconds_count", {"host": host, "result": "2xx"}) == 3
    assert (
        get("tykevents_webhook_attempt_seconds_bucket", {"host": "a:80", "result": "2xx", "le": "0.005"}) == 0
    )
    assert (
        get("tykevents_webhook_attempt_seconds_bucket", {"host": "a:80", "result": "2xx", "le": "0.01"}) == 3
    )
    assert get("tykevents_webhook_attempt_seconds_sum", {"host": "a:80", "result": "2xx"}) == pytest.approx(
        0.03
    )


async def test_state_gauges(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    svc = WebhookService(WebhookSettings(dead_letter_path=str(tmp_path / "dl")), metrics=WebhookCounters())
    registry.register(svc)
    (tmp_path / "dl").write_text('{"id": "a"}\n{"id": "b"}\n')
    await svc.start()
    try:
        await svc.keeper.recount()
        get = registry.get_sample_value
        assert get("tykevents_webhook_pending") == 0
        assert get("tykevents_webhook_dead_letters_stored", {"store": "primary"}) == 2
        assert get("tykevents_webhook_dead_letters_stored", {"store": "fallback"}) == 0
        assert get("tykevents_webhook_dead_letters_waiting") == 0
        assert get("tykevents_webhook_dead_letters_lost_total") == 0
        assert get("tykevents_webhook_dead_letter_fallbacks_total") == 0
        assert get("tykevents_webhook_redis_up") is None  # memory state: no Redis to report
    finally:
        await svc.close()


@pytest.mark.redis
async def test_spool_gauges(tmp_path: Path, redis_url: str) -> None:
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(redis_url)
    registry = CollectorRegistry()
    svc = WebhookService(
        WebhookSettings(dead_letter_path=str(tmp_path / "dl"), spool_consumer="g"),
        metrics=WebhookCounters(),
        redis=client,
    )
    registry.register(svc)
    await svc.start()
    try:
        get = registry.get_sample_value
        assert get("tykevents_webhook_redis_up") == 1 and get("tykevents_webhook_spool_up") == 1
        assert get("tykevents_webhook_spool_backlog") == 0
        assert get("tykevents_webhook_spool_restored_total") == 0
        assert get("tykevents_webhook_spool_groups_created_total") == 0
    finally:
        await svc.close()
        await client.aclose()
