"""The running event loop, without a syscall on the hot path.

asyncio.get_running_loop() calls getpid() on Python 3.11 (a loop must not be used across a
fork): a syscall where a dict lookup will do, and four of the seven syscalls a webhook made
(docs/operations.md#syscalls). current_task() and running_loop() keep, per thread, the loop
asyncio last named, and trust it while a task of that loop is running: the thread's own loop
is then the one running (a loop runs in one thread, and a task's step in its loop's thread).
Else, and in a forked child, they ask asyncio again.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

_seen = threading.local()


def current_task() -> asyncio.Task[Any] | None:
    """asyncio.current_task(), mostly without its getpid() (RuntimeError outside a loop)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_seen, "loop", None)
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            return task
    loop = _seen.loop = asyncio.get_running_loop()
    return asyncio.current_task(loop)


def running_loop() -> asyncio.AbstractEventLoop:
    """asyncio.get_running_loop(), mostly without its getpid() (RuntimeError outside a loop)."""
    task = current_task()
    return task.get_loop() if task is not None else _seen.loop


def _forget() -> None:
    # A child forked from inside a task still lists that task as its loop's current one.
    _seen.__dict__.clear()


os.register_at_fork(after_in_child=_forget)
