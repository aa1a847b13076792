"""The delivery log (memory and a real redis-server), its filters, and dead-letter replay,
purge and retention, all through the real WebhookService and real receivers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aredis

from tests.support.servers import free_port
from tests.webhook.test_service import wait_idle
from tykevents.config import DeliveryLogSettings, WebhookSettings
from tykevents.deliver.webhook.deadletter import FileDeadLetters, RedisDeadLetters
from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.deliverylog import (
    KEY_PREFIX,
    STREAM_KEY,
    DeliveryFilter,
    MemoryDeliveryLog,
    RedisDeliveryLog,
    letter_view,
)
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header

ANY = DeliveryFilter()


def delivery(url: str, handler: str = "h1", api_id: str = "api1", event: str = "AuthFailure") -> Delivery:
    plan = RequestPlan("POST", url, tyk_header({}, JSON, False))
    return Delivery(plan, b'{"event": "x"}', handler=handler, api_id=api_id, event=event)


@pytest.fixture
async def rclient(redis_url: str) -> AsyncIterator[Any]:
    client = aredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_log(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """A log of either kind; the Redis one on the session's real redis-server."""
    made: list[Any] = []
    clients: list[Any] = []

    def make(**kw: Any) -> Any:
        if request.param == "memory":
            log: Any = MemoryDeliveryLog(**kw)
        else:
            url = request.getfixturevalue("redis_url")
            client = aredis.Redis.from_url(url)
            clients.append(client)
            log = RedisDeliveryLog(client, **kw)
        made.append(log)
        return log

    yield make
    for log in made:
        await log.close()
    for c in clients:
        await c.aclose()


async def test_attempts_are_recorded_through_the_service(services: Any, receivers: Any) -> None:
    r = await receivers(lambda req: 500 if req.index == 0 else 200)
    svc = await services()
    d = delivery(f"http://user:hunter2@127.0.0.1:{r.port}/hook?token=sekrit")
    assert svc.submit(d) and d.log_id is not None and len(d.log_id) == 32
    gone = delivery("http://user:hunter2@127.0.0.1:9/refused?token=sekrit", handler="h2")
    svc.submit(gone)
    await wait_idle(svc)
    svc2 = await services(max_attempts=1, log=DeliveryLogSettings(enabled=False))
    assert svc2.log is None

    items = await svc.log.query(ANY)
    assert [i["id"] for i in items] == [gone.log_id, d.log_id]  # newest first
    ok = await svc.log.get(d.log_id)
    assert ok is not None and (ok["outcome"], ok["status"]) == ("delivered", 200)
    assert [i["attempts"] for i in items] == [5, 2]  # listed: a count; get(): each attempt
    assert [(a["n"], a["status"], a["outcome"]) for a in ok["attempts"]] == [
        (1, 500, "retrying"),
        (2, 200, "delivered"),
    ]
    assert all(a["latency_ms"] > 0 for a in ok["attempts"])
    assert ok["url"] == f"http://user:***@127.0.0.1:{r.port}/hook?token=sekrit"
    assert (ok["handler"], ok["api_id"], ok["event"], ok["host"]) == (
        "h1",
        "api1",
        "AuthFailure",
        f"127.0.0.1:{r.port}",
    )
    bad = await svc.log.get(gone.log_id)
    assert bad is not None and bad["outcome"] == "dead_lettered"
    assert [a["outcome"] for a in bad["attempts"]] == ["retrying"] * 4 + ["dead_lettered"]
    assert "connection refused" in bad["error"] and "user:***@" in bad["error"]
    # Secrets: no password anywhere, no query value in error texts.
    text = json.dumps([items, ok, bad])
    assert "hunter2" not in text and "sekrit" not in bad["error"]
    # The dead letter carries the log id: the two join.
    [letter] = await svc.dead_letters.list()
    assert letter["log_id"] == gone.log_id and letter_view(letter)["host"] == "127.0.0.1:9"
    assert "hunter2" not in json.dumps(letter_view(letter))
    assert await svc.log.get("nope") is None


