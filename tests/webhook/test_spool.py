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


# -- the batched spool (spool_lua.py, spool_codec.py) ----------------------------------------


async def test_a_batch_larger_than_one_script_call(client: Any) -> None:
    """More deliveries than BATCH: several write calls, several script reads, all acknowledged."""
    from tykevents.deliver.webhook.spool import BATCH, Spool

    n = BATCH * 2 + 37
    writer, reader = Owner(room=0), Owner(room=n)
    a, b = Spool(client, writer, consumer="a"), Spool(client, reader, consumer="b")
    await a.start()
    try:
        for i in range(n):
            a.add(delivery(f"http://127.0.0.1:9/{i}", body=b"x\n" * (i % 5)))  # newlines in bodies
        await a.write_pending()
        assert len(a.retained) == n and await client.xlen(STREAM) == n
        await b.start()  # a backlog from the start: read by script, a batch at a time
        async with asyncio.timeout(10):
            while len(reader.taken) < n:
                await asyncio.sleep(0.02)
        # (the writer task and this call each wrote some batches: in no set order)
        taken = {d.plan.url: d.body for d in reader.taken}
        assert taken == {f"http://127.0.0.1:9/{i}": b"x\n" * (i % 5) for i in range(n)}
        assert all(d.spool_id and d.log_id is None and d.handler == "h1" for d in reader.taken)
        for d in reader.taken:
            b.done(d)
        await b.flush()
        assert await settled(client) == (0, 0)
    finally:
        await a.close()
        await b.close()


async def test_old_and_hand_made_entries_are_still_read(client: Any) -> None:
    """A rolling upgrade: entries written by an older instance (one plain XADD of
    orjson.dumps(to_record()) each) are read; so is a hand-made one with other JSON types and
    a raw newline; a broken one costs only itself."""
    import orjson

    from tykevents.deliver.webhook.spool import Spool

    await client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    old = delivery("http://127.0.0.1:9/old", body=b'{"n": 1}')
    old.attempts, old.error, old.log_id = 2, "timeout", "ab" * 16
    hand = b'{"method": "PUT",\n "url": "http://127.0.0.1:9/hand", "attempts": "1", "body": ""}'
    await client.xadd(STREAM, {"d": hand})  # the first: read by the blocking XREADGROUP
    await client.xadd(STREAM, {"d": orjson.dumps(old.to_record())})  # the rest by script
    await client.xadd(STREAM, {"d": b"not json"})
    await client.xadd(STREAM, {"other": b"field"})
    owner = Owner(room=10)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    try:
        async with asyncio.timeout(5):
            while len(owner.taken) < 2 or await settled(client) != (2, 2):
                await asyncio.sleep(0.02)
        second, first = owner.taken
        assert (first.plan.url, first.body, first.attempts, first.error, first.log_id) == (
            old.plan.url,
            old.body,
            2,
            "timeout",
            old.log_id,
        )
        assert first.plan.header == old.plan.header and first.id == old.id and first.created == old.created
        assert (second.plan.method, second.plan.url, second.attempts, second.body) == (
            "PUT",
            first.plan.url[:-3] + "hand",
            1,
            b"",
        )
    finally:
        await spool.close()


async def test_records_stay_readable_by_older_instances() -> None:
    """What the spool writes is Delivery.to_record()'s form less the keys at their defaults:
    an older instance reads it with Delivery.from_record() as the same delivery, and so does
    the codec, every attribute."""
    import orjson

    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.spool_codec import Codec

    busy = delivery("http://127.0.0.1:9/x?q=1", body=b"\x00\xffbinary", headers={"X-A": "1"})
    busy.attempts, busy.status, busy.error, busy.event = 3, 503, "bad", "QuotaExceeded"
    busy.log_id, busy.kind = "c" * 32, "js"
    plain = Delivery(busy.plan, b"", kind="webhook")  # every default: the keys left out
    codec = Codec()
    Codec.give_ids([busy, plain], 1700000000.5)
    assert busy.id is not None and busy.id.startswith(f"{1700000000500:013x}-") and busy.id != plain.id
    for d in (busy, plain):
        raw = codec.encode(d)
        rec = orjson.loads(raw)
        full = d.to_record()
        assert list(rec) == [k for k in full if k in rec]  # to_record()'s keys, in its order
        assert all(rec[k] == full[k] for k in rec)
        for back in (Delivery.from_record(rec), codec.decode(raw), codec.decode(orjson.dumps(full))):
            for attr in Delivery.__slots__:
                if attr not in ("plan", "spool_id"):
                    assert getattr(back, attr) == getattr(d, attr), attr
            assert (back.plan.method, back.plan.url, back.plan.header) == ("POST", d.plan.url, d.plan.header)
    assert set(orjson.loads(codec.encode(plain))) == {"id", "created", "method", "url", "headers"}
    assert codec.decode(codec.encode(busy)).plan is codec.decode(codec.encode(busy)).plan  # shared
    with pytest.raises(ValueError):
        codec.decode(b"{")


