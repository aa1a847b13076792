"""Cooldown stores: atomic check-and-set in memory and in Redis (Tyk's key), shared by instances."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
import redis.asyncio as aredis

from tests.support.servers import free_port
from tykevents.store.cooldown import MemoryCooldown, RedisCooldown

DIGEST = hashlib.md5(b"request").digest()


async def test_memory_check_and_set() -> None:
    now = [100.0]
    cd = MemoryCooldown(capacity=1000, clock=lambda: now[0])
    assert await cd.acquire(DIGEST, 10) is True
    assert await cd.acquire(DIGEST.hex(), 10) is False  # hex or bytes, same key
    now[0] += 10.1
    assert await cd.acquire(DIGEST, 10) is True
    assert await cd.acquire(DIGEST, 0) is True  # ttl 0: no cooldown at all, never recorded
    assert await cd.acquire(DIGEST, 10) is False
    other = hashlib.md5(b"other").digest()
    assert all([await cd.acquire(other, 0) for _ in range(3)])  # ttl 0: never suppressed
    assert len(cd) == 1


async def test_memory_concurrent_identical_events_fire_once() -> None:
    cd = MemoryCooldown()
    results = await asyncio.gather(*(cd.acquire(DIGEST, 5) for _ in range(50)))
    assert results.count(True) == 1


@pytest.fixture
async def client(redis_url: str) -> Any:
    c = aredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


@pytest.mark.redis
async def test_redis_uses_tyks_key_and_ttl(client: Any) -> None:
    cd = RedisCooldown(client)
    assert await cd.acquire(DIGEST, 10) is True
    key = "webhook.cache." + DIGEST.hex()
    assert await client.get(key) == b"1"
    assert 9 <= await client.ttl(key) <= 10
    assert await cd.acquire(DIGEST, 10) is False
    assert await cd.acquire(hashlib.md5(b"x").digest(), 0) is True
    assert await client.exists("webhook.cache." + hashlib.md5(b"x").hexdigest()) == 0


@pytest.mark.redis
async def test_redis_respects_a_key_set_by_a_tyk_gateway(client: Any) -> None:
    await client.set("webhook.cache." + DIGEST.hex(), "1", ex=10)  # what Tyk's setHookFired writes
    assert await RedisCooldown(client).acquire(DIGEST, 10) is False


@pytest.mark.redis
async def test_redis_is_atomic_across_instances(redis_url: str) -> None:
    clients = [aredis.Redis.from_url(redis_url) for _ in range(4)]
    try:
        stores = [RedisCooldown(c) for c in clients]
        results = await asyncio.gather(*(s.acquire(DIGEST, 30) for s in stores for _ in range(10)))
        assert results.count(True) == 1
    finally:
        for c in clients:
            await c.aclose()


async def test_redis_down_fires_and_counts() -> None:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    c = aredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    seen: list[BaseException] = []
    cd = RedisCooldown(c, on_error=seen.append)
    try:
        assert await cd.acquire(DIGEST, 10) is True
        assert await cd.acquire(DIGEST, 10) is True
        assert cd.errors == 2 and len(seen) == 2
    finally:
        await c.aclose()


@pytest.mark.redis
async def test_redis_huge_ttl_is_capped(client: Any) -> None:
    cd = RedisCooldown(client)
    assert await cd.acquire(DIGEST, 2**62) is True and cd.errors == 0
    assert await cd.acquire(DIGEST, 2**62) is False
    assert await client.ttl("webhook.cache." + DIGEST.hex()) == 1 << 26


def _digests(n: int) -> list[bytes]:
    return [hashlib.md5(b"d%d" % i).digest() for i in range(n)]


@pytest.mark.redis
async def test_redis_checks_made_together_share_one_round_trip(client: Any) -> None:
    cd = RedisCooldown(client)
    digests = _digests(200)
    fired = await asyncio.gather(*(cd.acquire(d, 30) for d in digests), cd.acquire(digests[7], 30))
    # Every distinct key fires once; the repeat, queued behind its twin in the batch, does not.
    assert fired == [True] * 200 + [False]
    assert cd.batches == 1 and cd.errors == 0
    assert all(0 < t <= 30 for t in [await client.ttl("webhook.cache." + d.hex()) for d in digests])
    # Checks queued while a batch is in flight go in the next one, not one call each.
    await client.delete(*("webhook.cache." + d.hex() for d in digests))
    first = asyncio.ensure_future(cd.acquire(digests[0], 30))
    while cd.batches < 2:  # until its call is on its way
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(cd.acquire(d, 30)) for d in digests[1:]]
    assert all(await asyncio.gather(first, *later))
    assert cd.batches == 3


@pytest.mark.redis
async def test_redis_batch_keeps_each_keys_own_ttl(client: Any) -> None:
    cd = RedisCooldown(client)
    digests = _digests(3)
    assert all(
        await asyncio.gather(*(cd.acquire(d, ttl) for d, ttl in zip(digests, (5, 50, 0.2), strict=True)))
    )
    assert cd.batches == 1
    ttls = [await client.ttl("webhook.cache." + d.hex()) for d in digests]
    assert 0 < ttls[0] <= 5 and 45 < ttls[1] <= 50 and ttls[2] == 1  # whole seconds, rounded up


@pytest.mark.redis
async def test_redis_flushed_scripts_are_sent_again(client: Any) -> None:
    cd = RedisCooldown(client)
    digests = _digests(4)
    assert await asyncio.gather(*(cd.acquire(d, 10) for d in digests[:2])) == [True, True]
    await client.script_flush()  # a restarted Redis without the script cached
    fired = await asyncio.gather(*(cd.acquire(d, 10) for d in digests[1:]))
    assert fired == [False, True, True] and cd.batches == 2 and cd.errors == 0


@pytest.mark.redis
async def test_redis_a_cancelled_check_costs_only_itself(client: Any) -> None:
    cd = RedisCooldown(client)
    digests = _digests(20)
    tasks = [asyncio.ensure_future(cd.acquire(d, 30)) for d in digests]
    await asyncio.sleep(0)
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert results[:3] + results[4:] == [True] * 19
    assert await cd.acquire(digests[0], 30) is False  # the store still works
    await cd.close()


async def test_redis_down_answers_every_queued_check() -> None:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    c = aredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    cd = RedisCooldown(c)
    try:
        fired = await asyncio.wait_for(asyncio.gather(*(cd.acquire(d, 10) for d in _digests(50))), 10)
        assert fired == [True] * 50 and cd.errors == 50
    finally:
        await c.aclose()


@pytest.mark.redis
async def test_redis_a_flusher_cancelled_before_it_ran_answers_its_queue(client: Any) -> None:
    cd = RedisCooldown(client)
    digests = _digests(3)
    waiting = [asyncio.ensure_future(cd.check(d, 30)) for d in digests[:2]]
    await asyncio.sleep(0)  # queued; the flusher task exists but has not run
    assert cd._flusher is not None
    cd._flusher.cancel()  # as at loop teardown
    assert await asyncio.gather(*waiting) == [(True, True), (True, True)]  # fired, as a failure
    assert cd.errors == 2
    assert await cd.check(digests[2], 30) == (True, False)  # a new flusher serves the next ones
    assert await cd.check(digests[2], 30) == (False, False)


@pytest.mark.redis
def test_redis_a_store_kept_across_loops_answers_on_each(redis_url: str) -> None:
    """The store keeps the loop its checks ran on (no getpid() per check, runtime/loops.py);
    used again from another asyncio.run(), it answers on that loop."""
    cd: RedisCooldown | None = None

    async def check(digest: bytes) -> tuple[bool, bool]:
        nonlocal cd
        c = aredis.Redis.from_url(redis_url)
        try:
            if cd is None:
                cd = RedisCooldown(c)
            cd.client = c  # a redis-py client belongs to one loop; the store outlives it
            return await cd.check(digest, 10)
        finally:
            await c.aclose()

    first, second = hashlib.md5(b"loop one").digest(), hashlib.md5(b"loop two").digest()
    assert asyncio.run(check(first)) == (True, False)
    assert asyncio.run(check(second)) == (True, False)
    assert asyncio.run(check(first)) == (False, False)
