"""The monitor with a real redis-server: sessions in Tyk's layout, and fired state shared by
two instances (two MonitorService objects, each with its own ThresholdTable)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.support.servers import free_port
from tykevents.monitor import rule as m
from tykevents.monitor.service import SHARED_PREFIX
from tykevents.monitor.shared import EARLIER, FIRE, FIRED, SharedLevels, stored_levels
from tykevents.store.sessions import AsyncRedisSessionStore

from .conftest import HOUR, monitor_conf, record, session
from .holdproxy import HoldProxy
from .test_service import MONITOR_TEMPLATE_BODY, limits_sent

pytestmark = pytest.mark.redis


def dead_redis() -> Any:
    """A client for a port nothing listens on (no retries: redis-py's default takes ~4 s)."""
    return aredis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


@pytest.fixture
async def aredis_client(redis_url: str) -> AsyncIterator[Callable[[], Any]]:
    made: list[Any] = []

    def make() -> Any:
        c = aredis.Redis.from_url(redis_url)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


@pytest.mark.parametrize("hash_keys, stored_as", [(False, "abc"), (True, "b3dd93fa")])
async def test_key_only_records_read_tyks_redis_layout(
    make_rig, receiver, redis_url, aredis_client, hash_keys, stored_as
) -> None:
    sync = redis.Redis.from_url(redis_url)
    # As a Tyk gateway leaves them: the session JSON under apikey-<key or murmur32 hash>,
    # the used quota in the counter quota-<key or hash>, the org session under orgkey.<org>.
    sync.set(f"apikey-{stored_as}", json.dumps(session(10, limits=[50, 80])), ex=600)
    sync.set("orgkey.org1", json.dumps(session(1, org="org1")))
    store = AsyncRedisSessionStore(aredis_client(), hash_keys=hash_keys)
    rig = await make_rig(monitor_conf(receiver.url(), limit=90), sessions=store, session_ttl=0.0)
    for used in (3, 5, 6, 8):
        sync.set(f"quota-{stored_as}", used)
        rig.feed(record(Key="abc"))
        await rig.settle()
    rig.feed(record("org_quota", OrgID="org1"), record(Key="nope"), record("org_quota", OrgID="nope"))
    await rig.settle()
    assert limits_sent(receiver) == ["50", "80", "90"]
    assert b'"key": "abc"' in receiver.requests[0].body and b'"key": ""' in receiver.requests[2].body
    assert rig.svc.stats.rejected == {m.UNKNOWN_KEY: 2}
    sync.close()


async def test_store_failure_is_a_counted_rejection(make_rig, receiver) -> None:
    dead = dead_redis()
    rig = await make_rig(monitor_conf(receiver.url(), limit=80), sessions=AsyncRedisSessionStore(dead))
    rig.feed(record(Key="abc"))
    await rig.settle()
    assert rig.svc.stats.rejected == {m.STORE_ERROR: 1} and receiver.requests == []
    await dead.aclose()


# -- two instances, one Redis ------------------------------------------------------------------------


async def pair(make_rig, receiver, aredis_client, table_cls, **conf: Any):
    rigs = []
    for name in ("a", "b"):
        rigs.append(
            await make_rig(
                monitor_conf(receiver.url(), **conf), name=name, table=table_cls(), redis=aredis_client()
            )
        )
    return rigs


async def settle(*rigs) -> None:
    await asyncio.gather(*(r.settle() for r in rigs))


async def test_two_instances_never_fire_a_level_twice(make_rig, receiver, aredis_client, table_cls) -> None:
    a, b = await pair(make_rig, receiver, aredis_client, table_cls)
    renews = int(time.time()) + HOUR
    rec = lambda rem, r=renews: record(Key="key1", Session=session(rem, renews=r, limits=[50, 80]))  # noqa: E731
    a.feed(rec(5))
    await settle(a)
    b.feed(rec(4))  # b's own table would fire 50: Redis says a fired it
    await settle(b)
    assert limits_sent(receiver) == ["50"]
    assert (b.svc.stats.fired, b.svc.stats.shared_suppressed) == (1, 1)
    b.feed(rec(4))  # and b now knows it locally: no second Redis round trip
    await settle(b)
    assert b.svc.stats.fired == 1
    b.feed(rec(1))
    a.feed(rec(0))  # a: 80 crossed too, but b fired it
    await settle(a, b)
    assert limits_sent(receiver) == ["50", "80"]
    # The same record to both at once: one fire.
    a.feed(rec(9, renews + HOUR))
    b.feed(rec(9, renews + HOUR))
    a.feed(rec(2, renews + HOUR + 1))  # quota_renews jitters by 1 s within one period
    b.feed(rec(2, renews + HOUR))
    await settle(a, b)
    assert limits_sent(receiver) == ["50", "80", "80"]
    assert receiver.requests[0].body == MONITOR_TEMPLATE_BODY.replace(b'"80"', b'"50"')


async def test_two_instances_many_keys_interleaved(make_rig, receiver, aredis_client, table_cls) -> None:
    a, b = await pair(make_rig, receiver, aredis_client, table_cls, limit=90)
    renews = int(time.time()) + HOUR
    rng = random.Random(7)
    keys = [f"k{i}" for i in range(60)]
    for step in range(11):  # usage 0 % .. 100 % for every key, each record to a random instance
        recs = [
            (k, record(Key=k, Session=session(10 - step, renews=renews, limits=[25, 50, 75]))) for k in keys
        ]
        rng.shuffle(recs)
        for _, r in recs:
            (a if rng.random() < 0.5 else b).feed(r)
            if rng.random() < 0.3:
                (b if rng.random() < 0.5 else a).feed(r)  # duplicates to the other one
        await settle(a, b)
    got: dict[str, list[str]] = {}
    for req in receiver.requests:
        key = re.search(rb'"key": "(\w+)"', req.body).group(1).decode()
        got.setdefault(key, []).append(re.search(rb'"trigger_limit": "(\d+)"', req.body).group(1).decode())
    # Every level exactly once per key. Records arrive in steps of 10 %: 25 % is crossed at
    # 30 %, 50 at 50, 75 at 80, the global 90 at 90.
    assert {k: sorted(v, key=int) for k, v in got.items()} == {k: ["25", "50", "75", "90"] for k in keys}
    assert a.svc.stats.shared_suppressed + b.svc.stats.shared_suppressed > 0


async def test_non_renewing_quota_shared_and_rearmed_after_a_reset(
    make_rig, receiver, aredis_client, table_cls, redis_url
) -> None:
    a, b = await pair(make_rig, receiver, aredis_client, table_cls)
    rec = lambda rem: record(Key="key1", Session=session(rem, rate=0, renews=0, limits=[50, 80]))  # noqa: E731
    a.feed(rec(1))
    await settle(a)
    b.feed(rec(0))
    await settle(b)
    assert limits_sent(receiver) == ["80"]
    sync = redis.Redis.from_url(redis_url)
    (name,) = sync.keys(SHARED_PREFIX + "*")
    assert re.fullmatch(rb"tykevents:monitor:[0-9a-f]{16}", name)
    assert sync.get(name) == b"0 80.0" and 0 < sync.ttl(name) <= 7 * 86400
    sync.close()
    # An admin reset the quota; b (which never fired) sees 50 % first, then a sees 60 %.
    b.feed(rec(5))
    await settle(b)
    a.feed(rec(4))
    await settle(a)
    assert limits_sent(receiver) == ["80", "50"]


async def test_renewing_state_expires_with_its_period(
    make_rig, receiver, aredis_client, table_cls, redis_url
) -> None:
    (a,) = [await make_rig(monitor_conf(receiver.url()), table=table_cls(), redis=aredis_client())]
    renews = int(time.time()) + 100
    a.feed(record(Key="key1", Session=session(5, renews=renews, limits=[50])))
    await settle(a)
    sync = redis.Redis.from_url(redis_url)
    (name,) = sync.keys(SHARED_PREFIX + "*")
    assert sync.get(name) == f"{renews} 50.0".encode()
    assert 100 < sync.ttl(name) <= 100 + 60 + 1  # the rest of the period plus a minute
    sync.close()


async def test_redis_down_fires_anyway(make_rig, receiver, table_cls) -> None:
    dead = dead_redis()
    rig = await make_rig(monitor_conf(receiver.url(), limit=80), table=table_cls(), redis=dead)
    rig.feed(record(Key="key1", Session=session(2)))
    await rig.settle()
    assert len(receiver.requests) == 1 and rig.svc.stats.shared_errors == 1
    await dead.aclose()


async def test_shared_claims_keep_the_set_of_levels_fired_in_a_period(aredis_client, redis_url) -> None:
    """The Lua claim alone: a level is refused only when that very level fired in the period,
    whatever order the claims arrive in."""
    shared, sync = SharedLevels(aredis_client()), redis.Redis.from_url(redis_url)
    now = time.time()
    renews = int(now) + HOUR
    key = f"{SHARED_PREFIX}{7:016x}"

    async def claim(level: float, period: int = renews, usage: float = 99.0) -> int:
        return (await shared.claim(7, period, period or now + 1, level, usage, now))[0]

    assert [await claim(x) for x in (80.0, 50.0, 90.0)] == [FIRE, FIRE, FIRE]  # any order
    assert [await claim(x) for x in (50.0, 80.0, 90.0)] == [FIRED, FIRED, FIRED]
    assert stored_levels(sync.get(key).decode()) == (renews, [80.0, 50.0, 90.0])
    assert await claim(33.3, renews + 1) == FIRE  # quota_renews jitter: the same period
    assert await claim(33.3, renews - 1) == FIRED
    assert stored_levels(sync.get(key).decode()) == (renews, [80.0, 50.0, 90.0, 33.3])
    assert await claim(50.0, renews + 2) == FIRE  # a new period re-arms every level
    assert await claim(80.0, renews) == EARLIER  # a late record of the previous period
    assert sync.get(key) == f"{renews + 2} 50.0".encode()
    sync.set(key, f"{renews + 2} 80.0")  # a value written by an earlier tykevents
    assert [await claim(x, renews + 2) for x in (80.0, 50.0)] == [FIRED, FIRE]
    # Non-renewing (period 0): the set holds until usage falls below its highest level.
    assert [await claim(x, 0, 85.0) for x in (80.0, 50.0, 80.0)] == [FIRE, FIRE, FIRED]
    assert await claim(50.0, 0, 60.0) == FIRE and sync.get(key) == b"0 50.0"
    sync.close()


async def test_a_claim_overtaken_by_a_higher_one_still_fires_its_level(
    make_rig, receiver, redis_server, redis_url, table_cls
) -> None:
    """Both instances get every record, in order; the claims of the 50 % record reach Redis
    after those of the 80 % record (a slow first connection, two lane workers). 50 was never
    fired by anyone: it must fire, once, and so must 80 and 90. (redis_url: an empty Redis.)"""
    proxy = await HoldProxy(redis_server.port).start()
    clients = [aredis.Redis.from_url(proxy.url) for _ in range(2)]
    try:
        a, b = [
            await make_rig(monitor_conf(receiver.url(), limit=80), name=n, table=table_cls(), redis=c)
            for n, c in zip("ab", clients, strict=True)
        ]
        renews = int(time.time()) + HOUR
        rec = lambda rem: record(Key="key1", Session=session(rem, renews=renews, limits=[50, 90]))  # noqa: E731
        proxy.holding = True
        for rig in (a, b):
            rig.feed(rec(5))  # 50 %: both fire 50 locally; their claims wait in the proxy
        await proxy.wait_held(2)
        proxy.holding = False
        for rig in (b, a):
            rig.feed(rec(2))  # 80 %: claimed at once, on second connections
        await receiver.wait_for(1)
        for rig in (a, b):
            rig.feed(rec(1))  # 90 %
        await receiver.wait_for(2)
        proxy.release()
        await settle(a, b)
        assert sorted(limits_sent(receiver), key=int) == ["50", "80", "90"]
        assert a.svc.stats.fired == b.svc.stats.fired == 3
        assert a.svc.stats.shared_suppressed + b.svc.stats.shared_suppressed == 3
    finally:
        for c in clients:
            await c.aclose()
        await proxy.close()
