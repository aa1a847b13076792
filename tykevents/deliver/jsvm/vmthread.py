"""The one thread that may enter a JS VM, fed by its pool's JobQueue (jobs.py).

QuickJS (through the `quickjs` binding) must only ever be used from the thread that created
it, and JS must never run on the event loop. Every piece of work on a VM is a job run on its
thread as `fn(owner, *args)`: build-time work runs on every thread of the pool and is waited
for (`broadcast`), event-time work goes to any thread and gets an asyncio future (`submit`).
Results for the event loop are handed back in batches, one `call_soon_threadsafe` per
batch, so a busy lane pays one loop wake-up for many calls. A call whose caller stopped
waiting before it started (its future is cancelled: the daemon stopped its lanes) is
skipped and counted (`on_abandon`). The thread ends at its STOP, after what was queued
before it; `on_stop` then runs on it (to free the VM there).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Hashable
from typing import Any

from tykevents.deliver.jsvm.jobs import OWN, STOP, Broadcast, JobQueue

_BATCH = 128


class VMClosed(RuntimeError):
    pass


def _settle(fut: Any, res: Any, exc: BaseException | None) -> None:
    if fut.done():  # cancelled by a caller that stopped waiting
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(res)


def _deliver(loop: Any, batch: list[tuple[Any, Any, BaseException | None]]) -> None:
    def settle() -> None:
        for fut, res, exc in batch:
            _settle(fut, res, exc)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


def submit(queue: JobQueue, key: Hashable, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Queue a call for any thread of the pool; the future completes on the running loop."""
    if queue.closed:
        raise VMClosed("the JS runtime is closed")
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    queue.put((fn, args, fut, loop, key))
    return fut


def broadcast(queue: JobQueue, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """`fn(owner, *args)` on every thread of the pool; waits for every result (or error)."""
    if queue.closed:
        raise VMClosed("the JS runtime is closed")
    return queue.broadcast(fn, *args)


class VMThread:
    def __init__(
        self,
        name: str,
        queue: JobQueue,
        index: int,
        owner: Any,
        on_stop: Callable[[], None],
        on_abandon: Callable[[], None],
    ) -> None:
        self._q = queue
        self.index = index
        self._owner = owner
        self._on_stop = on_stop
        self._on_abandon = on_abandon
        self.current: Any = None  # the future of the call running now (None between calls)
        self.stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self._serve()
        finally:
            try:
                self._on_stop()
            finally:
                self.stopped.set_result(None)

    def _serve(self) -> None:
        q, owner, index = self._q, self._owner, self.index
        done: dict[Any, list[tuple[Any, Any, BaseException | None]]] = {}
        finished = OWN
        while True:
            job = q.get(index, finished, block=not done)
            finished = OWN
            if job is None or type(job) is not tuple:  # idle, a broadcast or STOP: results first
                for loop, batch in done.items():
                    _deliver(loop, batch)
                done.clear()
                if job is STOP:
                    return
                if job is not None:
                    self._broadcast(job)
                continue
            fn, args, fut, loop, finished = job
            if fut.done():  # its caller stopped waiting before it started
                self._on_abandon()
                continue
            res, exc = None, None
            self.current = fut
            try:
                res = fn(owner, *args)
            except BaseException as e:  # handed to the caller
                exc = e
            self.current = None
            batch = done.setdefault(loop, [])
            batch.append((fut, res, exc))
            if len(batch) >= _BATCH:
                _deliver(loop, done.pop(loop))

    def _broadcast(self, b: Broadcast) -> None:
        """Run this thread's copy, then wait until every thread has run theirs."""
        fut = b.futures[self.index]
        try:
            fut.set_result(b.fn(self._owner, *b.args))
        except BaseException as e:  # handed to the caller
            fut.set_exception(e)
        b.barrier.wait()
