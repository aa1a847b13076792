"""WebhookHandler: Init, rendering, cooldown and delivery end to end (docs/webhooks.md), ported
from Tyk's gateway/event_handler_webhooks_test.go plus cases of our own."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.webhook.receiver import Receiver
from tykevents.config import Config, Daemon
from tykevents.deliver.base import (
    APIInfo,
    HandlerConfigError,
    HandlerContext,
    HandlerDisabled,
    HandlerServices,
)
from tykevents.deliver.webhook.handler import WebhookHandler, build_webhook_handler
from tykevents.model import Event, MetaTypeError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
TYK_DEFAULT = ROOT / "tests" / "data" / "tyk_default_webhook.json"  # Tyk's own, unchanged
TS = "2024-03-05 14:07:09.123456789 +0000 UTC"


def ctx(svc: Any, base: Path, **cfg: Any) -> HandlerContext:
    # Templates written by the tests live in `base`: allowed explicitly, as an operator would.
    allowed = Daemon(allowed_paths=[str(base), str(TEMPLATES)])
    config = Config(base_dir=str(base), **{"template_path": str(TEMPLATES), "tykevents": allowed, **cfg})
    return HandlerContext(
        config=config,
        api=APIInfo("api1", "org1", "API", "apps/api1.json"),
        where="apps/api1.json:$.event_handlers.events.X[0]",
        services=HandlerServices(webhooks=svc),
    )


def event(type_: str, meta: Any, ts: str = TS) -> Event:
    return Event(type_, None if meta is None else orjson.dumps(meta), ts, "api1", "org1")


def key_meta(**kw: Any) -> dict[str, Any]:
    return {"Message": "THIS IS A TEST", "Path": "/banana", "Origin": "tyk.io", "Key": "123456789", **kw}


async def settle(svc: Any) -> None:
    async with asyncio.timeout(5):
        while svc.pending:
            await asyncio.sleep(0.01)


@pytest.fixture
async def svc(services: Any) -> Any:
    return await services()


def helper_meta(url: str, **kw: Any) -> dict[str, Any]:
    """createWebHookHandler: GET, event_timeout 10, header x-tyk-test."""
    return {
        "target_path": url,
        "method": "GET",
        "event_timeout": 10,
        "header_map": {"x-tyk-test": "TEST"},
        **kw,
    }


# -- Init ---------------------------------------------------------------------------------------


async def test_new_valid_and_disabled(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    meta = {
        "disabled": False,
        "method": "POST",
        "target_path": receiver.url("/post"),
        "template_path": str(TEMPLATES / "default_webhook.json"),
        "header_map": {"X-Tyk-Test-Header": "Tyk v1.BANANA"},
        "event_timeout": 10,
    }
    h = build_webhook_handler(meta, ctx(svc, tmp_path))
    assert isinstance(h, WebhookHandler) and h.kind == "webhook" and not h.conf.disabled
    with pytest.raises(HandlerDisabled, match="skipping disabled webhook n1"):
        build_webhook_handler({**meta, "disabled": True, "name": "n1"}, ctx(svc, tmp_path))


async def test_new_invalid(svc: Any, tmp_path: Path) -> None:
    with pytest.raises(
        HandlerConfigError,
        match=r"^Problem getting configuration, skipping\. json: "
        r"cannot unmarshal number into Go struct field WebHookHandlerConf\.method",
    ):
        build_webhook_handler({"method": 123}, ctx(svc, tmp_path))


@pytest.mark.parametrize(
    "template, tpl_dir, ok",
    [
        ("", None, True),
        ("missing_webhook.json", None, True),
        ("templates/breaker_webhook.json", None, True),  # not there from base_dir: falls back
        ("", "missing-dir", False),
        ("missing_webhook.json", "missing-dir", False),
        (str(TEMPLATES / "breaker_webhook.json"), "missing-dir", True),
    ],
)
async def test_new_custom_template(
    svc: Any, tmp_path: Path, template: str, tpl_dir: str | None, ok: bool
) -> None:
    c = ctx(svc, tmp_path, **({"template_path": tpl_dir} if tpl_dir else {}))
    meta = {"target_path": "http://127.0.0.1:16500/get", "template_path": template}
    if ok:
        build_webhook_handler(meta, c)
    else:
        with pytest.raises(HandlerConfigError, match="^Could not load the default template: open "):
            build_webhook_handler(meta, c)


async def test_invalid_url_logs_but_registers(svc: Any, tmp_path: Path, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR):
        h = build_webhook_handler({"target_path": "not absolute"}, ctx(svc, tmp_path))
    assert isinstance(h, WebhookHandler)
    assert "Init failed for this webhook, invalid URL, URL must be absolute" in caplog.text
    assert "Failed to parse URL!" in caplog.text


async def test_bad_method_warns_and_uses_get(svc: Any, tmp_path: Path, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING):
        h = build_webhook_handler({"target_path": "http://x/", "method": "OPTIONS"}, ctx(svc, tmp_path))
    assert h.plan.method == "GET"
    assert "Method must be one of GET, PUT, POST, DELETE or PATCH, defaulting to GET" in caplog.text


async def test_template_parse_error_reports_position_and_falls_back(
    svc: Any, tmp_path: Path, caplog: Any
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": "{{.Type}}",\n  "b": "{{ if }}"\n}\n')
    with caplog.at_level(logging.WARNING):
        h = build_webhook_handler(
            {"target_path": "http://x/", "template_path": "bad.json"}, ctx(svc, tmp_path)
        )
    assert h.template_file == str(TEMPLATES / "default_webhook.json") and h.content_type == "application/json"
    [rec] = [r for r in caplog.records if "Custom template load failure" in r.getMessage()]
    assert f"Custom template load failure, using default: {bad}:3:" in rec.getMessage()
    line_col = rec.getMessage().split(f"{bad}:")[1].split(":")[:2]
    assert line_col[0] == "3" and int(line_col[1]) > 1


# -- Content-Type (TestWebhookContentTypeHeader) --------------------------------------------------


@pytest.mark.parametrize(
    "template, headers, want",
    [
        ("", {}, "application/json"),
        ("", {"Content-Type": "application/xml"}, "application/xml"),
        ("randomPath", {}, "application/json"),
        ("randomPath", {"Content-Type": "application/xml"}, "application/xml"),
        ("transform_test.tmpl", {}, ""),
        ("breaker.json", {"Content-Type": "application/xml"}, "application/xml"),
        ("UPPER.JSON", {}, ""),  # the .json test is case-sensitive
    ],
)
async def test_content_type_header(
    svc: Any, tmp_path: Path, receiver: Receiver, template: str, headers: dict, want: str
) -> None:
    (tmp_path / "transform_test.tmpl").write_text("{{.Type}}")
    (tmp_path / "UPPER.JSON").write_text("{{.Type}}")
    shutil.copy(TEMPLATES / "breaker_webhook.json", tmp_path / "breaker.json")
    h = build_webhook_handler(
        {
            "target_path": receiver.url("/"),
            "method": "POST",
            "template_path": template,
            "header_map": headers,
        },
        ctx(svc, tmp_path),
    )
    await h.handle(event("BreakerTripped", {"Message": "m", "Path": "/p", "APIID": "a", "CircuitEvent": 0}))
    await settle(svc)
    [req] = receiver.requests
    assert req.header("Content-Type") == want


# -- Rendering and sending -----------------------------------------------------------------------


async def test_create_body(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    h = build_webhook_handler(helper_meta(receiver.url("/get")), ctx(svc, tmp_path))
    await h.handle(event("QuotaExceeded", {}, ts="0"))
    await settle(svc)
    assert b'"event": "QuotaExceeded"' in receiver.requests[0].body


async def test_get_sets_the_cooldown_and_carries_the_body(
    svc: Any, tmp_path: Path, receiver: Receiver
) -> None:
    # TestGet: after HandleEvent, WasHookFired(md5 of the request) is true.
    h = build_webhook_handler(helper_meta(receiver.url("/get")), ctx(svc, tmp_path))
    ev = event("KeyExpired", key_meta())
    await h.handle(ev)
    await settle(svc)
    [req] = receiver.requests
    assert req.method == "GET" and req.body and req.header("Content-Length") == str(len(req.body))
    assert req.header("User-Agent") == "Tyk-Hookshot" and req.header("X-Tyk-Test") == "TEST"
    assert json.loads(req.body) == {
        "event": "KeyExpired",
        "message": "THIS IS A TEST",
        "path": "/banana",
        "origin": "tyk.io",
        "key": "123456789",
    }
    digest = h.plan.checksum(req.body)
    assert await svc.cooldown.acquire(digest, 10) is False  # armed by the handler
    await h.handle(ev)
    await settle(svc)
    assert len(receiver.requests) == 1 and svc.metrics.total("suppressed") == 1


async def test_post_to_an_invalid_url_still_sets_the_cooldown(svc: Any, tmp_path: Path) -> None:
    # TestPost: the target is the literal "`+testHttpPost+`"; the dedupe key is still set.
    h = build_webhook_handler(
        {
            "target_path": "`+testHttpPost+`",
            "method": "POST",
            "event_timeout": 10,
            "template_path": "templates/default_webhook.json",
        },
        ctx(svc, tmp_path),
    )
    ev = event("KeyExpired", key_meta())
    await h.handle(ev)
    assert svc.pending == 0 and svc.metrics.total("invalid_request") == 1
    await h.handle(ev)
    assert svc.metrics.total("suppressed") == 1


async def test_unparsable_url_sets_no_cooldown(svc: Any, tmp_path: Path) -> None:
    h = build_webhook_handler({"target_path": "http://[::1", "event_timeout": 10}, ctx(svc, tmp_path))
    ev = event("AuthFailure", key_meta())
    await h.handle(ev)
    await h.handle(ev)
    assert svc.metrics.total("invalid_request") == 2 and svc.metrics.total("suppressed") == 0


async def test_header_with_newline_is_never_sent_but_cools_down(
    svc: Any, tmp_path: Path, caplog: Any
) -> None:
    with caplog.at_level(logging.ERROR):
        h = build_webhook_handler(
            {"target_path": "http://127.0.0.1:9/", "event_timeout": 10, "header_map": {"X-Bad": "a\nb"}},
            ctx(svc, tmp_path),
        )
    assert "can never be sent" in caplog.text
    ev = event("AuthFailure", key_meta())
    await h.handle(ev)
    await h.handle(ev)
    assert svc.metrics.total("invalid_request") == 1 and svc.metrics.total("suppressed") == 1
    assert svc.pending == 0


@pytest.mark.parametrize(
    "type_, meta_key, remaining_key",
    [
        ("CertificateExpiringSoon", "expires_at", "days_remaining"),
        ("CertificateExpired", "expired_at", "days_since_expiry"),
    ],
)
async def test_templates_cert_events(
    svc: Any, tmp_path: Path, receiver: Receiver, type_: str, meta_key: str, remaining_key: str
) -> None:
    # TestTemplates: the default template's cert branches give valid JSON.
    h = build_webhook_handler({"target_path": receiver.url("/"), "method": "POST"}, ctx(svc, tmp_path))
    await h.handle(
        event(
            type_,
            {
                "Message": "Certificate will expire in 1 day",
                "cert_id": "123abc",
                "cert_name": "Cert Soon To Expire",
                meta_key: "2024-03-06T14:07:09Z",
                remaining_key: 1,
                "api_id": "123abc",
                "cert_role": "client",
            },
            ts="2024-03-05 16:07:09.123 +0200 CEST",
        )
    )
    await settle(svc)
    body = json.loads(receiver.requests[0].body)
    assert (body["event"], body["cert_id"], body["cert_name"], body[remaining_key], body["api_id"]) == (
        type_,
        "123abc",
        "Cert Soon To Expire",
        1,
        "123abc",
    )
    assert body[meta_key] == "2024-03-06T14:07:09Z"
    assert body["timestamp"] == "2024-03-05T16:07:09&#43;02:00"


async def test_cert_checksum_ignores_the_body(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    # TestChecksum/cert: same cert, different bodies -> one webhook; Soon vs Expired -> two.
    (tmp_path / "dyn.json").write_text("dynamic {{.TimeStamp}}")
    c = ctx(svc, tmp_path)
    h = build_webhook_handler(
        {"target_path": receiver.url("/"), "template_path": "dyn.json", "event_timeout": 60}, c
    )
    soon = {
        "cert_id": "123abc",
        "cert_name": "Cert Soon To Expire",
        "expires_at": "2025-01-02T03:04:05Z",
        "api_id": "123abc",
    }
    await h.handle(event("CertificateExpiringSoon", soon, ts="1"))
    await h.handle(event("CertificateExpiringSoon", soon, ts="2"))
    await h.handle(event("CertificateExpired", {**soon, "expired_at": soon["expires_at"]}, ts="3"))
    await settle(svc)
    assert [r.body for r in receiver.requests] == [b"dynamic 1", b"dynamic 3"]
    # and the digest is Tyk's (its certificate checksum, docs/webhooks.md#cooldown):
    assert await svc.cooldown.acquire(bytes.fromhex("2912d3017969fabedaf4f51ce350f12a"), 60) is False


async def test_cert_event_with_a_nil_meta_is_checksummed_over_its_zero_struct(
    svc: Any, tmp_path: Path, receiver: Receiver
) -> None:
    # Tyk always fires the cert struct: a null Meta is its zero value, so the cert checksum
    # (not the body's) applies and a repeat within event_timeout is suppressed.
    (tmp_path / "plain.json").write_text("{{.Type}}")
    h = build_webhook_handler(
        {"target_path": receiver.url("/"), "template_path": "plain.json", "event_timeout": 10},
        ctx(svc, tmp_path),
    )
    await h.handle(event("CertificateExpired", None))
    await h.handle(Event("CertificateExpired", b"null", "other timestamp", "api1", "org1"))
    await settle(svc)
    assert svc.metrics.total("checksum_error") == 0 and svc.metrics.total("suppressed") == 1
    assert [r.body for r in receiver.requests] == [b"CertificateExpired"]


@pytest.mark.parametrize("type_", ["BreakerTripped", "BreakerReset"])
async def test_circuit_breaker_bodies(svc: Any, tmp_path: Path, receiver: Receiver, type_: str) -> None:
    h = build_webhook_handler({"target_path": receiver.url("/"), "method": "POST"}, ctx(svc, tmp_path))
    await h.handle(
        event(type_, {"Message": "Breaker Tripped", "Path": "/p", "APIID": "api1", "CircuitEvent": 0})
    )
    await settle(svc)
    body = json.loads(receiver.requests[0].body)
    assert body["event"] == type_ and body["api_id"] == "api1" and body["path"] == "/p"


async def test_quota_body_escaping_and_header(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    # TestQuota-style, with Tyk's HTML-escaping vector (docs/webhooks.md#templates).
    h = build_webhook_handler(
        {"target_path": receiver.url("/"), "method": "POST", "header_map": {"x-tyk-test": "TEST"}},
        ctx(svc, tmp_path),
    )
    await h.handle(
        event(
            "QuotaExceeded",
            {
                "Message": "Key \"Quota\" <Limit> & 'x' +1",
                "Path": "/api/v1/x?a=1&b=2",
                "Origin": "10.0.0.1",
                "Key": "abc+def/=",
            },
        )
    )
    await settle(svc)
    [req] = receiver.requests
    assert req.body == (
        b'\n{\n    "event": "QuotaExceeded",\n    "message": "Key &#34;Quota&#34; &lt;Limit&gt; '
        b'&amp; &#39;x&#39; &#43;1",\n    "path": "/api/v1/x?a=1&amp;b=2",\n    "origin": '
        b'"10.0.0.1",\n    "key": "abc&#43;def/="\n}\n\n\n'
    )
    assert req.header("X-Tyk-Test") == "TEST"


async def test_token_event_with_tyk_default_template_sends_nothing(
    svc: Any, tmp_path: Path, caplog: Any
) -> None:
    tpl = tmp_path / "tyk-templates"
    tpl.mkdir()
    shutil.copy(TYK_DEFAULT, tpl / "default_webhook.json")
    h = build_webhook_handler(
        {"target_path": "http://127.0.0.1:9/", "event_timeout": 10},
        ctx(svc, tmp_path, template_path=str(tpl)),
    )
    ev = event("TokenCreated", {"Message": "Key generated.", "Org": "o", "Key": "k"})
    with caplog.at_level(logging.ERROR):
        await h.handle(ev)
        await h.handle(ev)
    assert svc.metrics.total("render_error") == 2  # no cooldown was set by the first
    assert "Webhook template rendering error" in caplog.text and svc.pending == 0
    assert "can't evaluate field Path" in caplog.text


async def test_token_event_with_our_default_template_is_sent(
    svc: Any, tmp_path: Path, receiver: Receiver
) -> None:
    h = build_webhook_handler({"target_path": receiver.url("/"), "method": "POST"}, ctx(svc, tmp_path))
    await h.handle(event("TokenCreated", {"Message": "Key generated.", "Org": "o", "Key": "k"}))
    await settle(svc)
    assert json.loads(receiver.requests[0].body)["event"] == "TokenCreated"


async def test_wrong_typed_meta_is_a_render_error(svc: Any, tmp_path: Path) -> None:
    h = build_webhook_handler({"target_path": "http://127.0.0.1:9/", "event_timeout": 10}, ctx(svc, tmp_path))
    # Raised for the lane worker, which counts bad Metas with the other rejections.
    with pytest.raises(MetaTypeError, match="Key"):
        await h.handle(event("AuthFailure", {"Key": 5}))
    await h.handle(Event("AuthFailure", b"{not json", TS, "api1", "org1"))
    assert svc.metrics.total("render_error") == 2 and svc.pending == 0
    await h.handle(event("AuthFailure", {"Key": "5"}))  # no cooldown was armed before
    assert svc.pending == 1


async def test_custom_template_may_use_tyk_functions(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    # Tyk falls back to the default template here; we use the custom one (deliberate).
    # TestWebhookTemplateFuncs' three vectors, through a custom template.
    (tmp_path / "times.tmpl").write_text(
        "{{.TimeStamp | as_rfc3339_from_string}} {{.Meta.ExpiresAt | as_rfc3339}} "
        '{{"2025/01/02 03:04:05" | as_rfc3339_from_string}}'
    )
    h = build_webhook_handler(
        {"target_path": receiver.url("/"), "template_path": "times.tmpl"}, ctx(svc, tmp_path)
    )
    assert h.template_file.endswith("times.tmpl") and h.content_type == ""
    await h.handle(
        event(
            "CertificateExpiringSoon",
            {"expires_at": "2025-01-02T03:04:05.000000006Z"},
            ts="2025-01-02 03:04:05.999999 +0200 CEST",
        )
    )
    await settle(svc)
    assert (
        receiver.requests[0].body == b"2025-01-02T03:04:05&#43;02:00 2025-01-02T03:04:05Z 2025/01/02 03:04:05"
    )


async def test_event_timeout_zero_means_no_cooldown(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    h = build_webhook_handler({"target_path": receiver.url("/"), "event_timeout": 0}, ctx(svc, tmp_path))
    ev = event("AuthFailure", key_meta())
    for _ in range(3):
        await h.handle(ev)
    await settle(svc)
    assert len(receiver.requests) == 3


async def test_headers_are_not_in_the_cooldown_key(svc: Any, tmp_path: Path, receiver: Receiver) -> None:
    c = ctx(svc, tmp_path)
    a = build_webhook_handler(
        {"target_path": receiver.url("/"), "event_timeout": 10, "header_map": {"X-A": "1"}}, c
    )
    b = build_webhook_handler(
        {"target_path": receiver.url("/"), "event_timeout": 10, "header_map": {"X-B": "2"}}, c
    )
    ev = event("AuthFailure", key_meta())
    await a.handle(ev)
    await b.handle(ev)
    await settle(svc)
    assert len(receiver.requests) == 1


async def test_overload_waits_for_room_and_drops_nothing(services: Any, tmp_path: Path) -> None:
    """At the pending limit the handler waits (its lane fills and holds lossless readers back:
    docs/operations.md#overload-policy): nothing is dropped. The cooldown is armed before the
    wait, so a repeat that arrives meanwhile is suppressed, not queued twice."""
    release = asyncio.Event()

    async def respond(req: Any) -> int:
        await release.wait()
        return 200

    r = Receiver(respond=respond)
    await r.start()
    try:
        svc = await services(pending_limit=1)
        h = build_webhook_handler({"target_path": r.url("/"), "event_timeout": 10}, ctx(svc, tmp_path))
        await h.handle(event("AuthFailure", key_meta(Key="a")))
        second = asyncio.create_task(h.handle(event("AuthFailure", key_meta(Key="b"))))
        await asyncio.sleep(0.2)
        assert not second.done() and svc.pending == 1 and svc.full
        await h.handle(event("AuthFailure", key_meta(Key="b")))  # a repeat: suppressed at once
        assert svc.metrics.total("suppressed") == 1
        release.set()
        await asyncio.wait_for(second, 5)
        await settle(svc)
        assert len(r.requests) == 2 and svc.metrics.total("delivered") == 2
        assert svc.metrics.total("dropped") == 0 and svc.dropped == 0
    finally:
        await r.close()


async def test_cooldown_store_outage_fires_and_counts(
    services: Any, tmp_path: Path, receiver: Receiver
) -> None:
    import redis.asyncio as aredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from tests.support.servers import free_port
    from tykevents.store.cooldown import RedisCooldown

    dead = aredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        svc = await services(cooldown=RedisCooldown(dead))
        h = build_webhook_handler({"target_path": receiver.url("/"), "event_timeout": 10}, ctx(svc, tmp_path))
        ev = event("AuthFailure", key_meta())
        await h.handle(ev)
        await h.handle(ev)
        await settle(svc)
        assert len(receiver.requests) == 2 and svc.metrics.total("cooldown_error") == 2
    finally:
        await dead.aclose()


@pytest.mark.redis
async def test_two_instances_share_cooldowns_through_redis(
    redis_url: str, services: Any, tmp_path: Path, receiver: Receiver
) -> None:
    import redis.asyncio as aredis

    clients = [aredis.Redis.from_url(redis_url) for _ in range(2)]
    made = []
    try:
        made = a, b = [await services(redis=c) for c in clients]
        meta = {"target_path": receiver.url("/"), "event_timeout": 10}
        ha, hb = build_webhook_handler(meta, ctx(a, tmp_path)), build_webhook_handler(meta, ctx(b, tmp_path))
        ev = event("AuthFailure", key_meta())
        await asyncio.gather(ha.handle(ev), hb.handle(ev), ha.handle(ev), hb.handle(ev))
        await settle(a)
        await settle(b)
        assert len(receiver.requests) == 1
        assert a.metrics.total("suppressed") + b.metrics.total("suppressed") == 3
    finally:
        for svc in made:  # first: their spool and delivery log would reopen a closed client
            await svc.close()
        for c in clients:
            await c.aclose()


async def test_a_webhook_the_cooldown_holds_back_is_in_the_delivery_log(
    svc: Any, tmp_path: Path, receiver: Receiver
) -> None:
    h = build_webhook_handler(helper_meta(receiver.url("/get")), ctx(svc, tmp_path))
    e = event("KeyExpired", {"Message": "m", "Path": "/p", "Origin": "o", "Key": "k"})
    await h.handle(e)
    await h.handle(e)  # the same body within event_timeout: Tyk sends it once
    await settle(svc)
    assert len(receiver.requests) == 1
    from tykevents.deliver.webhook.deliverylog import DeliveryFilter

    [held] = await svc.log.query(DeliveryFilter(outcome="suppressed"))
    assert (held["event"], held["attempts"], held["status"]) == ("KeyExpired", 0, None)
    assert len(await svc.log.query(DeliveryFilter(outcome="delivered"))) == 1