async def test_scripts_are_loaded_again_after_a_script_flush(client: Any) -> None:
    """A Redis restart forgets the scripts: EVALSHA answers NOSCRIPT and EVAL loads them."""
    from tykevents.deliver.webhook.spool import Spool

    owner = Owner(room=0)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    try:
        spool.add(delivery("http://127.0.0.1:9/1"))
        await spool.write_pending()
        await client.script_flush()
        spool.add(delivery("http://127.0.0.1:9/2"))
        await spool.write_pending()
        assert await client.xlen(STREAM) == 2 and spool.fallbacks == 0
        owner.room = 2
        async with asyncio.timeout(5):
            while len(owner.taken) < 2:
                await asyncio.sleep(0.02)
        await client.script_flush()
        for d in owner.taken:
            spool.done(d)
        await spool.flush()
        assert await settled(client) == (0, 0)
    finally:
        await spool.close()


async def test_a_restart_skips_its_own_entries_deleted_while_pending(client: Any) -> None:
    """Re-reading its own pending entries (by script, from "0"): one deleted meanwhile (an
    XDEL without XACK) has no record, and is acknowledged rather than delivered."""
    from tykevents.deliver.webhook.spool import Spool

    first = Owner(room=10)
    spool = Spool(client, first, consumer="a")
    await spool.start()
    for i in range(3):
        spool.add(delivery(f"http://127.0.0.1:9/{i}"))
    await spool.write_pending()
    async with asyncio.timeout(5):
        while len(first.taken) < 3:
            await asyncio.sleep(0.02)
    spool._reading = False
    for t in spool._tasks:  # a crash: nothing acknowledged
        t.cancel()
    await asyncio.gather(*spool._tasks, return_exceptions=True)
    await client.xdel(STREAM, first.taken[1].spool_id)
    again = Owner(room=10)
    restarted = Spool(client, again, consumer="a")
    await restarted.start()
    try:
        assert [d.plan.url for d in again.taken] == ["http://127.0.0.1:9/0", "http://127.0.0.1:9/2"]
        assert restarted.recovered == 2  # the deliveries taken again; the deleted one is not
        async with asyncio.timeout(5):
            while (await client.xpending(STREAM, GROUP))["pending"] != 2:
                await asyncio.sleep(0.02)
    finally:
        await restarted.close()


