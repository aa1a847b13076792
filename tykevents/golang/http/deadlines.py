"""Deadlines for many requests on one loop timer, with asyncio.timeout()'s semantics.

asyncio.timeout() arms a timer per use and disarms it on exit; on uvloop each is a libuv
timer made and freed, about a tenth of a webhook's CPU (bench/bench_deadlines.py). A webhook
almost never times out, so here a request only joins a table on entry and leaves it on exit;
one timer, armed for the earliest deadline in the table, wakes when that one is due, cancels
the tasks whose deadline has passed and arms itself for the next.

`async with deadlines.after(delay)` behaves as `async with asyncio.timeout(delay)`: when
the deadline passes, the task is cancelled and the block raises TimeoutError; a cancellation
from elsewhere stays a CancelledError; `delay` None never expires, and a delay <= 0 expires
at the first await.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

from tykevents.runtime.loops import current_task

# libuv's timers count whole milliseconds: one may wake a little before its deadline, which
# then counts as passed rather than arming the timer again for a sliver.
_SLACK = 0.001


class Deadlines:
    """The deadlines of one event loop's requests. Used on another loop later (asyncio.run
    again), it starts afresh there; two loops at once each need their own."""

    __slots__ = ("_entries", "_timer", "_timer_at", "_loop")

    def __init__(self) -> None:
        self._entries: dict[Deadline, None] = {}  # the deadlines in force
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None  # the timer's

    def after(self, delay: float | None) -> Deadline:
        return Deadline(self, delay)

    def __len__(self) -> int:
        return len(self._entries)

    def _add(self, d: Deadline, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:  # used on a new loop (the last one ended): start afresh
            self._loop, self._timer, self._timer_at = loop, None, math.inf
            self._entries.clear()
        self._entries[d] = None
        if d.when < self._timer_at:  # earlier than the timer: arm it for this one
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = d.when
            self._timer = loop.call_at(d.when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:  # armed on a loop since left
            return
        self._timer, self._timer_at = None, math.inf
        now = loop.time() + _SLACK
        due = [d for d in self._entries if d.when <= now]
        for d in due:
            del self._entries[d]
            d.expire()
        if self._entries:
            first = min(self._entries, key=_when)
            self._timer_at = first.when
            self._timer = loop.call_at(first.when, self._fire, loop)

    def close(self) -> None:
        """Disarm the timer (the deadlines in force no longer expire)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        self._entries.clear()


def _when(d: Deadline) -> float:
    return d.when


class Deadline:
    """One `async with`: asyncio.timeout()'s contract on the owner's shared timer."""

    __slots__ = ("_owner", "_delay", "when", "_task", "_cancelling", "expired")

    def __init__(self, owner: Deadlines, delay: float | None) -> None:
        self._owner = owner
        self._delay = delay
        self.when = math.inf
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False

    async def __aenter__(self) -> Deadline:
        task = current_task()  # once per request: no syscall (runtime/loops.py)
        if task is None:
            raise RuntimeError("a deadline is used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        if self._delay is not None:
            loop = task.get_loop()
            self.when = loop.time() + self._delay
            self._owner._add(self, loop)
        return self

    def expire(self) -> None:
        assert self._task is not None
        self.expired = True
        self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._entries.pop(self, None)
        if self.expired:
            assert self._task is not None
            # Ours alone among the cancellations under way: the deadline's, so TimeoutError.
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
