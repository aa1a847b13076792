"""The Redis spool: accepted deliveries survive a crash, and instances share the work.

With `webhooks.spool` and Redis state, WebhookService.submit() does not deliver in memory
directly: the delivery is written to the stream `tykevents:webhooks` (XADD), and every
instance reads the stream through the consumer group `tykevents` (XREADGROUP), so any
instance may take any delivery and each is taken once. A finished delivery (delivered or
dead-lettered) is acknowledged and deleted (XACK + XDEL).

Batched, because per-entry work was most of the spool's cost (bench/bench_spool.py): redis-py
builds and parses every command in Python, so one XADD per delivery cost more CPU than the
delivery itself. So each step is one command per batch of up to BATCH entries, a Lua script
on the stream's key (spool_lua.py; one key, so Redis Cluster runs it on the stream's master):
- the writer takes everything accepted since its last turn and XADDs it in one script call,
  which answers the new ids as one string and, in the same call, reads what is new for this
  consumer (what it just wrote, mostly): a delivery is written and taken in one round trip;
- the reader, while a backlog exists (its last read was a full batch), reads with a script
  that answers the batch as one newline-separated string; once drained it waits in a blocking
  XREADGROUP (up to BLOCK_COUNT entries), so an idle spool still hands a new delivery over at once;
- finished ids are acknowledged and deleted by one script call per batch, gathered for up to
  ACK_LINGER so that a few hundred deliveries a second do not cost a call each;
- records are encoded and decoded with msgspec (spool_codec.py), in Delivery.to_record()'s
  format less the keys at their defaults, so old and new instances read each other's entries;
- a delivery this instance wrote and reads back itself is taken from `retained`, not decoded.

Recovery:
- a restarted instance first re-reads its own pending entries (consumer name = host name,
  or `spool_consumer`; run several instances on one host with distinct names);
- every instance claims entries that stayed pending longer than `spool_claim_after` seconds
  under any consumer (XAUTOCLAIM): those of a crashed instance;
- an instance keeps its own long-running deliveries (waiting for a retry) from being claimed
  by touching them (XCLAIM to itself, BATCH ids a call) every claim_after/3 seconds;
- a failed acknowledgement is kept and tried again; after a failover (check()) the last
  REACK_WINDOW seconds of acknowledgements are sent again, and after a failover or a failed
  write the instance reads its own pending entries again (a write reads back in the same
  call, so one that ran with its answer lost leaves entries pending to us).

Redis losing its data (a restart without persistence, FLUSHALL) loses nothing accepted:
- every delivery this instance wrote stays in memory (`retained`) until some instance has
  read it (its id is at or below the group's last-delivered-id, or our reader took it); those
  already read are held, in memory, by the instance delivering them;
- `check()` (every half second) compares a marker key (EPOCH) with the one it saw: when
  the marker is gone or new, the data was lost, and the retained deliveries are written again;
- a read that finds no group (NOGROUP) recreates stream and group (XGROUP CREATE ... MKSTREAM)
  at once and runs the check; nothing waits for an operator.
The retained deliveries count against the pending limit (WebhookService.full), so memory
stays bounded however far the readers fall behind.

Gaps: a delivery accepted but not yet written (the writer batches within one loop turn) is
lost on a crash; when Redis is down, deliveries are delivered from memory only (logged and
counted). Delivery is at-least-once: a crash after sending but before XACK sends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Any, Protocol

from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.spool_codec import Codec
from tykevents.deliver.webhook.spool_lua import (
    ack_script,
    join_records,
    read_script,
    split_entries,
    split_write,
    write_script,
)
from tykevents.runtime.ratelog import RateLimitedLog

logger = logging.getLogger("tykevents.deliver.webhook.spool")
_ratelog = RateLimitedLog(logger)

STREAM = "tykevents:webhooks"
GROUP = "tykevents"
# A marker: gone or changed = Redis lost its data. Its hash tag is the stream's name, so on a
# Redis Cluster it lives on the stream's master and dies with the stream's data.
EPOCH = "{tykevents:webhooks}:epoch"
BATCH = 500  # entries per command (script call, XCLAIM, XAUTOCLAIM)
# A blocking read takes up to this many entries: redis-py parses them one by one in Python,
# a full one means a backlog, which the read script takes in one string.
BLOCK_COUNT = 16
# Acknowledgements wait this long for company unless a batch is full: one script call per
# delivery at a few hundred a second costs more than the deliveries. It only widens the
# window in which a crash would send a delivery again (at-least-once already allows it).
ACK_LINGER = 0.005
# Record bytes per write call: one argument, far below Redis's proto-max-bulk-len (512 MB)
# however large the bodies, and a script that holds Redis for milliseconds, not seconds.
WRITE_BYTES = 1 << 20
# After a failover, the acknowledgements of this many seconds back are sent again.
REACK_WINDOW = 5.0


def epoch_key(stream: str) -> str:
    """The marker key in the same cluster slot as `stream` (docs/operations.md#redis)."""
    return f"{{{stream}}}:epoch" if "{" not in stream and "}" not in stream else f"{stream}:epoch"


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _order(sid: str) -> tuple[int, int]:
    """A stream id "<ms>-<seq>" in the order Redis gives them."""
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


def _missing(e: Exception) -> bool:
    """Redis's answer when the stream or the group is gone (NOGROUP, "no such key")."""
    text = str(e)
    return "NOGROUP" in text or "no such key" in text.lower()


def raise_eaten_cancel() -> None:
    """redis-py may swallow a task's cancellation inside a command (the call then returns, or
    raises an ordinary error): the loops that call it raise it again, so that close(), which
    cancels them and waits, never waits for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _raw(fields: Any) -> bytes:
    """An entry's record from a redis-py reply (b"": deleted by XDEL while still pending)."""
    if not fields:
        return b""
    raw = fields.get(b"d") if b"d" in fields else fields.get("d")
    return raw.encode() if isinstance(raw, str) else raw or b""


def _entries(reply: Any) -> list[tuple[str, bytes]]:
    """XREADGROUP's or XAUTOCLAIM's entries -> [(stream id, record)]."""
    return [(_s(sid), _raw(fields)) for sid, fields in reply]


def _stream_entries(reply: Any) -> Any:
    """The one stream's entries in an XREADGROUP reply (a list, or a dict under RESP3)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return next(iter(reply.values()))[0]
    return reply[0][1]


class SpoolOwner(Protocol):
    """What the spool needs from the service that delivers what it reads back."""

    @property
    def room(self) -> int:
        """How many more deliveries the owner can take now (its pending limit minus pending)."""

    def accept(self, d: Delivery) -> None:
        """Take a delivery read back from the stream (already counted against `room`)."""

    def room_changed(self) -> None:
        """Retained deliveries were read by some instance: the owner may have room again."""


class Spool:
    def __init__(
        self,
        client: Any,
        service: SpoolOwner,
        *,
        claim_after: float = 60.0,
        consumer: str = "",
        key: str = STREAM,
    ) -> None:
        self.client = client
        self.service = service
        self.claim_after = claim_after
        self.consumer = consumer or socket.gethostname()
        self.key = key
        self.epoch_key = epoch_key(key)  # EPOCH for STREAM
        self.unwritten: list[Delivery] = []
        self.writing = 0  # deliveries in an XADD batch under way
        # Written by us, not yet read by any instance: stream id -> delivery, oldest first.
        self.retained: OrderedDict[str, Delivery] = OrderedDict()
        self._owned: dict[str, Delivery] = {}  # stream id -> delivery being worked on here
        self._codec = Codec()  # records, and the request plans rebuilt from them
        self._backlog = False  # the last read was a full batch: read on without blocking
        # A write call failed: it may have run all the same, its read included, leaving
        # entries pending to this consumer that nothing here owns. Read our own again.
        self._reread_own = False
        # Batches acknowledged lately, (monotonic time, ids): an acknowledgement the old
        # primary took just before a failover may never have reached the new one.
        self._recent_acks: deque[tuple[float, list[str]]] = deque()
        self._done: list[str] = []
        # Finished here, acknowledgement not made yet (waiting in _done or on its way): still
        # pending in Redis, so a read of our own pending entries must not take them again.
        self._unacked: set[str] = set()
        # Room promised to reads under way (the reader's, the writer's read-back): the two
        # together take no more than the owner has room for.
        self._reserved = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._wake_writer = asyncio.Event()
        self._wake_acker = asyncio.Event()
        self._check_lock = asyncio.Lock()
        self._epoch: bytes | None = None
        self._replid: str | None = None  # the primary's replication id: new after a failover
        self._reading = True
        self._closed = asyncio.Event()  # loops end on it even if a client call ate a cancel
        self.recovered = 0
        self.fallbacks = 0
        self.restored = 0  # deliveries written again after Redis lost them
        self.groups_created = 0  # the group recreated after it vanished
        self.failing = ""  # why the last stream operation failed ("" = the spool works)

    @property
    def backlog(self) -> int:
        """Accepted here and not yet read back by any instance (all held in memory)."""
        return len(self.unwritten) + self.writing + len(self.retained)

    @property
    def working(self) -> bool:
        return not self.failing

    def _failed(self, what: str, e: Exception) -> None:
        self.failing = f"{what}: {type(e).__name__}: {e}"
        _ratelog.log(logging.ERROR, f"spool-{what}", "webhook spool %s failed: %s", what, e)

    async def start(self) -> None:
        await self._ensure_group()
        await self.check()  # learn the marker before anything is written
        await self._read(own_pending=True)  # what this consumer had before a restart
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._writer()),
            loop.create_task(self._reader()),
            loop.create_task(self._acker()),
            loop.create_task(self._keeper()),
        ]

    def add(self, d: Delivery) -> None:
        self.unwritten.append(d)
        self._wake_writer.set()

    def done(self, d: Delivery) -> None:
        if d.spool_id is not None:
            self._owned.pop(d.spool_id, None)
            self._done.append(d.spool_id)
            self._unacked.add(d.spool_id)
            self._wake_acker.set()

    # -- tasks --------------------------------------------------------------------------------
    async def _writer(self) -> None:
        while not self._closed.is_set():
            await self._wake_writer.wait()
            self._wake_writer.clear()
            await self.write_pending()
            raise_eaten_cancel()

    async def write_pending(self) -> None:
        """XADD what was accepted and is not written yet (batched)."""
        while self.unwritten:
            batch, self.unwritten = self.unwritten[:BATCH], self.unwritten[BATCH:]
            self.writing += len(batch)
            try:
                records = self._encode(batch)
                if len(records) < len(batch):  # over WRITE_BYTES: the rest goes next
                    self.writing -= len(batch) - len(records)
                    self.unwritten[:0] = batch[len(records) :]
                    del batch[len(records) :]
                # Read back in the same call, when the service has room: the reader's
                # separate round trip (and its wake-up) was a redis-py call per batch.
                take = max(0, min(BATCH, self.service.room - self._reserved)) if self._reading else 0
                with self._reserving(take):
                    reply = await write_script(
                        self.client, self.key, join_records(records), GROUP, self.consumer, take
                    )
                ids, entries = split_write(reply)
                owned, retained = self._owned, self.retained
                for d, sid in zip(batch, ids, strict=True):
                    if sid not in owned:  # else our reader was quicker
                        retained[sid] = d
                if entries:
                    self._take(entries)
            except Exception as e:  # Redis down: deliver from memory rather than lose them
                self.fallbacks += len(batch)
                self._reread_own = True
                self.failing = f"write: {type(e).__name__}: {e}"
                _ratelog.log(
                    logging.ERROR,
                    "spool-write",
                    "webhook spool unavailable, delivering %d deliveries from memory only: %s",
                    len(batch),
                    e,
                )
                for d in batch:
                    self.service.accept(d)
            finally:
                self.writing -= len(batch)
        while self.writing:  # a batch of the writer task is still on its way
            await asyncio.sleep(0.005)

    def _encode(self, batch: list[Delivery]) -> list[bytes]:
        """Records for the longest head of `batch` within WRITE_BYTES (at least one)."""
        self._codec.give_ids(batch, time.time())
        encode = self._codec.encode
        records = [encode(d) for d in batch]
        if sum(map(len, records)) + len(records) <= WRITE_BYTES:
            return records
        size = 0
        for n, r in enumerate(records):
            size += len(r) + 1
            if size > WRITE_BYTES:
                return records[: max(n, 1)]
        return records

    async def _reader(self) -> None:
        while self._reading:
            room = self.service.room - self._reserved
            if room <= 0:
                await asyncio.sleep(0.05)
                continue
            try:
                if self._reread_own:
                    self._reread_own = False
                    try:
                        await self._read(own_pending=True)
                    except BaseException:
                        self._reread_own = True
                        raise
                    continue  # what it took changed the room
                await self._read(own_pending=False, count=min(BATCH, room))
                self.failing = ""
            except asyncio.CancelledError:
                raise
            except Exception as e:
                raise_eaten_cancel()
                if self._closed.is_set():
                    return
                self._failed("read", e)
                if _missing(e):
                    await self._recover()
                else:
                    await asyncio.sleep(1.0)

    async def _read(self, own_pending: bool, count: int = BATCH) -> None:
        """New entries (">"), or this consumer's own pending ones from the start ("0").
        New ones: by script while a backlog exists, else waiting in XREADGROUP BLOCK."""
        if not own_pending:
            if self._backlog:
                with self._reserving(count):
                    reply = await read_script(self.client, self.key, GROUP, self.consumer, count, ">")
                entries = split_entries(reply)
                self._backlog = len(entries) >= count
                if entries:
                    self._take(entries)
                    return
            # A few entries: redis-py parses this reply entry by entry in Python; a backlog
            # comes in the script's one string.
            few = min(count, BLOCK_COUNT)
            with self._reserving(few):
                reply = await self.client.xreadgroup(
                    GROUP, self.consumer, {self.key: ">"}, count=few, block=200
                )
            entries = _entries(_stream_entries(reply))
            self._backlog = len(entries) >= few
            self._take(entries)
            return
        start = "0"
        while True:
            entries = split_entries(
                await read_script(self.client, self.key, GROUP, self.consumer, count, start)
            )
            if not entries:
                return
            self.recovered += self._take(entries)
            start = entries[-1][0]

    @contextlib.contextmanager
    def _reserving(self, n: int) -> Iterator[None]:
        """Promise n of the owner's room to a read under way (the writer's or the reader's)."""
        self._reserved += n
        try:
            yield
        finally:
            self._reserved -= n

    def stop_reading(self) -> None:
        self._reading = False

    def _take(self, entries: list[tuple[str, bytes]]) -> int:
        """Accept the entries this instance does not hold yet; how many it accepted."""
        stale = []
        taken = 0
        owned, retained, decode, accept = self._owned, self.retained, self._codec.decode, self.service.accept
        unacked = self._unacked
        for sid, raw in entries:
            if sid in owned or sid in unacked:
                continue
            if not raw:  # deleted (XDEL) but still pending
                stale.append(sid)
                continue
            # Written by this instance: the retained delivery is what the record says.
            d = retained.pop(sid, None)
            if d is None:
                try:
                    d = decode(raw)
                except (KeyError, ValueError, TypeError, AttributeError) as e:
                    _ratelog.log(logging.ERROR, "spool-bad", "unreadable spool entry %s dropped: %s", sid, e)
                    stale.append(sid)
                    continue
            d.spool_id = sid
            owned[sid] = d
            accept(d)
            taken += 1
        if stale:
            self._done.extend(stale)
            self._unacked.update(stale)
            self._wake_acker.set()
        return taken

    async def _acker(self) -> None:
        failures = 0
        while not self._closed.is_set():
            await self._wake_acker.wait()
            self._wake_acker.clear()
            while self._done:
                if len(self._done) < BATCH:  # before each call: those finished during the last join
                    await asyncio.sleep(ACK_LINGER)
                if await self._ack_batch():
                    failures = 0
                    continue
                # Kept and tried again (a failover's new primary, Redis back): left pending,
                # they would be claimed and sent again once claim_after had passed.
                failures += 1
                raise_eaten_cancel()  # redis-py may have eaten our cancel: close() waits on us
                if self._closed.is_set():
                    return
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))
            raise_eaten_cancel()

    async def flush(self) -> None:
        """Acknowledge what is finished, now."""
        while self._done:
            if not await self._ack_batch():
                return

    async def _ack_batch(self) -> bool:
        """XACK + XDEL up to BATCH finished ids; False when Redis refused (the ids are kept,
        in front: acknowledging twice is harmless)."""
        ids, self._done = self._done[:BATCH], self._done[BATCH:]
        try:
            await ack_script(self.client, self.key, GROUP, " ".join(ids))
        except BaseException as e:
            self._done[:0] = ids  # cancelled too: close() acknowledges them
            if not isinstance(e, Exception):
                raise
            _ratelog.log(logging.ERROR, "spool-ack", "webhook spool ack failed (will retry): %s", e)
            return False
        self._unacked.difference_update(ids)
        now = time.monotonic()
        recent = self._recent_acks
        recent.append((now, ids))
        while recent and recent[0][0] < now - REACK_WINDOW:
            recent.popleft()
        return True

    async def _keeper(self) -> None:
        """Claim what crashed instances left; keep our own long-running entries ours."""
        interval = max(0.2, self.claim_after / 3)
        while not self._closed.is_set():
            try:
                await self.touch()
                await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                raise_eaten_cancel()
                if self._closed.is_set():
                    return
                self._failed("claim", e)
                if _missing(e):
                    await self._recover()
            raise_eaten_cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), interval)

    async def touch(self) -> None:
        ids = list(self._owned)
        for i in range(0, len(ids), BATCH):
            await self.client.xclaim(self.key, GROUP, self.consumer, 0, ids[i : i + BATCH], justid=True)

    async def claim(self) -> None:
        start = "0-0"
        while self._reading and self.service.room > 0:
            count = min(BATCH, self.service.room)
            reply = await self.client.xautoclaim(
                self.key, GROUP, self.consumer, int(self.claim_after * 1000), start_id=start, count=count
            )
            start, entries = _s(reply[0]), reply[1]
            before = len(self._owned)
            self._take(_entries(entries))
            self.recovered += len(self._owned) - before
            if start == "0-0":
                return

    # -- Redis losing its data ------------------------------------------------------------------
    async def _ensure_group(self) -> bool:
        """The group (and the stream: MKSTREAM), from the first entry so that nothing written
        meanwhile is skipped. True if it had to be made."""
        try:
            await self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except Exception as e:
            if "BUSYGROUP" not in str(e):
                raise
            return False
        return True

    async def _recover(self) -> None:
        """A read found no group: recreate it and write again what Redis lost."""
        try:
            await self.check()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._failed("recover", e)
            await asyncio.sleep(1.0)

    async def check(self) -> None:
        """Forget retained deliveries some instance has read; write them all again when the
        stream is gone or the marker says Redis lost its data. The group's last-delivered-id
        is read before the marker: data lost in between shows in the marker, so nothing
        unread is forgotten."""
        async with self._check_lock:
            last: tuple[int, int] | None = None
            gone = False
            try:
                for g in await self.client.xinfo_groups(self.key):
                    if _s(g.get("name", g.get(b"name", b""))) == GROUP:
                        last = _order(_s(g.get("last-delivered-id", g.get(b"last-delivered-id"))))
            except Exception as e:
                if not _missing(e):
                    raise
                gone = True
            epoch = await self.client.get(self.epoch_key)
            if epoch is None:
                await self.client.set(self.epoch_key, os.urandom(8).hex(), nx=True)
                epoch = await self.client.get(self.epoch_key)
            replid = await self._primary_replid()
            # A failover (Sentinel, a cluster replica promoted) may drop writes the old primary
            # acknowledged but never replicated: the marker survives it, the replication id
            # does not, and _restore() writes again only what the stream no longer has.
            failed_over = None not in (replid, self._replid) and replid != self._replid
            lost = gone or failed_over or (self._epoch is not None and epoch != self._epoch)
            self._epoch, self._replid = epoch, replid or self._replid
            if lost:
                await self._restore()
            if failed_over:
                await self._after_failover()
            if lost or last is None:
                if await self._ensure_group():
                    self.groups_created += 1
                    logger.warning("webhook spool: group %s of %s was gone: recreated", GROUP, self.key)
                return
            read = 0
            while self.retained and _order(next(iter(self.retained))) <= last:
                self.retained.popitem(last=False)
                read += 1
            if read:
                self.service.room_changed()

    async def _after_failover(self) -> None:
        """Acknowledge again what was acknowledged lately (the new primary may have missed
        it: the entries would stay pending until claimed and sent again), then read this
        consumer's own pending entries (a write may have run on the old primary, its read
        with it, and its answer been lost)."""
        again = [sid for _, ids in self._recent_acks for sid in ids]
        self._recent_acks.clear()
        if again:
            self._done[:0] = again
            self._unacked.update(again)  # finished: the read below must not take them again
            await self.flush()
        self._reread_own = True

    async def _primary_replid(self) -> str | None:
        """master_replid of the node holding the stream (None when Redis does not say)."""
        try:
            if hasattr(self.client, "get_node_from_key"):  # a cluster client: the stream's master
                node = self.client.get_node_from_key(self.key)
                info = await self.client.execute_command("INFO", "replication", target_nodes=node)
            else:
                info = await self.client.info("replication")
        except asyncio.CancelledError:
            raise
        except Exception:
            return None
        if isinstance(info, dict) and info.get("role") == "master":
            return _s(info.get("master_replid", "")) or None
        return None  # a replica answered (a stale connection): decide on the next check

    async def _restore(self) -> None:
        """Write again the retained deliveries the stream no longer has (those written since
        Redis came back are still there)."""
        ids = list(self.retained)
        missing: list[str] = []
        for i in range(0, len(ids), BATCH):
            chunk = ids[i : i + BATCH]
            async with self.client.pipeline(transaction=False) as pipe:
                for sid in chunk:
                    pipe.xrange(self.key, sid, sid, count=1)
                found = await pipe.execute()
            missing += [sid for sid, entry in zip(chunk, found, strict=True) if not entry]
        lost = [self.retained.pop(sid) for sid in missing if sid in self.retained]
        logger.log(
            logging.WARNING if lost else logging.INFO,
            "webhook spool: Redis lost its data or failed over (a restart without persistence, "
            "a new primary): writing %d unread deliveries again",
            len(lost),
        )
        if lost:
            self.restored += len(lost)
            self.unwritten[:0] = lost
            self._wake_writer.set()

    async def close(self) -> None:
        self._reading = False
        self._closed.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.flush()
