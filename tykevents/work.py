"""Stage 4 scheduling: bounded lanes of handler calls, one lane per handler kind.

Ingest never waits for a handler: it offers (handler, event) to the handler's lane. A lane is
a bounded deque served by a fixed number of worker tasks. Overload policy (docs/operations.md):
- datagram transports (UDP, Unix datagram): a full lane drops the call and counts it in
  tykevents_dropped_total{kind}; the sender is never blocked, as with Tyk's fire-and-forget;
- stream and HTTP transports: a full lane applies backpressure (the connection stops being
  read) so that nothing they accepted is lost.
Lanes are per kind so that a slow webhook target cannot delay log or JS handlers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from tykevents.decode import META_TYPE
from tykevents.model import MetaTypeError
from tykevents.runtime.ratelog import RateLimitedLog

if TYPE_CHECKING:
    from tykevents.deliver.base import Handler
    from tykevents.model import Event
    from tykevents.runtime.metrics import Stats

logger = logging.getLogger("tykevents.work")
_ratelog = RateLimitedLog(logger)

# A worker yields to the event loop after this many calls that completed without suspending,
# so that cheap synchronous handlers (log) cannot starve ingest.
_YIELD_EVERY = 64


class Lane:
    def __init__(self, kind: str, size: int, workers: int, stats: Stats) -> None:
        self.kind = kind
        self.size = size
        self.nworkers = workers
        self.stats = stats
        self._items: deque[tuple[Handler, Event]] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()  # parked workers
        self._space: deque[asyncio.Future[None]] = deque()  # producers waiting for room
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._done = asyncio.Event()
        self._done.set()

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, handler: Handler, event: Event) -> bool:
        """Queue a call if there is room; never blocks."""
        if len(self._items) >= self.size:
            return False
        self._push(handler, event)
        return True

    async def put(self, handler: Handler, event: Event) -> None:
        """Queue a call, waiting for room (backpressure for lossless transports)."""
        while len(self._items) >= self.size:
            fut = asyncio.get_running_loop().create_future()
            self._space.append(fut)
            await fut
        self._push(handler, event)

    def _push(self, handler: Handler, event: Event) -> None:
        handler.inflight += 1  # a reload retires a handler only when this is back to 0
        self._items.append((handler, event))
        self.stats.enqueued[self.kind] += 1
        self._done.clear()
        while self._idle:
            fut = self._idle.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"lane-{self.kind}-{i}") for i in range(self.nworkers)
        ]

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        items, stats, kind = self._items, self.stats, self.kind
        streak = 0
        while True:
            if not items:
                if self._busy == 0:
                    self._done.set()
                fut = loop.create_future()
                self._idle.append(fut)
                await fut
                continue
            handler, event = items.popleft()
            if self._space:
                self._wake_producer()
            self._busy += 1
            try:
                await handler.handle(event)
                stats.handled[kind] += 1
            except MetaTypeError as e:
                stats.rejected[META_TYPE] += 1
                _ratelog.log(
                    logging.WARNING,
                    "meta_type",
                    "event %s for API %r: wrong type in Meta: %s (handler %s at %s)",
                    event.type,
                    event.api_id,
                    e,
                    handler.name,
                    handler.where,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                stats.failed[kind] += 1
                _ratelog.log(
                    logging.ERROR,
                    f"fail-{kind}",
                    "handler %s (%s) failed on %s",
                    handler.name,
                    handler.where,
                    event.type,
                    exc_info=True,
                )
            finally:
                self._busy -= 1
                handler.inflight -= 1
            streak += 1
            if streak >= _YIELD_EVERY:
                streak = 0
                await asyncio.sleep(0)

    def _wake_producer(self) -> None:
        while self._space:
            fut = self._space.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def drain(self, deadline: float) -> bool:
        """Wait until every queued call has run, or the monotonic deadline passes."""
        if self._done.is_set():  # wait_for with a timeout of 0 would not even look
            return True
        timeout = max(0.0, deadline - time.monotonic())
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


class Lanes:
    """All lanes, by handler kind."""

    def __init__(self, settings: Any, stats: Stats) -> None:
        self.by_kind = {
            kind: Lane(kind, getattr(settings, f"{kind}_queue"), getattr(settings, f"{kind}_workers"), stats)
            for kind in ("log", "webhook", "js", "monitor")
        }

    def __getitem__(self, kind: str) -> Lane:
        return self.by_kind[kind]

    def depths(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.by_kind.items()}

    def start(self) -> None:
        for lane in self.by_kind.values():
            lane.start()

    async def drain(self, deadline: float) -> bool:
        results = await asyncio.gather(*(lane.drain(deadline) for lane in self.by_kind.values()))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(lane.stop() for lane in self.by_kind.values()))
