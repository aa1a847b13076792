"""The Redis spool: shared work across instances, once each, and nothing lost on a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.support.servers import RedisServer
from tests.webhook.receiver import Action, Receiver
from tests.webhook.test_service import delivery, wait_idle
from tykevents.deliver.webhook.spool import GROUP, STREAM
from tykevents.store.cooldown import MemoryCooldown

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.redis


@pytest.fixture
async def client(redis_url: str) -> Any:
    c = aredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def settled(client: Any) -> tuple[int, int]:
    """(entries left in the stream, entries pending in the group)."""
    return await client.xlen(STREAM), (await client.xpending(STREAM, GROUP))["pending"]


async def test_two_instances_deliver_each_once(client: Any, services: Any, receiver: Receiver) -> None:
    a = await services(redis=client, spool=True, spool_consumer="a")
    b = await services(redis=client, spool=True, spool_consumer="b")
    for i in range(40):
        (a if i % 2 else b).submit(delivery(receiver.url(f"/{i}")))
    await receiver.wait_for(40)
    async with asyncio.timeout(5):
        while await settled(client) != (0, 0):
            await asyncio.sleep(0.02)
    assert sorted(r.target for r in receiver.requests) == sorted(f"/{i}" for i in range(40))
    assert a.metrics.total("delivered") + b.metrics.total("delivered") == 40


async def test_dead_letters_are_acknowledged(client: Any, services: Any) -> None:
    svc = await services(redis=client, spool=True, spool_consumer="a", max_attempts=1)
    svc.submit(delivery("http://127.0.0.1:9/refused"))
    async with asyncio.timeout(5):
        while await client.xlen("tykevents:deadletter") == 0 or await settled(client) != (0, 0):
            await asyncio.sleep(0.02)


async def run_child(redis_url: str, target: str, count: int, consumer: str) -> None:
    """Start an instance in a subprocess, let it take the work, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.webhook.spool_child",
        redis_url,
        target,
        str(count),
        consumer,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            assert (await proc.stdout.readline()).strip() == b"written"
            assert (await proc.stdout.readline()).strip() == f"taken {count}".encode()
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()


@pytest.mark.parametrize("same_consumer", [True, False])
async def test_nothing_is_lost_when_an_instance_crashes(
    redis_url: str, client: Any, services: Any, receivers: Any, same_consumer: bool
) -> None:
    healthy = False
    answered: list[bytes] = []

    def respond(req: Any) -> Any:
        if not healthy:
            return Action("hang")
        answered.append(req.body)
        return 200

    r = await receivers(respond)
    await run_child(redis_url, r.url("/crash"), 5, "node1")
    assert await settled(client) == (5, 5)  # written, taken, never acknowledged
    healthy = True
    # The restarted instance (same consumer name) re-reads its own pending entries at once;
    # another instance claims them once they have been idle for spool_claim_after.
    svc = await services(
        redis=client, spool=True, spool_consumer="node1" if same_consumer else "node2", spool_claim_after=0.3
    )
    async with asyncio.timeout(10):
        while await settled(client) != (0, 0):
            await asyncio.sleep(0.05)
    assert sorted(answered) == sorted(b'{"n": %d}' % i for i in range(5))
    assert svc.metrics.total("delivered") == 5


async def test_drain_leaves_unfinished_work_in_the_stream(client: Any, services: Any, receivers: Any) -> None:
    hang = await receivers(lambda req: Action("hang"))
    svc = await services(redis=client, spool=True, spool_consumer="a")
    svc.submit(delivery(hang.url()))
    await hang.wait_for(1)
    assert await svc.drain(0.1) is False
    assert await settled(client) == (1, 1)  # for this instance after restart, or another one
    assert await client.xlen("tykevents:deadletter") == 0


