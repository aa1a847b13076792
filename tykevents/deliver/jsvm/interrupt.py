"""A wall-clock interrupt for a `quickjs.Context` that still lets JS call Python.

The `quickjs` package (1.19.x, the last release: the project is archived) offers one time
limit, `Context.set_time_limit`, and it refuses every call from JS into Python while that
limit is set ("Can not call into Python with a time limit set"). Event handlers need both: the
Tyk API functions are Python, and a handler must not run forever (K4).

How this works, on the package's own interrupt handler (module.c: js_interrupt_handler
returns `clock() - data->start >= data->limit`, with `data` pointing into the Context):
1. `install` sets a time limit and evaluates a script that deletes a Python callable; its
   finalizer runs *during* the eval and clears the limit flag, so the package does not
   uninstall the handler at the end of the eval. From then on the interrupt handler stays
   installed while the limit flag is off, so calls into Python are allowed.
2. The interrupt data (`start`, `limit`) is then ours to write through ctypes: `limit` =
   LONG_MAX never interrupts; `limit` = 0 interrupts at QuickJS's next check (every ~10k
   bytecode branches), raising the uncatchable `InternalError: interrupted`.
The struct layout is checked against the package's own setters before use; if it does not
match (another build of the package), `install` returns None and the caller runs without
time limits, loudly.

CallClock, below, is the time limit built on it: the deadline of the call in progress;
Watchdog is the thread that fires it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger("tykevents.jsvm")

LONG_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_long) - 1)) - 1


class _RuntimeData(ctypes.Structure):
    """quickjs 1.19 module.c `RuntimeData` (the `_quickjs.Context` object)."""

    _fields_ = [
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("runtime", ctypes.c_void_p),
        ("context", ctypes.c_void_p),
        ("has_time_limit", ctypes.c_int),
        ("time_limit", ctypes.c_long),  # clock_t
        ("thread_state", ctypes.c_void_p),
        ("start", ctypes.c_long),  # InterruptData.start
        ("limit", ctypes.c_long),  # InterruptData.limit
        ("python_callables", ctypes.c_void_p),
    ]


class Interrupter:
    """Arms and fires the interrupt of one context. `fire` may be called from any thread."""

    def __init__(self, data: _RuntimeData, ctx: Any) -> None:
        self._data = data
        self._ctx = ctx  # keeps the struct's memory alive

    def reset(self) -> None:
        self._data.limit = LONG_MAX

    def fire(self) -> None:
        self._data.limit = 0


def install(ctx: Any) -> Interrupter | None:
    """Leave the interrupt handler installed on `ctx` (see the module doc). Call it on the
    thread that owns `ctx`, before anything else runs in it."""
    data = _RuntimeData.from_address(id(ctx))
    try:
        ctx.set_time_limit(1.5)
        ok = data.has_time_limit == 1 and data.time_limit == int(1.5 * _clocks_per_sec())
        ctx.set_time_limit(-1)
        ok = ok and data.has_time_limit == 0
    except Exception:  # pragma: no cover - a build without these setters
        ok = False
    if not ok:
        logger.error("quickjs: unknown Context layout; JS handlers run WITHOUT time limits")
        return None

    class _Disarm:
        # Runs inside the eval below when JS drops its last reference to this callable.
        def __call__(self) -> None:  # pragma: no cover - never called
            pass

        def __del__(self) -> None:
            ctx.set_time_limit(-1)

    ctx.add_callable("__tykevents_disarm", _Disarm())
    data.start = 0
    data.limit = 0
    ctx.set_time_limit(1e9)
    try:
        ctx.eval("delete globalThis.__tykevents_disarm; 0")
    finally:
        ctx.set_time_limit(-1)
    # setup_time_limit copied our time limit in; the finalizer cleared the flag mid-eval.
    if data.limit != int(1e9 * _clocks_per_sec()) or data.has_time_limit != 0:
        logger.error("quickjs: could not install the interrupt; JS handlers run WITHOUT time limits")
        return None
    data.start = 0
    data.limit = LONG_MAX
    interrupter = Interrupter(data, ctx)
    # Prove it: an endless loop must stop, and Python must stay callable.
    ctx.add_callable("__tykevents_probe", lambda: 1)
    interrupter.fire()
    try:
        ctx.eval("for (;;) {}")
        stopped = False
    except Exception as e:
        stopped = "interrupted" in str(e)
    interrupter.reset()
    if not stopped or ctx.eval("var p = __tykevents_probe(); delete globalThis.__tykevents_probe; p") != 1:
        logger.error("quickjs: interrupt self-test failed; JS handlers run WITHOUT time limits")
        return None
    return interrupter


def _clocks_per_sec() -> int:
    return 1_000_000  # POSIX requires CLOCKS_PER_SEC == 1000000 (XSI)


class CallClock:
    """The wall-clock limit of the call running on one VM's thread.

    The runtime's Watchdog fires the VM's Interrupter once the deadline passes. Time spent in
    Redis calls (`pause`) does not count: they have their own timeout. HTTP counts: its
    timeout is capped by what is left (`deadline`), and when a request runs into the limit
    the call ends there (`expire`). The lock also guards the interrupter: the VM thread swaps
    it (set_interrupter) before freeing a context, so the watchdog never fires into a freed one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interrupter: Interrupter | None = None
        self._deadline: float | None = None
        self._fired = False
        self.started: float | None = None  # when the call in progress began (None: idle)

    def set_interrupter(self, interrupter: Interrupter | None) -> None:
        with self._lock:
            self._interrupter = interrupter

    def check(self, now: float) -> None:
        """Fire the interrupt if the deadline has passed (the watchdog's tick)."""
        with self._lock:
            if self._deadline is not None and now >= self._deadline:
                self._deadline = None
                self._fired = True
                # No local name for it: the watchdog must never hold the last reference
                # to an Interrupter (it keeps its context alive, to be freed elsewhere).
                if self._interrupter is not None:
                    self._interrupter.fire()

    def arm(self, limit: float) -> None:
        """Start the clock for a call of at most `limit` seconds (no-op without interrupter)."""
        now = time.monotonic()
        with self._lock:
            self._fired = False
            self.started = now
            if self._interrupter is not None:
                self._interrupter.reset()
                self._deadline = now + limit

    def disarm(self) -> bool:
        """Stop the clock; True if the limit fired during the call."""
        with self._lock:
            self._deadline = None
            self.started = None
            return self._fired

    def deadline(self) -> float | None:
        """When the call in progress must end (monotonic): None without a limit, the past
        once it has fired."""
        with self._lock:
            return 0.0 if self._fired else self._deadline

    def expire(self) -> bool:
        """End the call in progress now (its time ran out in a request, or the runtime is
        closing); False if there is no interrupt to end it with."""
        with self._lock:
            self._deadline = None
            self._fired = True
            if self._interrupter is None:
                return False
            self._interrupter.fire()
            return True

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        """Stop the clock around host I/O, then restart it with the time that was left."""
        with self._lock:
            left = None if self._deadline is None else self._deadline - time.monotonic()
            self._deadline = None
        try:
            yield
        finally:
            with self._lock:
                if left is not None and not self._fired:
                    self._deadline = time.monotonic() + left


class Watchdog:
    """One thread that ticks the CallClocks of a runtime's VMs. It also tells `on_busy`
    whether some VM has been in one call for a tick or more (the pool then spreads calls
    over every VM: jobs.JobQueue)."""

    def __init__(self, call_time_limit: float, on_busy: Callable[[bool], None] | None = None) -> None:
        self.tick = max(0.005, min(0.05, call_time_limit / 10))
        self._clocks: list[CallClock] = []
        self._on_busy = on_busy
        self._busy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tykevents-js-watchdog", daemon=True)

    def add(self, clock: CallClock) -> None:
        self._clocks.append(clock)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            busy = False
            for clock in self._clocks:
                clock.check(now)
                started = clock.started
                busy = busy or (started is not None and now - started >= self.tick)
            if busy is not self._busy and self._on_busy is not None:
                self._busy = busy
                self._on_busy(busy)