async def test_dropped_and_abandoned_are_recorded(services: Any, receivers: Any) -> None:
    hang = asyncio.Event()

    async def respond(req: Any) -> int:
        await hang.wait()
        return 200

    r = await receivers(respond)
    svc = await services(pending_limit=1)
    first, second = delivery(r.url("/a")), delivery(r.url("/b"))
    assert svc.submit(first) and not svc.submit(second)
    await r.wait_for(1)
    await svc.drain(0.1)
    hang.set()
    dropped, abandoned = await svc.log.get(second.log_id), await svc.log.get(first.log_id)
    assert dropped is not None and dropped["outcome"] == "dropped" and dropped["attempts"][0]["n"] == 0
    assert abandoned is not None and abandoned["outcome"] == "abandoned"
    assert "not delivered before shutdown" in abandoned["error"]


async def test_retention_by_count(make_log: Any) -> None:
    log = make_log(max_entries=5)
    ds = [delivery(f"http://127.0.0.1:9/{i}") for i in range(4)]
    for d in ds:
        log.record_attempt(d, 1, 500, 1.0, "boom", "retrying")
    for d in ds[:2]:
        log.record_attempt(d, 2, 200, 1.0, "", "delivered")
    await log.flush()
    # 6 entries, 5 kept: the oldest (ds[0]'s first attempt) went.
    got = await log.get(ds[0].log_id)
    if isinstance(log, MemoryDeliveryLog):
        assert len(log) == 5 and [a["n"] for a in got["attempts"]] == [2]
    else:
        assert got is not None and got["outcome"] == "delivered"  # the per-delivery key lives max_age
    items = await log.query(ANY)
    assert [i["id"] for i in items] == [ds[1].log_id, ds[0].log_id, ds[3].log_id, ds[2].log_id]
    assert [i["outcome"] for i in items] == ["delivered", "delivered", "retrying", "retrying"]
    assert len(await log.query(ANY, limit=2)) == 2
    for i in range(20):  # everything earlier falls off
        log.record_attempt(delivery(f"http://127.0.0.1:9/x{i}"), 1, 200, 1.0, "", "delivered")
    await log.flush()
    ids = {i["id"] for i in await log.query(ANY, limit=100)}
    assert len(ids) == 5 and not ids & {d.log_id for d in ds}


async def test_retention_by_age(make_log: Any) -> None:
    log = make_log(max_age=1.0)
    old = delivery("http://127.0.0.1:9/old")
    log.record_attempt(old, 1, 200, 1.0, "", "delivered")
    await log.flush()
    await asyncio.sleep(1.1)
    new = delivery("http://127.0.0.1:9/new")
    log.record_attempt(new, 1, 200, 1.0, "", "delivered")
    await log.flush()
    assert [i["id"] for i in await log.query(ANY)] == [new.log_id]
    assert await log.get(old.log_id) is None and await log.get(new.log_id) is not None


@pytest.mark.redis
async def test_redis_log_is_shared_bounded_and_expiring(rclient: Any, redis_url: str) -> None:
    other = aredis.Redis.from_url(redis_url)
    a = RedisDeliveryLog(rclient, max_entries=50, max_age=30)
    b = RedisDeliveryLog(other, max_entries=50, max_age=30)
    try:
        da, db = delivery("http://127.0.0.1:9/a"), delivery("http://127.0.0.1:9/b")
        a.record_attempt(da, 1, 503, 2.0, "x", "retrying")
        await a.flush()
        b.record_attempt(da, 2, 200, 3.0, "", "delivered")  # another instance, the same delivery
        b.record_attempt(db, 1, 200, 3.0, "", "delivered")
        await b.flush()
        for log in (a, b):
            assert [i["id"] for i in await log.query(ANY)] == [db.log_id, da.log_id]
            got = await log.get(str(da.log_id))
            assert got is not None and [x["outcome"] for x in got["attempts"]] == ["retrying", "delivered"]
        assert 0 < await rclient.ttl(f"{KEY_PREFIX}:{da.log_id}") <= 30
        for i in range(400):
            a.record_attempt(delivery(f"http://127.0.0.1:9/{i}"), 1, 200, 1.0, "", "delivered")
        await a.flush()
        assert await rclient.xlen(STREAM_KEY) <= 50 + 100  # MAXLEN ~ trims whole nodes
        assert len(await a.query(ANY, limit=1000)) == 50
        # One Cluster slot for every key (the hash tag).
        assert STREAM_KEY.startswith("{tykevents:deliveries}")
    finally:
        await b.close()
        await other.aclose()
        await a.close()


