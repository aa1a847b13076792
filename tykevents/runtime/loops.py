"""The running event loop, without a syscall on the hot path.

asyncio.get_running_loop() calls getpid() on Python 3.11 (a loop must not be used across a
fork), and a syscall on this kind of VM costs far more than the call around it: four such
calls were four of the seven syscalls a webhook made (docs/operations.md#syscalls). An object
that works on one loop keeps it and asks here, a dict lookup, whether it is still the one
running its current task; asyncio is asked only when it is not (the first call, a new loop).
An object used from two threads' loops at once needs one per loop, as asyncio's own do.
"""

from __future__ import annotations

import asyncio


def running_loop(kept: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop:
    """`kept` when a task of it is running, else asyncio.get_running_loop() (RuntimeError
    outside a loop)."""
    if kept is not None and asyncio.current_task(kept) is not None:
        return kept
    return asyncio.get_running_loop()
