"""Endpoint health and protection against real receivers that fail, recover and count:
the circuit breaker (opens, holds every attempt back during its cool-off, probes, closes or
opens again), the per-host rate limit (a measured rate, with its burst), their metrics, and
defaults that change nothing (docs/webhooks.md#endpoint-protection)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.support.daemon import classic_api, event
from tests.support.servers import free_port
from tests.support.threaded import ThreadedReceiver
from tests.webhook.receiver import RawRequest
from tests.webhook.test_service import dead_letters, delivery, wait_idle
from tykevents.config import BreakerSettings, RateLimitSettings, WebhookSettings
from tykevents.deliver.webhook.deliverylog import DeliveryFilter
from tykevents.deliver.webhook.endpoints import EndpointHealth, TokenBucket


class Switch:
    """A receiver's answer that the test flips: 500 (an outage) or 200."""

    def __init__(self, status: int = 500) -> None:
        self.status = status
        self.times: list[float] = []

    def __call__(self, req: RawRequest) -> int:
        self.times.append(time.monotonic())
        return self.status


async def wait_state(svc: Any, host: str, state: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while svc.endpoints.state(host) != state:
            await asyncio.sleep(0.005)


def breaker(**kw: Any) -> dict[str, Any]:
    return {"breaker": BreakerSettings(enabled=True, **kw)}


async def test_breaker_opens_holds_probes_reopens_then_closes(services: Any, receivers: Any) -> None:
    sw = Switch(500)
    r = await receivers(sw)
    host = f"127.0.0.1:{r.port}"
    svc = await services(max_per_host=1, max_attempts=20, **breaker(failures=3, cool_off=0.6))
    registry = CollectorRegistry()
    registry.register(svc)
    ds = [delivery(r.url(f"/{i}")) for i in range(6)]
    for d in ds:
        assert svc.submit(d)

    await wait_state(svc, host, "open")
    seen = len(r.requests)
    assert seen == 3  # three consecutive failures, then nothing more goes
    assert registry.get_sample_value("tykevents_webhook_breaker_state", {"host": host}) == 2
    await asyncio.sleep(0.45)  # most of the cool-off: the receiver counts no attempt
    assert len(r.requests) == 3
    assert sum(d.attempts for d in ds) == 3  # the waiting ones burnt none
    assert svc.endpoints.snapshot()[0]["breaker"] == "open"
    held = await svc.log.query(DeliveryFilter(outcome="breaker_open"))  # the delivery log says why
    assert len(held) == 6 and {x["host"] for x in held} == {host}

    # Cool-off over: one probe goes, fails, and the breaker opens again for a full cool-off.
    await r.wait_for(4, timeout=2.0)
    await wait_state(svc, host, "open")
    reopened = time.monotonic()
    await asyncio.sleep(0.45)
    assert len(r.requests) == 4
    assert sw.times[3] - sw.times[2] >= 0.55  # the probe waited the cool-off

    # The receiver recovers: the next probe succeeds, closes it, and everything is delivered.
    sw.status = 200
    await wait_idle(svc, timeout=5.0)
    assert sw.times[4] - reopened >= 0.1 and sw.times[4] - sw.times[3] >= 0.55
    assert len(r.requests) == 4 + 6
    assert svc.metrics.total("delivered") == 6 and dead_letters(svc) == []
    # Each delivery's attempts are exactly its requests: waiting behind the breaker burnt none.
    for i, d in enumerate(ds):
        assert d.attempts == sum(q.target == f"/{i}" for q in r.requests)
    assert max(d.attempts for d in ds) == 2 and sum(d.attempts == 1 for d in ds) == 2
    get = registry.get_sample_value
    assert get("tykevents_webhook_breaker_state", {"host": host}) == 0
    assert get("tykevents_webhook_breaker_transitions_total", {"host": host, "to": "open"}) == 2
    assert get("tykevents_webhook_breaker_transitions_total", {"host": host, "to": "half_open"}) == 2
    assert get("tykevents_webhook_breaker_transitions_total", {"host": host, "to": "closed"}) == 1
    snap = svc.endpoints.snapshot()[0]
    assert snap["host"] == host and snap["breaker"] == "closed"
    assert snap["attempts"] == 10 and snap["successes"] == 6 and snap["success_rate"] == 0.6
    assert snap["last_error"] == "Request to webhook failed: responseCode 500"


async def test_several_workers_send_one_probe(services: Any, receivers: Any) -> None:
    sw = Switch(500)
    r = await receivers(sw)
    host = f"127.0.0.1:{r.port}"
    svc = await services(max_per_host=8, max_attempts=20, **breaker(failures=2, cool_off=0.4))
    for i in range(8):
        svc.submit(delivery(r.url(f"/{i}")))
    await wait_state(svc, host, "open")
    await asyncio.sleep(0.1)
    assert len(r.requests) == 8  # the attempts in flight when it opened still end
    await r.wait_for(9, timeout=2.0)
    await asyncio.sleep(0.2)
    assert len(r.requests) == 9  # eight workers waited, one probe went (it failed: open again)
    assert sw.times[8] - sw.times[7] >= 0.35
    sw.status = 200
    await wait_idle(svc)
    assert svc.metrics.total("delivered") == 8 and len(r.requests) == 9 + 8
    assert svc.endpoints.state(host) == "closed"


async def test_transport_errors_open_the_breaker_and_4xx_does_not(services: Any, receivers: Any) -> None:
    port = free_port()  # nothing listens: connection refused
    svc = await services(max_per_host=1, max_attempts=1, **breaker(failures=2, cool_off=30))
    url = f"http://user:s3cret@127.0.0.1:{port}/x?token=abc"
    for _ in range(2):
        svc.submit(delivery(url))
    await wait_state(svc, f"127.0.0.1:{port}", "open")
    snap = svc.endpoints.snapshot()[0]
    assert "s3cret" not in snap["last_error"] and "token=abc" not in snap["last_error"]
    assert snap["last_error"] and snap["last_error_at"] == pytest.approx(time.time(), abs=5)
    assert snap["latency_ms"] == {"p50": None, "p90": None, "p99": None}  # no answer, no latency

    r = await receivers(lambda req: 404)
    host = f"127.0.0.1:{r.port}"
    for i in range(5):
        svc.submit(delivery(r.url(f"/{i}")))
    await wait_idle(svc)
    assert len(r.requests) == 5 and svc.endpoints.state(host) == "closed"  # the host answers: up


async def test_drain_dead_letters_deliveries_held_by_an_open_breaker(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: 503)
    host = f"127.0.0.1:{r.port}"
    svc = await services(max_per_host=2, max_attempts=10, **breaker(failures=1, cool_off=60))
    for i in range(4):
        svc.submit(delivery(r.url(f"/{i}")))
    await wait_state(svc, host, "open")
    await asyncio.sleep(0.2)  # the first one's retry is queued behind the breaker too
    sent = len(r.requests)
    started = time.monotonic()
    assert not await svc.drain(0.3)
    assert time.monotonic() - started < 2.0
    assert len(r.requests) == sent and svc.pending == 0
    await asyncio.sleep(0.1)
    letters = dead_letters(svc)
    assert len(letters) == 4
    assert all(x["error"].startswith("not delivered before shutdown") for x in letters)
    assert svc.metrics.total("abandoned") == 4


async def test_rate_limit_holds_a_measured_rate_with_its_burst(services: Any, receivers: Any) -> None:
    arrivals: list[float] = []

    def respond(req: RawRequest) -> int:
        arrivals.append(time.monotonic())
        return 200

    r = await receivers(respond)
    fast = await receivers()
    host = f"127.0.0.1:{r.port}"
    rl = RateLimitSettings(enabled=True, per_second=20, burst=5, hosts={f"127.0.0.1:{fast.port}": 500})
    svc = await services(rate_limit=rl)
    registry = CollectorRegistry()
    registry.register(svc)
    started = time.monotonic()
    for i in range(45):
        svc.submit(delivery(r.url(f"/{i}")))
        svc.submit(delivery(fast.url(f"/{i}")))
    await wait_idle(svc, timeout=10.0)
    assert len(arrivals) == 45 and len(fast.requests) == 45
    assert arrivals[4] - started < 0.5  # the burst goes at once
    for k, t in enumerate(arrivals):  # never ahead of the schedule: 5 at once, then one per 50 ms
        assert t - started >= max(0, k - 4) / 20 - 0.005, k
    took = arrivals[-1] - started
    assert took <= 3.0, took  # the other 40 at 20/s: 2 s (a loaded machine runs a little late)
    assert (registry.get_sample_value("tykevents_webhook_rate_limited_total", {"host": host}) or 0) >= 40
    snap = {e["host"]: e for e in svc.endpoints.snapshot()}
    assert snap[host]["rate_limit"] == {"per_second": 20} and snap[host]["breaker"] == "off"
    assert snap[host]["success_rate"] == 1.0 and snap[host]["latency_ms"]["p99"] is not None


async def test_defaults_change_nothing(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: 500)
    svc = await services(max_per_host=1, max_attempts=8)
    assert svc.settings.breaker.enabled is False and svc.settings.rate_limit.enabled is False
    assert svc.endpoints.guarded is False
    registry = CollectorRegistry()
    registry.register(svc)
    svc.submit(delivery(r.url()))
    await wait_idle(svc)
    assert len(r.requests) == 8  # every retry went: no breaker
    snap = svc.endpoints.snapshot()[0]
    assert snap["breaker"] == "off" and snap["rate_limit"] is None and snap["success_rate"] == 0.0
    assert registry.get_sample_value("tykevents_webhook_breaker_state", {"host": snap["host"]}) is None


def test_breaker_needs_every_probe_and_reopens_on_any() -> None:
    ep = EndpointHealth(BreakerSettings(enabled=True, failures=1, cool_off=0.01, probes=2))
    host, url = "h:80", "http://h/"

    async def run() -> None:
        ep.record(host, url, 500, True, "boom", 0.01)
        assert ep.state(host) in ("open", "half_open")
        t1 = await ep.admit(host)
        t2 = await ep.admit(host)
        assert t1 is not None and t1 == t2
        third = asyncio.ensure_future(ep.admit(host))
        await asyncio.sleep(0.02)
        assert not third.done()  # both probe slots taken
        ep.record(host, url, 200, False, "", 0.01)
        ep.release(host, t1)
        t3 = await asyncio.wait_for(third, 1)  # a slot freed: one more probe
        assert ep.state(host) == "half_open"
        ep.record(host, url, 200, False, "", 0.01)
        assert ep.state(host) == "closed"
        ep.release(host, t2)
        ep.release(host, t3)  # stale tickets: nothing happens
        assert await ep.admit(host) is None
        ep.record(host, url, 502, True, "bad gateway", 0.01)
        await asyncio.sleep(0.02)
        t = await ep.admit(host)
        ep.record(host, url, None, True, "dial tcp: connection refused", 0.0)
        assert ep.state(host) == "open"
        ep.release(host, t)

    asyncio.run(run())


def test_rate_limit_lookup_and_token_bucket() -> None:
    rl = RateLimitSettings(enabled=True, per_second=2, hosts={"a.example:443": 7, "b.example": 0})
    ep = EndpointHealth(rate_limit=rl)
    assert ep.limit_for("a.example:443") == 7 and ep.limit_for("a.example:80") == 2
    assert ep.limit_for("b.example:8080") == 0  # a bare host, any port; 0 = no limit
    assert EndpointHealth(rate_limit=RateLimitSettings(per_second=2)).limit_for("x:1") == 0  # not enabled
    b = TokenBucket(10, 0, now=0.0)  # burst 0 = 1
    assert b.take(0.0) == 0.0 and b.take(0.0) == pytest.approx(0.1) and b.take(0.0) == pytest.approx(0.2)
    assert b.take(1.0) == 0.0


def test_hosts_tracked_are_bounded() -> None:
    ep = EndpointHealth(max_hosts=3)
    for i in range(10):
        ep.record(f"h{i}:80", "http://x/", 200, False, "", 0.001)
    assert [e["host"] for e in ep.snapshot()] == ["h7:80", "h8:80", "h9:80"]


def test_settings_are_strict() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match="breaker"):
        msgspec.convert({"breaker": {"failures": 0}}, WebhookSettings)
    with pytest.raises(msgspec.ValidationError, match="rate_limit"):
        msgspec.convert({"rate_limit": {"hosts": {"a": -1}}}, WebhookSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"breaker": {"cooloff": 1}}, WebhookSettings)


