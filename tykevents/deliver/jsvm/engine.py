"""One QuickJS VM of a runtime's pool, entered only from its own thread (vmthread.py).

Every VM of a pool runs the same scripts in the same order and compiles the same handlers,
so each is what Tyk's one global VM would be (runtime.py). The methods below that take the
engine first run on its thread, as VMThread jobs. Each call has a wall-clock time limit (the
watchdog fires the QuickJS interrupt, see interrupt.py) that covers the HTTP it makes, and
the VM has a memory limit; after an out-of-memory error that leaves the VM mostly full, the
VM is rebuilt from the same sources. A call cut because the runtime is closing and nobody
waits for it any more (`cut`) is counted as abandoned, not as a failure.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quickjs

from tykevents.deliver.jsvm import interrupt, logcap
from tykevents.deliver.jsvm.api import HostAPI
from tykevents.deliver.jsvm.errors import INTERNAL, LOG_EXTRA, JSError, JSLoadError, LineMap, js_error
from tykevents.deliver.jsvm.errors import report_handler_error as _report
from tykevents.deliver.jsvm.httpreq import CallLimits
from tykevents.deliver.jsvm.jobs import JobQueue
from tykevents.deliver.jsvm.vmthread import VMThread

logger = logging.getLogger("tykevents.jsvm")

BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.js")
# Tyk's otto VM has underscore.js as `_`. We ship no third-party code: Debian's
# libjs-underscore (or any underscore.js given as underscore_path) is loaded if present.
UNDERSCORE_PATHS = (
    "/usr/share/javascript/underscore/underscore.min.js",
    "/usr/share/javascript/underscore/underscore.js",
)


@dataclass
class JSStats:
    """Counters of a runtime (each VM keeps its own, written by its thread only)."""

    calls: int = 0
    failures: int = 0  # exceptions thrown by handlers (timeouts and OOM included)
    timeouts: int = 0
    out_of_memory: int = 0
    rebuilds: int = 0
    load_errors: int = 0
    abandoned: int = 0  # calls cut or never run at close: their callers had stopped waiting

    def add(self, other: JSStats) -> None:
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)


@dataclass
class HandlerInfo:
    """A registered handler, shared by the VMs (each compiles its own call of it)."""

    name: str
    file: str
    group: str  # the API it belongs to: the key of jobs.JobQueue's cap
    last_log: float = 0.0
    suppressed: int = 0


@dataclass
class Shared:
    """What the VMs of one runtime share: limits, scripts and handlers."""

    call_time_limit: float
    load_time_limit: float
    memory_limit: int
    error_log_interval: float
    underscore: str | None
    sources: list[tuple[str, str]] = field(default_factory=list)  # (file, source) in load order
    handlers: list[HandlerInfo] = field(default_factory=list)


def _invoker(name: str) -> str:
    """The per-event call, compiled once per handler; `name` is looked up at call time, so
    the last definition loaded wins, as when Tyk runs `<name>.DoProcessEvent(...)`."""
    return f"(function (e, c) {{ {name}.DoProcessEvent(JSON.parse(e), JSON.parse(c)); }})"


class Engine:
    def __init__(
        self,
        shared: Shared,
        index: int,
        queue: JobQueue,
        watchdog: interrupt.Watchdog,
        api_options: dict[str, Any],
    ) -> None:
        self.shared = shared
        self.index = index
        self.stats = JSStats()
        self.clock = interrupt.CallClock()
        watchdog.add(self.clock)
        self.fns: dict[int, Any] = {}
        self.ctx: Any = None
        self.lines = LineMap()
        self._cancel: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._cut = False
        self.api = HostAPI(
            io_pause=self.clock.pause, call_limits=self._limits, time_up=self.clock.expire, **api_options
        )
        self.thread = VMThread(f"tykevents-js-{index}", queue, index, self, self._on_stop, self._abandon)

    # -- from other threads ----------------------------------------------------------------
    def cut(self) -> None:
        """End the running call now: its caller stopped waiting and the runtime is closing."""
        self._cut = True
        if not self._cancel.done():
            self._cancel.set_result(None)  # its HTTP wait returns at once
        self.clock.expire()

    # -- on the VM thread --------------------------------------------------------------------
    def _abandon(self) -> None:
        self.stats.abandoned += 1

    def _limits(self) -> CallLimits:
        return CallLimits(self.clock.deadline(), self._cancel)

    def _on_stop(self) -> None:
        # After the last job: the watchdog lets go of the context first, and every JS
        # object goes before the context, here, on the thread that made them.
        self.fns.clear()
        self._drop_vm()

    def _drop_vm(self) -> None:
        self.clock.set_interrupter(None)
        ctx, self.ctx = self.ctx, None
        del ctx  # last reference: QuickJS frees the context here, on the VM thread

    def build(self) -> None:
        """A fresh context with the host API, underscore and the bootstrap."""
        ctx = quickjs.Context()
        self.lines = LineMap()
        self.ctx = ctx
        self.clock.set_interrupter(interrupt.install(ctx))
        for name, fn in self.api.functions().items():
            ctx.add_callable("__tykevents_host_" + name, fn)
        ctx.set_memory_limit(self.shared.memory_limit)
        path = self._underscore_file()
        if path:
            try:
                self._eval(Path(path).read_text(encoding="utf-8"), path, self.shared.load_time_limit)
            except (OSError, JSError) as e:
                logger.warning("underscore.js not loaded, `_` is undefined: %s", e, extra=LOG_EXTRA)
        self._eval(
            BOOTSTRAP_PATH.read_text(encoding="utf-8"), str(BOOTSTRAP_PATH), self.shared.load_time_limit
        )

    def _underscore_file(self) -> str:
        if self.shared.underscore is not None:
            return self.shared.underscore
        return next((p for p in UNDERSCORE_PATHS if os.path.exists(p)), "")

    def as_replica(self, fn: Any, args: tuple[Any, ...]) -> Any:
        """`fn(self, *args)`; on VMs after the first, without the log lines the first writes."""
        if not self.index:
            return fn(self, *args)
        with logcap.muted():
            return fn(self, *args)

    def first_only(self, fn: Any, args: tuple[Any, ...]) -> Any:
        """`fn(self, *args)` on the first VM (a question about the scripts all VMs run)."""
        return fn(self, *args) if not self.index else None

    def load(self, source: str, file: str) -> None:
        try:
            self._eval(source, file, self.shared.load_time_limit)
        except JSError as e:
            raise JSLoadError(f"Failed to load JS middleware: {e.message}", e.file, e.line, e.stack) from None

    def compile(self, hid: int) -> None:
        self.fns[hid] = self._eval(
            _invoker(self.shared.handlers[hid].name), INTERNAL, self.shared.load_time_limit
        )

    def eval_value(self, source: str) -> Any:
        return self._eval(source, INTERNAL, self.shared.load_time_limit)

    def _rebuild(self) -> None:
        """A fresh VM with the same sources and handlers (after memory ran out)."""
        self.stats.rebuilds += 1
        logger.warning("rebuilding the JS VM from its %d scripts", len(self.shared.sources), extra=LOG_EXTRA)
        self.fns.clear()
        self._drop_vm()
        self.build()
        for file, source in list(self.shared.sources):
            try:
                self._eval(source, file, self.shared.load_time_limit)
            except JSError:
                pass  # reported when it was first loaded
        for hid in range(len(self.shared.handlers)):
            self.compile(hid)

    def _eval(self, source: str, file: str, limit: float) -> Any:
        assert self.ctx is not None
        code = self.lines.chunk(source, file)
        self.clock.arm(limit)
        try:
            return self.ctx.eval(code)
        except quickjs.JSException as e:
            raise self._error(e, self.clock.disarm(), file) from None
        finally:
            self.clock.disarm()

    def _start_call(self) -> None:
        self.stats.calls += 1
        if self._cut:  # the last call was cut: a fresh cancel for this one
            self._cut = False
            self._cancel = concurrent.futures.Future()
        self.clock.arm(self.shared.call_time_limit)

    def call_handler(self, hid: int, event_json: str, context_json: str) -> bool:
        fn = self.fns[hid]
        self._start_call()
        try:
            fn(event_json, context_json)
            self.clock.disarm()
            return True
        except quickjs.JSException as e:
            timed_out = self.clock.disarm()
            if self._cut:
                self.stats.abandoned += 1
                return False
            err = self._error(e, timed_out, self.shared.handlers[hid].file)
        self.stats.failures += 1
        _report(self.shared.handlers[hid], err, self.shared.error_log_interval)
        if err.kind == "oom":
            self._after_oom()
        return False

    def call_global(self, function: str, args: tuple[Any, ...]) -> Any:
        assert self.ctx is not None
        fn = self.ctx.get(function)
        self._start_call()
        try:
            res = fn(*args)
            self.clock.disarm()
        except quickjs.JSException as e:
            self.stats.failures += 1
            err = self._error(e, self.clock.disarm(), "?")
            if err.kind == "oom":
                self._after_oom()
            raise err from None
        return res.json() if isinstance(res, quickjs.Object) else res

    def _error(self, e: quickjs.JSException, timed_out: bool, file: str) -> JSError:
        err = js_error(
            e,
            timed_out=timed_out,
            file=file,
            lines=self.lines,
            memory_limit=self.shared.memory_limit,
            hidden=(INTERNAL, str(BOOTSTRAP_PATH)),
        )
        if err.kind == "timeout":
            self.stats.timeouts += 1
        elif err.kind == "oom":
            self.stats.out_of_memory += 1
        return err

    def _after_oom(self) -> None:
        if self.ctx is None:
            return
        self.ctx.gc()
        if self.ctx.memory()["malloc_size"] > self.shared.memory_limit * 3 // 4:
            self._rebuild()  # globals hold the memory: start again from the sources