@pytest.mark.redis
async def test_redis_log_on_a_redis_cluster(tmp_path: Path) -> None:
    """Every key in one slot: the batch script runs on a real three-master cluster."""
    from tests.support.redis_topology import RedisClusterTopology
    from tykevents.config import load_config
    from tykevents.store.redis import redis_client

    with RedisClusterTopology(tmp_path / "cluster") as topo:
        (tmp_path / "tyk.conf").write_text(json.dumps({"storage": topo.storage}))
        client = redis_client(load_config(tmp_path / "tyk.conf"))
        log = RedisDeliveryLog(client, max_entries=100)
        try:
            ds = [delivery(f"http://127.0.0.1:9/{i}") for i in range(30)]
            for d in ds:
                log.record_attempt(d, 1, 200, 1.0, "", "delivered")
            assert await log.flush(10) and log.written == 30 and not log.failing
            assert [i["id"] for i in await log.query(ANY, limit=3)] == [d.log_id for d in ds[:-4:-1]]
            got = await log.get(str(ds[0].log_id))
            assert got is not None and got["attempts"][0]["outcome"] == "delivered"
        finally:
            await log.close()
            await client.aclose()


async def test_redis_down_costs_nothing_but_counted_entries() -> None:
    client = aredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    log = RedisDeliveryLog(client, buffer=10)
    try:
        started = time.perf_counter()
        for i in range(25):
            log.record_attempt(delivery(f"http://127.0.0.1:9/{i}"), 1, 200, 1.0, "", "delivered")
        assert time.perf_counter() - started < 0.05
        async with asyncio.timeout(10):  # redis-py's own retries first
            while not log.failing:
                await asyncio.sleep(0.02)
        assert log.dropped == 15 and log.written == 0
        started = time.perf_counter()
        await log.close()
        assert time.perf_counter() - started < 4
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_service_on_redis_logs_through_the_spool(rclient: Any, services: Any, receivers: Any) -> None:
    r = await receivers()
    svc = await services(redis=rclient)
    assert isinstance(svc.log, RedisDeliveryLog) and svc.spool is not None
    d = delivery(r.url("/hook"))
    await svc.put(d)
    await r.wait_for(1)
    await wait_idle(svc)
    await svc.log.flush()
    got = await svc.log.get(str(d.log_id))  # the spooled copy kept the id
    assert got is not None and got["outcome"] == "delivered"


def test_filter_from_query() -> None:
    f = DeliveryFilter.from_query(
        {"api": "a1", "handler": "h", "outcome": "dead_lettered", "status": "503", "limit": "5", "host": ""}
    )
    assert (f.api, f.handler, f.outcome, f.status, f.host) == ("a1", "h", "dead_lettered", 503, None)
    assert DeliveryFilter.from_query({"since": "2025-01-02T03:04:05Z"}).since == 1735787045.0
    assert DeliveryFilter.from_query({"since": "2025-01-02T04:04:05+01:00"}).since == 1735787045.0
    assert DeliveryFilter.from_query({"until": "1735787045.5"}).until == 1735787045.5
    assert DeliveryFilter.from_query({"until": 17, "status": 200}).until == 17.0
    for bad in (
        {"outcome": "exploded"},
        {"status": "abc"},
        {"status": "42"},
        {"status": True},
        {"since": "yesterday"},
        {"since": "nan"},
        {"hots": "x"},  # a typo must not widen a purge
        {"api": 5},
    ):
        with pytest.raises(ValueError):
            DeliveryFilter.from_query(bad)