async def test_write_calls_are_bounded_in_bytes(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large bodies split a batch over several write calls (each within WRITE_BYTES, or one
    record if that alone is larger), all written once."""
    from tykevents.deliver.webhook import spool as spool_mod
    from tykevents.deliver.webhook.spool import Spool

    monkeypatch.setattr(spool_mod, "WRITE_BYTES", 3000)
    calls: list[int] = []
    write = spool_mod.write_script

    async def counting(c: Any, key: str, blob: bytes, *read: Any) -> Any:
        calls.append(len(blob))
        return await write(c, key, blob, *read)

    monkeypatch.setattr(spool_mod, "write_script", counting)
    owner = Owner(room=0)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    try:
        bodies = [b"a" * 700] * 9 + [b"b" * 5000] + [b"c" * 10]
        for i, body in enumerate(bodies):
            spool.add(delivery(f"http://127.0.0.1:9/{i}", body=body))
        await spool.write_pending()
        assert len(calls) >= 4 and all(n <= 3000 for n in calls if n < 6000)
        assert spool.backlog == len(bodies) and spool.writing == 0 and spool.fallbacks == 0
        owner.room = len(bodies)
        async with asyncio.timeout(5):
            while len(owner.taken) < len(bodies):
                await asyncio.sleep(0.02)
        assert sorted(d.plan.url for d in owner.taken) == sorted(f"http://127.0.0.1:9/{i}" for i in range(11))
        assert sorted(d.body for d in owner.taken) == sorted(bodies)
    finally:
        await spool.close()


async def test_the_writer_takes_back_what_it_wrote_in_the_same_call(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room, one script call writes a batch and reads it for this consumer: no second
    round trip by the reader, no decoding (the deliveries are the ones written)."""
    from tykevents.deliver.webhook import spool as spool_mod
    from tykevents.deliver.webhook.spool import Spool

    reads: list[int] = []
    read = spool_mod.read_script

    async def counting(*args: Any) -> Any:
        reads.append(1)
        return await read(*args)

    owner = Owner(room=100)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    monkeypatch.setattr(spool_mod, "read_script", counting)
    try:
        sent = [delivery(f"http://127.0.0.1:9/{i}") for i in range(30)]
        for d in sent:
            spool.add(d)
        await spool.write_pending()
        assert [id(d) for d in owner.taken] == [id(d) for d in sent]  # in order, the same objects
        assert reads == [] and spool.backlog == 0 and spool.fallbacks == 0
        pending = await client.xpending(STREAM, GROUP)
        assert pending["pending"] == 30 and [c["name"] for c in pending["consumers"]] == [b"a"]
    finally:
        await spool.close()
    # Without room, the write only writes; the entry waits for whoever has room.
    full = Owner(room=0)
    spool = Spool(client, full, consumer="b")
    await spool.start()
    try:
        spool.add(delivery("http://127.0.0.1:9/later"))
        await spool.write_pending()
        assert full.taken == [] and spool.backlog == 1 and await client.xlen(STREAM) == 31
    finally:
        await spool.close()


async def test_a_write_without_a_group_still_writes(client: Any) -> None:
    """The read in the write script fails without a group (Redis lost its data); the write
    stands, and is not delivered from memory too (that would send it twice)."""
    from tykevents.deliver.webhook.spool import Spool

    owner = Owner(room=100)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    try:
        await client.xgroup_destroy(STREAM, GROUP)
        spool.add(delivery("http://127.0.0.1:9/x"))
        await spool.write_pending()
        assert spool.fallbacks == 0 and owner.taken == [] and await client.xlen(STREAM) == 1
        async with asyncio.timeout(10):  # the reader finds NOGROUP, recreates it, restores
            while len(owner.taken) < 1:
                await asyncio.sleep(0.02)
        assert owner.taken[0].plan.url == "http://127.0.0.1:9/x"
    finally:
        await spool.close()


class FlakyAcks:
    """The spool's ack script, failing while `down` (a primary gone away); the ids refused."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, down: bool = True) -> None:
        from tykevents.deliver.webhook import spool as spool_mod

        self.real = spool_mod.ack_script
        self.down = down
        self.refused: list[str] = []
        monkeypatch.setattr(spool_mod, "ack_script", self)

    async def __call__(self, c: Any, key: str, group: str, ids: str) -> Any:
        from redis.exceptions import ConnectionError as RedisConnectionError

        if self.down:
            self.refused.append(ids)
            raise RedisConnectionError("the primary went away")
        return await self.real(c, key, group, ids)


async def spool_with(client: Any, n: int) -> tuple[Any, Owner]:
    """A started spool whose owner has taken n written deliveries."""
    from tykevents.deliver.webhook.spool import Spool

    owner = Owner(room=100)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    for i in range(n):
        spool.add(delivery(f"http://127.0.0.1:9/{i}"))
    await spool.write_pending()
    assert len(owner.taken) == n
    return spool, owner


async def test_a_failed_acknowledgement_is_tried_again(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Left pending, a delivered entry would be claimed and sent again later: keep its id and
    acknowledge it when Redis answers again."""
    acks = FlakyAcks(monkeypatch)
    spool, owner = await spool_with(client, 5)
    try:
        for d in owner.taken:
            spool.done(d)
        async with asyncio.timeout(5):
            while len(acks.refused) < 2:
                await asyncio.sleep(0.01)
        acks.down = False
        async with asyncio.timeout(5):
            while await settled(client) != (0, 0):
                await asyncio.sleep(0.02)
        assert acks.refused[0].split() == acks.refused[1].split()  # the same ids, again
    finally:
        await spool.close()


async def test_rereading_its_own_pending_skips_what_it_finished(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finished deliveries stay pending until their acknowledgement goes through; a read of
    the consumer's own pending entries meanwhile (after a failed write, or a failover) must
    not take them again, or they would be sent twice."""
    acks = FlakyAcks(monkeypatch)
    spool, owner = await spool_with(client, 4)
    try:
        for d in owner.taken[:3]:  # three finished, one still being worked on
            spool.done(d)
        async with asyncio.timeout(5):  # their acknowledgement fails, and is kept
            while not acks.refused:
                await asyncio.sleep(0.01)
        spool._reread_own = True  # what a failed write or a failover sets
        async with asyncio.timeout(5):
            while spool._reread_own:
                await asyncio.sleep(0.02)
        assert len(owner.taken) == 4 and spool.recovered == 0
        acks.down = False
        async with asyncio.timeout(5):
            while (await client.xpending(STREAM, GROUP))["pending"] != 1:
                await asyncio.sleep(0.02)
    finally:
        await spool.close()


async def test_the_writer_and_the_reader_share_the_owners_room(client: Any) -> None:
    """Both take entries for the same owner: together, never more than it has room for
    (its pending limit bounds memory)."""
    from tykevents.deliver.webhook.spool import Spool

    owner = Owner(room=10)
    spool = Spool(client, owner, consumer="a")
    await spool.start()
    try:
        await asyncio.sleep(0.05)  # the reader waits in its blocking read
        for i in range(30):
            spool.add(delivery(f"http://127.0.0.1:9/{i}"))
        await spool.write_pending()
        await asyncio.sleep(0.3)
        assert len(owner.taken) == 10 and owner.room == 0
    finally:
        await spool.close()
