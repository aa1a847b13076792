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