@pytest.mark.e2e
def test_daemon_breaker_holds_a_failing_receiver(run_daemon: Any) -> None:
    sw = Switch(500)
    r = ThreadedReceiver(sw)
    try:
        hook = {
            "handler_name": "eh_web_hook_handler",
            "handler_meta": {"method": "POST", "target_path": r.url("/hook"), "event_timeout": 0},
        }
        webhooks = {
            "timeout": 2.0,
            "backoff_base": 0.05,
            "backoff_max": 0.2,
            "max_attempts": 20,
            "max_per_host": 1,
            "breaker": {"enabled": True, "failures": 2, "cool_off": 1.5},
        }
        d = run_daemon(
            conf={"tykevents": {"webhooks": webhooks}},
            apps={"a.json": classic_api("a", {"AuthFailure": [hook]})},
        )
        host = f"127.0.0.1:{r.receiver.port}"

        def state() -> float | None:
            try:
                return d.metric("tykevents_webhook_breaker_state", host=host)
            except OSError:  # a scrape slower than the harness's 5 s on a loaded machine: ask again
                return None

        d.send_udp([event("AuthFailure", "a", {"Path": f"/{i}"}) for i in range(3)])
        d.wait_until(lambda: state() == 2, 10, "the breaker to open")
        time.sleep(1.0)
        assert len(r.requests) == 2  # held back during the cool-off
        sw.status = 200
        r.wait_for(5, timeout=10)
        d.wait_until(lambda: state() == 0, 10, "it to close")
        assert d.metric("tykevents_webhook_breaker_transitions_total", host=host, to="closed") == 1
        time.sleep(0.3)
        assert len(r.requests) == 5  # 2 failures, then each of the 3 once
    finally:
        r.close()
