"""Stage 4 scheduling: bounded lanes of jobs, one lane per handler kind.

Ingest never waits for a handler: it offers a job, (runner, payload), to the runner's lane: a
handler and its event, or the monitor's CallRunner and a coroutine function. A lane is a bounded
deque served by a fixed number of worker tasks; it knows nothing of what its runners do.
Overload policy (docs/operations.md):
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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from tykevents.runtime.ratelog import RateLimitedLog

if TYPE_CHECKING:
    from tykevents.config import Lanes as LaneSettings
    from tykevents.runtime.metrics import Stats

logger = logging.getLogger("tykevents.work")
_ratelog = RateLimitedLog(logger)

# A worker yields to the event loop after this many calls that completed without suspending,
# so that cheap synchronous handlers (log) cannot starve ingest.
_YIELD_EVERY = 64

KINDS = ("log", "webhook", "js", "monitor")


class JobRunner(Protocol):
    """What a lane runs: `run(payload)` for each queued payload. Handlers are runners (the
    payload is the event); so is CallRunner (the payload is a coroutine function)."""

    inflight: int  # payloads queued or running; a reload retires a handler at 0

    @property
    def label(self) -> str: ...

    def subject(self, payload: Any) -> str: ...

    async def run(self, payload: Any) -> None: ...


class JobRejected(Exception):
    """The payload, not the runner, was at fault: counted under `reason`, not as a failure."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class CallRunner:
    """Runs payloads that are coroutine functions (the quota monitor's lookups and fires)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.inflight = 0

    def subject(self, payload: Callable[[], Awaitable[None]]) -> str:
        fn = getattr(payload, "func", payload)  # a functools.partial names its function
        return str(getattr(fn, "__name__", "call"))

    async def run(self, payload: Callable[[], Awaitable[None]]) -> None:
        await payload()


class Lane:
    def __init__(self, kind: str, size: int, workers: int, stats: Stats) -> None:
        self.kind = kind
        self.size = size
        self.nworkers = workers
        self.stats = stats
        self._items: deque[tuple[JobRunner, Any]] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()  # parked workers
        self._space: deque[asyncio.Future[None]] = deque()  # producers waiting for room
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._done = asyncio.Event()
        self._done.set()

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, runner: JobRunner, payload: Any) -> bool:
        """Queue a job if there is room; never blocks."""
        if len(self._items) >= self.size:
            return False
        self._push(runner, payload)
        return True

    async def put(self, runner: JobRunner, payload: Any) -> None:
        """Queue a job, waiting for room (backpressure for lossless transports)."""
        while len(self._items) >= self.size:
            fut = asyncio.get_running_loop().create_future()
            self._space.append(fut)
            await fut
        self._push(runner, payload)

    def _push(self, runner: JobRunner, payload: Any) -> None:
        runner.inflight += 1  # a reload retires a handler only when this is back to 0
        self._items.append((runner, payload))
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
            runner, payload = items.popleft()
            if self._space:
                self._wake_producer()
            self._busy += 1
            try:
                await runner.run(payload)
                stats.handled[kind] += 1
            except JobRejected as e:
                stats.rejected[e.reason] += 1
                _ratelog.log(
                    logging.WARNING,
                    e.reason,
                    "%s on %s rejected it: %s",
                    runner.label,
                    runner.subject(payload),
                    e,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                stats.failed[kind] += 1
                _ratelog.log(
                    logging.ERROR,
                    f"fail-{kind}",
                    "%s failed on %s",
                    runner.label,
                    runner.subject(payload),
                    exc_info=True,
                )
            finally:
                self._busy -= 1
                runner.inflight -= 1
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

    def __init__(self, settings: LaneSettings, stats: Stats) -> None:
        s = settings
        self.by_kind = {
            "log": Lane("log", s.log_queue, s.log_workers, stats),
            "webhook": Lane("webhook", s.webhook_queue, s.webhook_workers, stats),
            "js": Lane("js", s.js_queue, s.js_workers, stats),
            "monitor": Lane("monitor", s.monitor_queue, s.monitor_workers, stats),
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
