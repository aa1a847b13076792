"""Delivery against real receivers that misbehave: retries, backoff, dead letters, limits,
drain. None of them may hold up deliveries to other hosts."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

from tests.support.servers import free_port
from tests.webhook.receiver import Action, RawRequest, response
from tykevents.deliver.webhook.client import parse_retry_after
from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header


def delivery(
    url: str,
    body: bytes = b'{"event": "AuthFailure"}',
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Delivery:
    plan = RequestPlan(method, url, tyk_header(headers or {}, JSON, False))
    return Delivery(plan, body, handler="h1", api_id="api1")


def dead_letters(svc: Any) -> list[dict[str, Any]]:
    path = Path(svc.dead_letters.path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def wait_idle(svc: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while svc.pending or svc.held:  # held: the spool's backlog, dead letters not stored yet
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let the dead-letter writer finish


async def test_500_then_200_is_delivered_once(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: 500 if req.index == 0 else 200)
    svc = await services()
    assert svc.submit(delivery(r.url("/hook")))
    await wait_idle(svc)
    assert len(r.requests) == 2 and r.requests[0].body == r.requests[1].body
    assert svc.metrics.total("delivered") == 1 and svc.metrics.total("retried") == 1
    assert dead_letters(svc) == []


async def test_429_retry_after_is_honoured(services: Any, receivers: Any) -> None:
    arrivals: list[float] = []

    def respond(req: RawRequest) -> Any:
        arrivals.append(time.monotonic())
        return response(429, {"Retry-After": "1"}) if req.index == 0 else 200

    r = await receivers(respond)
    svc = await services()
    svc.submit(delivery(r.url()))
    await wait_idle(svc)
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.95


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


async def test_backoff_doubles_with_jitter_and_cap(services: Any) -> None:
    svc = await services(backoff_base=1.0, backoff_max=8.0, retry_after_max=20.0)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [svc.backoff(attempt, None) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
    assert svc.backoff(1, 15.0) == 15.0 and svc.backoff(1, 99.0) == 20.0


async def test_refused_connection_is_retried_then_dead_lettered(services: Any) -> None:
    svc = await services(max_attempts=3)
    port = free_port()
    url = f"http://user:pw@127.0.0.1:{port}/hook?x=1"
    svc.submit(delivery(url, b"\x00binary\xff", headers={"X-Secret": "s"}))
    await wait_idle(svc)
    [dl] = dead_letters(svc)
    assert dl["attempts"] == 3 and dl["status"] is None
    # Go's text with the URL redacted: no password, no query (the error is logged and listed)
    assert dl["error"].endswith('/hook?***": dial tcp 127.0.0.1:%d: connect: connection refused' % port)
    assert (dl["method"], dl["url"], dl["handler"], dl["api_id"]) == ("POST", url, "h1", "api1")
    assert base64.b64decode(dl["body"]) == b"\x00binary\xff"
    assert ["X-Secret", ["s"]] in dl["headers"]
    assert "pw" not in dl["error"]
    assert Path(svc.dead_letters.path).stat().st_mode & 0o777 == 0o600
    assert svc.metrics.total("failed") == 1 and svc.metrics.total("retried") == 2


async def test_hanging_target_times_out_and_does_not_block_others(services: Any, receivers: Any) -> None:
    hang = await receivers(lambda req: Action("hang"))
    good = await receivers()
    svc = await services(timeout=0.3, max_attempts=2)
    svc.submit(delivery(hang.url()))
    await hang.wait_for(1)
    started = time.monotonic()
    for i in range(20):
        svc.submit(delivery(good.url(f"/{i}")))
    await good.wait_for(20, timeout=2)
    assert time.monotonic() - started < 0.3  # served while the other host hangs
    await wait_idle(svc)
    [dl] = dead_letters(svc)
    assert dl["attempts"] == 2 and "Client.Timeout exceeded" in dl["error"]


async def test_huge_response_body_is_not_buffered(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: Action("huge", size=1 << 30, stream=32 << 20) if req.index == 0 else 200)
    svc = await services(body_read_limit=65536)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    svc.submit(delivery(r.url()))
    await wait_idle(svc)
    assert time.monotonic() - started < 2
    assert svc.metrics.total("delivered") == 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 24 * 1024  # KiB
    assert r.streamed < 32 << 20  # the receiver was stopped long before 32 MiB
    svc.submit(delivery(r.url()))  # the cut connection was not reused
    await wait_idle(svc)
    assert r.connections == 2


async def test_redirects_forever_stop_after_ten(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: response(302, {"Location": f"/loop{req.index}"}))
    svc = await services()
    svc.submit(delivery(r.url("/start")))
    await wait_idle(svc)
    assert len(r.requests) == 10
    [dl] = dead_letters(svc)
    assert dl["attempts"] == 1 and dl["error"].endswith("stopped after 10 redirects")


async def test_redirect_methods_and_headers(services: Any, receivers: Any) -> None:
    def respond(req: RawRequest) -> Any:
        if req.target == "/a":
            return response(303, {"Location": "/b"})
        if req.target == "/b":
            return response(307, {"Location": "http://localhost:%d/c" % r.port})
        return 200

    r = await receivers(respond)
    svc = await services()
    svc.submit(delivery(f"http://u:p@127.0.0.1:{r.port}/a", b"body", headers={"Authorization": "t"}))
    await wait_idle(svc)
    a, b, c = r.requests
    assert (a.method, a.body, a.header("Authorization")) == ("POST", b"body", "t")
    # 303: GET without a body; Content-Type stays (Go copies the first request's headers).
    assert (b.method, b.body, b.header("Content-Length"), b.header("Content-Type")) == (
        "GET",
        b"",
        None,
        JSON,
    )
    assert b.header("Referer") == f"http://127.0.0.1:{r.port}/a" and b.header("Authorization") == "t"
    # 307 to another domain: method and (empty) body kept, credentials dropped.
    assert c.method == "GET" and c.header("Authorization") is None
    assert c.header("Host") == f"localhost:{r.port}"


async def test_307_keeps_post_and_body(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: response(308, {"Location": "/next"}) if req.index == 0 else 200)
    svc = await services()
    svc.submit(delivery(r.url("/first"), b"xyz"))
    await wait_idle(svc)
    assert [(q.method, q.target, q.body) for q in r.requests] == [
        ("POST", "/first", b"xyz"),
        ("POST", "/next", b"xyz"),
    ]


async def test_client_errors_are_not_retried(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: 404)
    svc = await services()
    svc.submit(delivery(r.url()))
    await wait_idle(svc)
    [dl] = dead_letters(svc)
    assert len(r.requests) == 1 and dl["status"] == 404 and dl["attempts"] == 1


async def test_persistent_5xx_gives_up_after_max_attempts(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: 503)
    svc = await services(max_attempts=4)
    svc.submit(delivery(r.url()))
    await wait_idle(svc)
    [dl] = dead_letters(svc)
    assert len(r.requests) == 4 and dl["status"] == 503 and dl["attempts"] == 4


async def test_unsendable_request_is_not_retried(services: Any) -> None:
    svc = await services()
    svc.submit(delivery("http://127.0.0.1:9/x", headers={"X-Bad": "a\nb"}))
    svc.submit(delivery("relative/path"))
    await wait_idle(svc)
    errors = sorted(d["error"] for d in dead_letters(svc))
    assert errors == [
        'Post "http://127.0.0.1:9/x": net/http: invalid header field value for "X-Bad"',
        'Post "relative/path": unsupported protocol scheme ""',
    ]


async def test_pending_limit_drops_and_counts(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: Action("hang"))
    svc = await services(pending_limit=2)
    assert svc.submit(delivery(r.url())) and svc.submit(delivery(r.url()))
    assert svc.full and not svc.submit(delivery(r.url()))
    assert svc.metrics.total("dropped") == 1 and svc.dropped == 1


async def test_per_host_concurrency_cap(services: Any, receivers: Any) -> None:
    active = peak = 0

    async def respond(req: RawRequest) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return 200

    r = await receivers(respond)
    svc = await services(max_per_host=3)
    for _ in range(12):
        svc.submit(delivery(r.url()))
    await wait_idle(svc)
    assert len(r.requests) == 12 and peak == 3


async def test_drain_finishes_accepted_work(services: Any, receivers: Any) -> None:
    async def slow(req: RawRequest) -> int:
        await asyncio.sleep(0.1)
        return 500 if req.index == 0 else 200

    r = await receivers(slow)
    svc = await services()
    for _ in range(5):
        svc.submit(delivery(r.url()))
    assert await svc.drain(5.0) is True
    assert svc.metrics.total("delivered") == 5 and dead_letters(svc) == []


async def test_drain_timeout_dead_letters_the_rest(services: Any, receivers: Any) -> None:
    hang = await receivers(lambda req: Action("hang"))
    svc = await services(timeout=30.0, backoff_base=10.0, backoff_max=10.0)
    svc.submit(delivery(hang.url("/1")))
    svc.submit(delivery(f"http://127.0.0.1:{free_port()}/retrying"))  # waits for a retry
    await hang.wait_for(1)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert await svc.drain(0.3) is False
    assert time.monotonic() - started < 1.0
    dls = dead_letters(svc)
    assert len(dls) == 2 and all(d["error"].startswith("not delivered before shutdown") for d in dls)
    assert svc.pending == 0


async def test_sender_exception_gives_the_delivery_up(services: Any, receivers: Any, caplog: Any) -> None:
    """An exception the sender does not turn into a Result (here the client's transport,
    closed under it) must not end the worker nor leave the delivery counted as pending."""
    r = await receivers()
    svc = await services()
    transport = svc.sender.client.transport
    assert transport is not None
    await transport.close()  # the transport dies under the service
    url = f"http://u:pw-1@127.0.0.1:{r.port}/hook?api_key=qk-1"
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert svc.submit(delivery(url))
        await wait_idle(svc, timeout=2)
    assert svc.pending == 0 and not svc.full and svc._lanes == {}
    dls = dead_letters(svc)
    closed = "internal error: RuntimeError: the transport is closed"
    assert len(dls) == 3 and all(d["error"] == closed for d in dls)
    assert svc.metrics.total("failed") == 3 and r.requests == []
    shown = "\n".join(rec.getMessage() for rec in caplog.records if rec.levelno >= logging.INFO)
    assert "internal error: RuntimeError: the transport is closed" in shown
    assert "pw-1" not in shown and "qk-1" not in shown
    started = time.monotonic()
    assert await svc.drain(5.0) is True and time.monotonic() - started < 1  # nothing left to wait for


async def test_put_waits_for_room_and_drops_nothing(services: Any, receivers: Any) -> None:
    release = asyncio.Event()

    async def held(req: RawRequest) -> int:
        await release.wait()
        return 200

    r = await receivers(held)
    svc = await services(pending_limit=3)
    puts = [asyncio.create_task(svc.put(delivery(r.url(f"/{i}")))) for i in range(10)]
    await asyncio.sleep(0.2)
    assert sum(t.done() for t in puts) == 3 and svc.pending == 3 and svc.dropped == 0
    release.set()
    await asyncio.wait_for(asyncio.gather(*puts), 5)
    await wait_idle(svc)
    assert sorted(q.target for q in r.requests) == sorted(f"/{i}" for i in range(10))
    assert svc.metrics.total("delivered") == 10


async def test_drain_lets_waiting_puts_through_as_dead_letters(services: Any, receivers: Any) -> None:
    hang = await receivers(lambda req: Action("hang"))
    svc = await services(pending_limit=1, timeout=30.0)
    await svc.put(delivery(hang.url("/taken")))
    waiting = asyncio.create_task(svc.put(delivery(hang.url("/waiting"))))
    await hang.wait_for(1)
    assert not waiting.done()
    assert await svc.drain(0.2) is False
    assert waiting.done()  # released before the lanes stop, not cancelled
    await svc.close()
    urls = sorted(d["url"] for d in dead_letters(svc))
    assert urls == [hang.url("/taken"), hang.url("/waiting")] and svc.lost == 0


async def test_a_failing_dead_letter_file_falls_back(tmp_path: Path, services: Any) -> None:
    (tmp_path / "blocker").write_text("")
    svc = await services(max_attempts=1, dead_letter_path=str(tmp_path / "blocker" / "dl.jsonl"))
    assert svc.fallback_letters.path == tmp_path / "var" / "dead-letter.fallback.jsonl"
    svc.submit(delivery("http://127.0.0.1:9/refused"))
    await wait_idle(svc)
    async with asyncio.timeout(5):
        while svc.keeper.fallbacks < 1:
            await asyncio.sleep(0.01)
    [rec] = await svc.fallback_letters.list()
    assert rec["url"] == "http://127.0.0.1:9/refused" and svc.keeper.stored["fallback"] == 1
    assert svc.ready()[0] is True and svc.lost == 0


async def test_dead_letters_stored_nowhere_wait_then_count_as_lost(tmp_path: Path, services: Any) -> None:
    (tmp_path / "blocker").write_text("")
    svc = await services(
        max_attempts=1,
        pending_limit=3,
        dead_letter_path=str(tmp_path / "blocker" / "dl.jsonl"),
        dead_letter_fallback=str(tmp_path / "blocker" / "fb.jsonl"),
    )
    for i in range(2):
        svc.submit(delivery(f"http://127.0.0.1:9/{i}"))
    async with asyncio.timeout(5):
        while len(svc.keeper.waiting) < 2 or svc.pending or not svc.keeper.failing:
            await asyncio.sleep(0.01)
    ok, detail = svc.ready()
    assert not ok and "dead-letter stores failing" in detail["problems"][0]
    assert svc.held == 2  # kept in memory, against the pending limit
    svc.submit(delivery("http://127.0.0.1:9/2"))
    assert svc.full and not svc.submit(delivery("http://127.0.0.1:9/3"))  # memory stays bounded
    started = time.monotonic()
    await svc.close()
    assert svc.lost == 3 and time.monotonic() - started < 3