async def test_redis_outage_falls_back_to_memory(tmp_path: Path, services: Any, receiver: Receiver) -> None:
    server = RedisServer(tmp_path)
    c = aredis.Redis(
        host="127.0.0.1", port=server.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        svc = await services(redis=c, spool=True, spool_consumer="a", cooldown=MemoryCooldown())
        server.stop()
        svc.submit(delivery(receiver.url("/fallback")))
        await receiver.wait_for(1)
        await wait_idle(svc)
        assert svc.spool.fallbacks == 1 and svc.metrics.total("delivered") == 1
    finally:
        server.stop()
        await c.aclose()


class Owner:
    """A SpoolOwner that takes what it is given room for, and keeps it."""

    def __init__(self, room: int = 0) -> None:
        self.room = room
        self.taken: list[Any] = []

    def accept(self, d: Any) -> None:
        self.taken.append(d)
        self.room -= 1

    def room_changed(self) -> None:
        pass


async def test_a_lost_group_is_recreated_and_delivery_goes_on(
    client: Any, services: Any, receiver: Receiver
) -> None:
    """Redis restarted without data: no stream, no group. The next read finds NOGROUP and
    recreates both (MKSTREAM) rather than failing for ever."""
    svc = await services(redis=client, spool=True, spool_consumer="a")
    svc.submit(delivery(receiver.url("/before")))
    await receiver.wait_for(1)
    await client.flushall()
    svc.submit(delivery(receiver.url("/after")))
    await receiver.wait_for(2)
    assert [r.target for r in receiver.requests] == ["/before", "/after"]
    assert svc.spool.groups_created >= 1 and svc.spool.working
    async with asyncio.timeout(5):
        while await settled(client) != (0, 0):
            await asyncio.sleep(0.02)


async def test_unread_deliveries_are_written_again_when_redis_loses_them(client: Any) -> None:
    from tykevents.deliver.webhook.spool import Spool

    owner = Owner(room=0)  # reads nothing yet: every written delivery stays unread
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    try:
        for i in range(5):
            spool.add(delivery(f"http://127.0.0.1:9/{i}"))
        await spool.write_pending()
        assert len(spool.retained) == 5 and spool.backlog == 5  # kept until someone reads them
        await client.flushall()  # what a restart without persistence does
        await spool.check()
        await spool.write_pending()
        assert spool.restored == 5 and await client.xlen(STREAM) == 5
        owner.room = 10
        async with asyncio.timeout(5):
            while len(owner.taken) < 5:
                await asyncio.sleep(0.02)
        assert sorted(d.plan.url for d in owner.taken) == [f"http://127.0.0.1:9/{i}" for i in range(5)]
        assert spool.backlog == 0
        await spool.check()  # the marker is unchanged now: nothing written twice
        assert spool.restored == 5 and await client.xlen(STREAM) == 5
    finally:
        await spool.close()


async def test_deliveries_another_instance_read_are_forgotten(client: Any) -> None:
    from tykevents.deliver.webhook.spool import Spool

    writer, reader = Owner(room=0), Owner(room=10)
    a, b = Spool(client, writer, consumer="a"), Spool(client, reader, consumer="b")
    await a.start()
    await b.start()
    try:
        for i in range(3):
            a.add(delivery(f"http://127.0.0.1:9/{i}"))
        await a.write_pending()
        async with asyncio.timeout(5):
            while len(reader.taken) < 3:
                await asyncio.sleep(0.02)
        assert a.backlog == 3  # a does not know yet
        await a.check()  # the group's last-delivered-id says they were read
        assert a.backlog == 0 and a.restored == 0
    finally:
        await a.close()
        await b.close()


async def test_readiness_follows_redis(tmp_path: Path, services: Any, receiver: Receiver) -> None:
    from tests.support import redis_restart

    server = RedisServer(tmp_path)
    c = aredis.Redis(
        host="127.0.0.1", port=server.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        svc = await services(redis=c, spool=True, spool_consumer="a", cooldown=MemoryCooldown())
        assert svc.ready()[0] is True
        redis_restart.stop(server)
        async with asyncio.timeout(5):
            while svc.ready()[0]:
                await asyncio.sleep(0.05)
        ok, detail = svc.ready()
        assert not ok and detail["problems"]
        svc.submit(delivery(receiver.url("/while-down")))  # from memory meanwhile
        await receiver.wait_for(1)
        redis_restart.start_empty(server)
        async with asyncio.timeout(10):
            while not svc.ready()[0]:
                await asyncio.sleep(0.05)
        assert svc.ready()[1]["redis"] == "up"
        svc.submit(delivery(receiver.url("/after")))
        await receiver.wait_for(2)
    finally:
        server.stop()
        await c.aclose()
