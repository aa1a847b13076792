"""The Redis spool: accepted deliveries survive a crash, and instances share the work.

With `webhooks.spool` and Redis state, WebhookService.submit() does not deliver in memory
directly: the delivery is written to the stream `tykevents:webhooks` (XADD, batched), and
every instance reads the stream through the consumer group `tykevents` (XREADGROUP), so any
instance may take any delivery and each is taken once. A finished delivery (delivered or
dead-lettered) is acknowledged and deleted (XACK + XDEL).

Recovery:
- a restarted instance first re-reads its own pending entries (consumer name = host name,
  or `spool_consumer`; run several instances on one host with distinct names);
- every instance claims entries that stayed pending longer than `spool_claim_after` seconds
  under any consumer (XAUTOCLAIM): those of a crashed instance;
- an instance keeps its own long-running deliveries (waiting for a retry) from being claimed
  by touching them (XCLAIM to itself) every claim_after/3 seconds.

Gaps: a delivery accepted but not yet written (the writer batches within one loop turn) is
lost on a crash; when Redis is down, deliveries are delivered from memory only (logged and
counted). Delivery is at-least-once: a crash after sending but before XACK sends again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Protocol

import orjson

from tykevents.deliver.webhook.delivery import Delivery
from tykevents.runtime.ratelog import RateLimitedLog

logger = logging.getLogger("tykevents.deliver.webhook.spool")
_ratelog = RateLimitedLog(logger)

STREAM = "tykevents:webhooks"
GROUP = "tykevents"
BATCH = 500


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _record(fields: Any) -> dict[str, Any] | None:
    if not fields:
        return None  # the entry was deleted (XDEL) but still pending
    raw = fields.get(b"d") if b"d" in fields else fields.get("d")
    return orjson.loads(raw) if raw is not None else None


class SpoolOwner(Protocol):
    """What the spool needs from the service that delivers what it reads back."""

    @property
    def room(self) -> int:
        """How many more deliveries the owner can take now (its pending limit minus pending)."""

    def accept(self, d: Delivery) -> None:
        """Take a delivery read back from the stream (already counted against `room`)."""


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
        self.unwritten: list[Delivery] = []
        self.writing = 0  # deliveries in an XADD batch under way
        self._owned: dict[str, Delivery] = {}  # stream id -> delivery being worked on here
        self._plans: dict[Any, Any] = {}  # request plans rebuilt from entries, shared
        self._done: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._wake_writer = asyncio.Event()
        self._wake_acker = asyncio.Event()
        self._reading = True
        self.recovered = 0
        self.fallbacks = 0

    @property
    def backlog(self) -> int:
        return len(self.unwritten) + self.writing

    async def start(self) -> None:
        try:
            await self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except Exception as e:
            if "BUSYGROUP" not in str(e):
                raise
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
            self._wake_acker.set()

    # -- tasks --------------------------------------------------------------------------------
    async def _writer(self) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            await self.write_pending()

    async def write_pending(self) -> None:
        """XADD what was accepted and is not written yet (batched)."""
        while self.unwritten:
            batch, self.unwritten = self.unwritten[:BATCH], self.unwritten[BATCH:]
            self.writing += len(batch)
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for d in batch:
                        pipe.xadd(self.key, {"d": orjson.dumps(d.to_record())})
                    await pipe.execute()
            except Exception as e:  # Redis down: deliver from memory rather than lose them
                self.fallbacks += len(batch)
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

    async def _reader(self) -> None:
        while self._reading:
            room = self.service.room
            if room <= 0:
                await asyncio.sleep(0.05)
                continue
            try:
                await self._read(own_pending=False, count=min(BATCH, room))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                _ratelog.log(logging.ERROR, "spool-read", "webhook spool read failed: %s", e)
                await asyncio.sleep(1.0)

    async def _read(self, own_pending: bool, count: int = BATCH) -> None:
        """New entries (">"), or this consumer's own pending ones from the start ("0")."""
        if not own_pending:
            reply = await self.client.xreadgroup(
                GROUP, self.consumer, {self.key: ">"}, count=count, block=200
            )
            self._take(reply[0][1] if reply else [])
            return
        start = "0"
        while True:
            reply = await self.client.xreadgroup(GROUP, self.consumer, {self.key: start}, count=count)
            entries = reply[0][1] if reply else []
            if not entries:
                return
            self._take(entries)
            self.recovered += len(entries)
            start = _s(entries[-1][0])

    def stop_reading(self) -> None:
        self._reading = False

    def _take(self, entries: Any) -> None:
        stale = []
        for sid, fields in entries:
            sid = _s(sid)
            if sid in self._owned:
                continue
            rec = _record(fields)
            if rec is None:
                stale.append(sid)
                continue
            try:
                d = Delivery.from_record(rec, self._plans)
            except (KeyError, ValueError, TypeError) as e:
                _ratelog.log(logging.ERROR, "spool-bad", "unreadable spool entry %s dropped: %s", sid, e)
                stale.append(sid)
                continue
            d.spool_id = sid
            self._owned[sid] = d
            self.service.accept(d)
        if stale:
            self._done.extend(stale)
            self._wake_acker.set()

    async def _acker(self) -> None:
        while True:
            await self._wake_acker.wait()
            self._wake_acker.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write what is unwritten and acknowledge what is finished."""
        while self._done:
            ids, self._done = self._done[:BATCH], self._done[BATCH:]
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.xack(self.key, GROUP, *ids)
                    pipe.xdel(self.key, *ids)
                    await pipe.execute()
            except Exception as e:  # they stay pending; delivered again later (at least once)
                _ratelog.log(logging.ERROR, "spool-ack", "webhook spool ack failed: %s", e)
                return

    async def _keeper(self) -> None:
        """Claim what crashed instances left; keep our own long-running entries ours."""
        interval = max(0.2, self.claim_after / 3)
        while True:
            try:
                await self.touch()
                await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                _ratelog.log(logging.ERROR, "spool-claim", "webhook spool claim failed: %s", e)
            await asyncio.sleep(interval)

    async def touch(self) -> None:
        ids = list(self._owned)
        for i in range(0, len(ids), BATCH):
            await self.client.xclaim(self.key, GROUP, self.consumer, 0, ids[i : i + BATCH], justid=True)

    async def claim(self) -> None:
        start = "0-0"
        while self._reading:
            reply = await self.client.xautoclaim(
                self.key, GROUP, self.consumer, int(self.claim_after * 1000), start_id=start, count=BATCH
            )
            start, entries = _s(reply[0]), reply[1]
            before = len(self._owned)
            self._take(entries)
            self.recovered += len(self._owned) - before
            if start == "0-0":
                return

    async def close(self) -> None:
        self._reading = False
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.flush()