def test_filter_match() -> None:
    rec = {
        "api_id": "a1",
        "handler": "h",
        "event": "E",
        "host": "example.com:443",
        "outcome": "delivered",
        "status": 200,
        "created": 100.0,
    }
    assert ANY.match(rec)
    for yes in ({"host": "example.com"}, {"host": "example.com:443"}, {"since": 100, "until": 100}):
        assert DeliveryFilter.from_query(yes).match(rec)
    for no in (
        {"api": "a2"},
        {"handler": "x"},
        {"event": "F"},
        {"host": "example.com:80"},
        {"outcome": "failed"},
        {"status": 500},
        {"since": 101},
        {"until": 99},
    ):
        assert not DeliveryFilter.from_query(no).match(rec)
    assert DeliveryFilter(host="::1").match({"host": "[::1]:8080"})


async def test_query_filters(make_log: Any) -> None:
    log = make_log()
    a = delivery("http://127.0.0.1:9/a", handler="h1", api_id="api1", event="E1")
    b = delivery("http://localhost:8080/b", handler="h2", api_id="api2", event="E2")
    log.record_attempt(a, 1, 500, 1.0, "boom", "dead_lettered")
    log.record_attempt(b, 1, 200, 1.0, "", "delivered")
    await log.flush()

    async def ids(**kw: Any) -> list[str]:
        return [i["id"] for i in await log.query(DeliveryFilter.from_query(kw))]

    assert await ids(api="api1") == [a.log_id]
    assert await ids(handler="h2") == [b.log_id]
    assert await ids(event="E1") == [a.log_id]
    assert await ids(host="localhost") == [b.log_id]
    assert await ids(host="127.0.0.1:9") == [a.log_id]
    assert await ids(outcome="dead_lettered", status=500) == [a.log_id]
    assert await ids(since=time.time() + 60) == []
    assert await ids(until=time.time() + 60) == [b.log_id, a.log_id]


async def test_replay_by_filter_goes_through_retries(services: Any, receivers: Any) -> None:
    healthy = False
    since_healthy: dict[str, int] = {}

    def respond(req: Any) -> int:  # once healthy, each target fails once, then succeeds
        if not healthy:
            return 500
        since_healthy[req.target] = since_healthy.get(req.target, 0) + 1
        return 500 if since_healthy[req.target] == 1 else 200

    r = await receivers(respond)
    svc = await services(max_attempts=2)
    d1, d2 = delivery(r.url("/1"), handler="h1"), delivery(r.url("/2"), handler="h1")
    d3 = delivery(r.url("/3"), handler="h2")
    for d in (d1, d2, d3):
        svc.submit(d)
    await wait_idle(svc)
    assert len(await svc.dead_letters.list()) == 3
    healthy = True  # each replay now needs its retry
    before = len(r.requests)
    assert await svc.replay_dead_letters(filter=DeliveryFilter(handler="h1")) == 2
    assert [x["log_id"] for x in await svc.dead_letters.list()] == [d3.log_id]  # re-queued: gone
    await wait_idle(svc)
    assert len(r.requests) - before == 4
    assert sorted(q.target for q in r.requests[before:]) == ["/1", "/1", "/2", "/2"]
    got = await svc.log.get(d1.log_id)
    assert [(a["n"], a["outcome"]) for a in got["attempts"]] == [
        (1, "retrying"),
        (2, "dead_lettered"),
        (1, "retrying"),
        (2, "delivered"),
    ]
    assert got["outcome"] == "delivered" and await svc.dead_letters.count() == 1
    # By id: the store's id or the log id.
    assert await svc.replay_dead_letters(ids=["unknown"]) == 0
    assert await svc.replay_dead_letters(ids=[d3.log_id]) == 1
    await wait_idle(svc)
    assert (await svc.log.get(d3.log_id))["outcome"] == "delivered"
    assert await svc.dead_letters.list() == []


