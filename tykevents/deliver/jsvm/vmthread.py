"""The one thread that may enter a JS VM, and the queue that feeds it.

QuickJS (through the `quickjs` binding) must only ever be used from the thread that created
it, and JS must never run on the event loop. Every piece of work on a VM is a job on this
thread's queue: build-time work waits for its result (`run`), event-time work gets an
asyncio future (`submit`). Results for the event loop are handed back in batches, one
`call_soon_threadsafe` per batch, so a busy lane pays one loop wake-up for many calls.
Stopping is a job too: it runs after everything queued before it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()
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


class VMThread:
    def __init__(self, name: str, on_stop: Callable[[], None]) -> None:
        """`on_stop` runs on the thread after the last job (to free the VM there)."""
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_stop = on_stop
        self.closed = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` on the thread and wait for it (directly if already on it)."""
        if self.is_current():
            return fn(*args)
        if self.closed or not self._thread.is_alive():
            raise VMClosed("the JS runtime is closed")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._q.put((fn, args, fut, None))
        return fut.result()

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue `fn(*args)`; the future completes on the running event loop."""
        if self.closed:
            raise VMClosed("the JS runtime is closed")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._q.put((fn, args, fut, loop))
        return fut

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._q.put((_STOP, (), fut, loop))
        await fut

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._thread.is_alive():
            fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
            self._q.put((_STOP, (), fut, None))
            fut.result()

    def _main(self) -> None:
        done: dict[Any, list[tuple[Any, Any, BaseException | None]]] = {}
        while True:
            job = self._q.get()
            stop = None
            while job is not None:
                fn, args, fut, loop = job
                if fn is _STOP:
                    stop = (fut, loop)
                    break
                res, exc = None, None
                try:
                    res = fn(*args)
                except BaseException as e:  # handed to the caller
                    exc = e
                if loop is None:
                    _settle(fut, res, exc)
                else:
                    batch = done.setdefault(loop, [])
                    batch.append((fut, res, exc))
                    if len(batch) >= _BATCH:
                        _deliver(loop, done.pop(loop))
                try:
                    job = self._q.get_nowait()
                except queue.Empty:
                    job = None
            for loop, batch in done.items():
                _deliver(loop, batch)
            done.clear()
            if stop is not None:
                fut, loop = stop
                try:
                    self._on_stop()
                finally:
                    if loop is None:
                        _settle(fut, None, None)
                    else:
                        _deliver(loop, [(fut, None, None)])
                return
