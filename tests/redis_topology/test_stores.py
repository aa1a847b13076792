"""Every Redis store tykevents keeps, on a Redis Cluster, a Sentinel group and a TLS-only Redis,
through the clients tykevents makes from tyk.conf `storage` (tykevents/store/redis.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from redis.crc import key_slot

from tests.webhook.test_service import delivery
from tykevents.deliver.webhook.deadletter import RedisDeadLetters
from tykevents.deliver.webhook.spool import EPOCH, GROUP, STREAM, Spool, epoch_key
from tykevents.monitor.shared import FIRE, FIRED, SharedLevels
from tykevents.store.cooldown import KEY_PREFIX, RedisCooldown
from tykevents.store.keyhash import hash_token
from tykevents.store.sessions import AsyncRedisSessionStore, RedisSessionStore

pytestmark = pytest.mark.redis

TOKEN = "5e9d9544a1dcd60001d0ed20c0ffee"
SESSION = {
    "org_id": "org-1",
    "quota_max": 100,
    "quota_remaining": 5,
    "quota_renews": 1,
    "quota_renewal_rate": 3600,
    "expires": 0,
    "access_rights": {"api-2": {"api_id": "api-2", "allowance_scope": "shared", "limit": {"quota_max": 50}}},
    "last_updated": "1",
}


async def test_sessions_in_tyks_layout(clients: tuple[Any, Any]) -> None:
    aio, sync = clients
    h = hash_token(TOKEN)
    # What a gateway wrote: the session, its counters (other keys, other cluster slots).
    sync.set("apikey-" + h, orjson.dumps(SESSION))
    sync.set("quota-" + h, b"30")
    sync.set("quota-shared-" + h, b"10")
    sync.set("orgkey.org-1", orjson.dumps({"org_id": "org-1", "quota_max": 9}))
    astore, sstore = AsyncRedisSessionStore(aio, hash_keys=True), RedisSessionStore(sync, hash_keys=True)
    detail = await astore.get_session_detail(TOKEN)
    assert detail is not None and detail["quota_remaining"] == 70
    assert detail["access_rights"]["api-2"]["limit"]["quota_remaining"] == 40
    assert sstore.get_session_detail(TOKEN) == detail
    assert await astore.get_org_session("org-1") == {"org_id": "org-1", "quota_max": 9}
    # A write resets the counters (keys in several slots, deleted one by one) and keeps the TTL.
    sync.expire("apikey-" + h, 600)
    sstore.set_session(TOKEN, {**SESSION, "quota_remaining": 100, "last_updated": "2"})
    assert sync.get("quota-" + h) is None and sync.get("quota-shared-" + h) is None
    assert 0 < sync.ttl("apikey-" + h) <= 600
    await astore.set_session(TOKEN, {**SESSION, "quota_max": 7, "last_updated": "3"})
    assert orjson.loads(sync.get("apikey-" + h))["quota_max"] == 7


async def test_cooldowns_hold_across_instances(clients: tuple[Any, Any]) -> None:
    aio, sync = clients
    a, b = RedisCooldown(aio), RedisCooldown(aio)
    digest = "0123456789abcdef0123456789abcdef"
    assert await a.acquire(digest, 60) is True
    assert await b.acquire(digest, 60) is False
    assert sync.get(KEY_PREFIX + digest) == b"1" and 0 < sync.ttl(KEY_PREFIX + digest) <= 60
    await b.release(digest)
    assert await b.acquire(digest, 60) is True
    assert a.errors == b.errors == 0
    # Checks made together go as one batch; on a cluster their keys span many slots (and nodes).
    digests = [f"{i:032x}" for i in range(100)]
    fired = await asyncio.gather(*(a.acquire(d, 60) for d in digests), *(b.acquire(d, 60) for d in digests))
    assert fired.count(True) == 100 and all(fired[i] != fired[100 + i] for i in range(100))
    assert len({key_slot((KEY_PREFIX + d).encode()) for d in digests}) > 50
    assert all(sync.get(KEY_PREFIX + d) == b"1" for d in digests)
    assert a.errors == b.errors == 0


async def test_each_monitor_level_fires_once(clients: tuple[Any, Any]) -> None:
    aio, _ = clients
    a, b = SharedLevels(aio), SharedLevels(aio)
    now = time.time()
    renews = now + 3600
    period = int(renews)
    assert await a.claim(7, period, renews, 50.0, 55.0, now) == (FIRE, None)
    assert (await b.claim(7, period, renews, 50.0, 56.0, now))[0] == FIRED
    assert await b.claim(7, period, renews, 80.0, 81.0, now) == (FIRE, None)
    # Many keys, claimed concurrently by both: every (key, level) exactly once.
    results = await asyncio.gather(
        *(x.claim(k, period, renews, 90.0, 95.0, now) for k in range(20) for x in (a, b))
    )
    assert sum(r[0] == FIRE for r in results) == 20


async def test_dead_letters(clients: tuple[Any, Any]) -> None:
    aio, _ = clients
    store = RedisDeadLetters(aio)
    await store.add([{"n": i} for i in range(5)])
    listed = await store.list()
    assert [r["n"] for r in listed] == list(range(5)) and await store.count() == 5
    ids = [r["id"] for r in listed[:2]]
    assert await store.remove(ids) == 2 and await store.count() == 3


class Owner:
    def __init__(self, room: int) -> None:
        self.room = room
        self.taken: list[Any] = []

    def accept(self, d: Any) -> None:
        self.taken.append(d)
        self.room -= 1

    def room_changed(self) -> None:
        pass


def test_the_spools_keys_share_one_cluster_slot() -> None:
    # The marker must die with the stream's data, so it must live on the stream's master.
    assert key_slot(EPOCH.encode()) == key_slot(STREAM.encode())
    for stream in ("other:stream", "a{tag}b"):
        assert key_slot(epoch_key(stream).encode()) == key_slot(stream.encode())


async def test_spool_writes_reads_and_acknowledges(clients: tuple[Any, Any]) -> None:
    aio, sync = clients
    writer, reader = Owner(0), Owner(100)
    a = Spool(aio, writer, consumer="a")
    b = Spool(aio, reader, consumer="b")
    await a.start()
    await b.start()
    try:
        for i in range(30):
            a.add(delivery(f"http://127.0.0.1:9/{i}"))
        async with asyncio.timeout(5):
            while len(reader.taken) < 30:
                await asyncio.sleep(0.02)
        assert sorted(d.plan.url for d in reader.taken) == sorted(
            f"http://127.0.0.1:9/{i}" for i in range(30)
        )
        for d in reader.taken:
            b.done(d)
        await b.flush()
        async with asyncio.timeout(5):
            while sync.xlen(STREAM) or sync.xpending(STREAM, GROUP)["pending"]:
                await asyncio.sleep(0.02)
        await a.check()
        assert not a.retained and a.restored == 0 and a.working and b.working
    finally:
        await a.close()
        await b.close()


async def test_clients_parse_replies_with_hiredis(clients: tuple[Any, Any]) -> None:
    # hiredis is a dependency (pyproject.toml): redis-py reads replies with it when it is
    # installed, and each command then costs less CPU (docs/operations.md#redis).
    aio, sync = clients
    assert await aio.set("hiredis-probe", "1") and sync.get("hiredis-probe") == b"1"
    if hasattr(aio, "get_nodes"):  # a cluster: each node keeps its own connections
        conns = [c for n in aio.get_nodes() for c in n._connections]
    else:
        conns = list(aio.connection_pool._available_connections)
    assert conns and {type(c._parser).__name__ for c in conns} == {"_AsyncHiredisParser"}
