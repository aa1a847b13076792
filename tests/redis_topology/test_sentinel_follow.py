"""A Sentinel failover is followed at the next check, not when the old primary is demoted
(tykevents/store/redis.py follow_primary): idle connections and those handed back later leave
the old primary, on a real primary, replica and Sentinel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from tests.redis_topology.conftest import config_for
from tests.support.redis_topology import SentinelTopology
from tykevents.store.redis import follow_primary, redis_client

pytestmark = pytest.mark.redis


@pytest.fixture
async def client(sentinel_group_factory: Any, tmp_path: Path) -> AsyncIterator[tuple[SentinelTopology, Any]]:
    """A group of its own (it is failed over) and tykevents' asyncio client to it."""
    group: SentinelTopology = sentinel_group_factory(sentinels=1)
    c = redis_client(config_for(tmp_path, group.storage))
    yield group, c
    await c.aclose()


async def port_of(client: Any) -> int:
    return int((await client.info("server"))["tcp_port"])


async def test_a_failover_is_followed_before_the_old_primary_refuses(client: Any) -> None:
    group, c = client
    old = group.primary_port()
    assert await port_of(c) == old  # one idle connection, to the old primary
    held = await c.connection_pool.get_connection()  # a command in flight
    new = group.failover()
    await follow_primary(c)
    # INFO answers on a demoted primary too: only a followed pool asks the new one.
    assert await port_of(c) == new
    await c.connection_pool.release(held)
    assert not held.is_connected  # handed back after the move: closed, not reused
    pipes = [c.pipeline(transaction=False).info("server") for _ in range(4)]
    ports = {int(p[0]["tcp_port"]) for p in [await pipe.execute() for pipe in pipes]}
    assert ports == {new}


async def test_without_sentinels_follow_raises_and_the_primary_still_serves(client: Any) -> None:
    group, c = client
    await c.set("k", "v")
    group.processes.kill(group.sentinel_ports[0])
    with pytest.raises(redis.ConnectionError):
        await follow_primary(c)
    assert await c.get("k") == b"v"  # the connection it had is kept


async def test_follow_is_a_no_op_without_sentinel(redis_url: Any) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await follow_primary(client)
        assert await client.ping()
    finally:
        await client.aclose()
