"""The running event loop, without a syscall on the hot path.

asyncio.get_running_loop() calls getpid() on Python 3.11 (a loop must not be used across a
fork): a syscall where a dict lookup will do, and four of the seven syscalls a webhook made
(docs/operations.md#syscalls). running_loop() keeps, per thread, the loop asyncio last named,
and returns it while a task of that loop is running: the thread's own loop is then the one
running (a loop runs in one thread, and a task's step in its loop's thread). Else, and in a
forked child, it asks asyncio again.
"""

from __future__ import annotations

import asyncio
import os
import threading

_seen = threading.local()


def running_loop() -> asyncio.AbstractEventLoop:
    """asyncio.get_running_loop(), mostly without its getpid() (RuntimeError outside a loop)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_seen, "loop", None)
    if loop is not None and asyncio.current_task(loop) is not None:
        return loop
    loop = _seen.loop = asyncio.get_running_loop()
    return loop


def _forget() -> None:
    # A child forked from inside a task still lists that task as its loop's current one.
    _seen.__dict__.clear()


os.register_at_fork(after_in_child=_forget)