@pytest.mark.redis
async def test_replay_and_purge_on_redis(rclient: Any, services: Any, receivers: Any) -> None:
    healthy = False
    r = await receivers(lambda req: 200 if healthy else 500)
    svc = await services(redis=rclient, max_attempts=1)
    ds = [delivery(r.url(f"/{i}"), event="E1" if i < 2 else "E2") for i in range(4)]
    for d in ds:
        await svc.put(d)
    async with asyncio.timeout(5):
        while await svc.dead_letters.count() < 4:
            await asyncio.sleep(0.02)
    healthy = True
    assert await svc.replay_dead_letters(filter=DeliveryFilter(event="E1")) == 2
    letters = await svc.dead_letters.list()
    assert sorted(x["log_id"] for x in letters) == sorted(str(d.log_id) for d in ds[2:])
    async with asyncio.timeout(5):
        while (await svc.log.query(DeliveryFilter(outcome="delivered"))).__len__() < 2:
            await svc.log.flush()
            await asyncio.sleep(0.02)
    assert await svc.purge_dead_letters(ids=[letters[0]["id"]]) == 1
    assert await svc.purge_dead_letters(filter=DeliveryFilter(event="E2")) == 1
    assert await svc.dead_letters.count() == 0


async def test_purge(services: Any) -> None:
    svc = await services(max_attempts=1)
    for i in range(3):
        svc.submit(delivery(f"http://127.0.0.1:9/{i}", handler="h1" if i else "h2"))
    await wait_idle(svc)
    with pytest.raises(ValueError):
        await svc.purge_dead_letters()  # nothing named is not everything
    assert await svc.purge_dead_letters(filter=DeliveryFilter(handler="nobody")) == 0
    assert await svc.purge_dead_letters(filter=DeliveryFilter(handler="h1")) == 2
    [left] = await svc.dead_letters.list()
    assert left["handler"] == "h2"
    assert await svc.purge_dead_letters(ids=[left["id"]]) == 1
    assert await svc.dead_letters.count() == 0


def _old_records(n: int, age: float) -> list[dict[str, Any]]:
    recs = []
    for i in range(n):
        rec = delivery(f"http://127.0.0.1:9/{i}").to_record()
        rec["time"] -= age
        recs.append(rec)
    return recs


async def test_file_dead_letters_are_kept_within_bounds(tmp_path: Path) -> None:
    store = FileDeadLetters(tmp_path / "dl.jsonl", max_entries=5, max_age=60)
    old = _old_records(3, 120)
    await store.add(old)
    assert await store.list() == []  # the first write compacts: all three were expired
    fresh = _old_records(30, 0)
    for rec in fresh:
        await store.add([rec])
    assert await store.count() <= 5 + 10  # compacted when a tenth (at least 10) over the bound
    assert await store.trim() > 0
    assert [r["id"] for r in await store.list()] == [r["id"] for r in fresh[-5:]]
    assert store.expired == 3 + 30 - 5  # every removal counted (tykevents_webhook_dead_letters_expired)
    assert (tmp_path / "dl.jsonl").stat().st_mode & 0o777 == 0o600


async def test_service_compacts_the_file_at_start(tmp_path: Path, services: Any) -> None:
    path = tmp_path / "dl.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _old_records(4, 1000) + _old_records(12, 0)))
    svc = await services(log=DeliveryLogSettings(max_entries=10, max_age=500))
    async with asyncio.timeout(5):
        while await svc.dead_letters.count() != 10:
            await asyncio.sleep(0.02)
    assert svc.keeper.stored["primary"] == 10
    assert svc.dead_letters.expired == 6


@pytest.mark.redis
async def test_redis_dead_letters_are_kept_within_bounds(rclient: Any) -> None:
    store = RedisDeadLetters(rclient, key="dl-test", max_entries=10, max_age=1)
    await store.add(_old_records(300, 0))
    assert await store.count() <= 10 + 100  # MAXLEN ~
    await asyncio.sleep(1.1)
    assert await store.trim() > 0
    assert await store.count() == 0  # every entry older than max_age (stream ids are times)
    assert store.expired == 300  # what the bounds removed, at add and at trim, is counted


def test_settings() -> None:
    s = WebhookSettings()
    assert (s.log.enabled, s.log.max_entries, s.log.max_age) == (True, 10000, 86400.0)
    with pytest.raises(ValueError):
        DeliveryLogSettings(max_entries=0)
    with pytest.raises(ValueError):
        DeliveryLogSettings(max_age=0)
