"""One QuickJS VM per configuration generation, entered only from its own thread.

Tyk runs every JS event handler in one global otto VM: all scripts share one
global namespace, a file is executed once per handler entry naming it, and the last
definition of a name wins. JSRuntime keeps that model and fixes what Tyk gets wrong:
- K1: the daemon builds a new JSRuntime for each configuration generation and every handler
  loads its file again, so a reload reloads every script. The old runtime is closed once
  the calls already queued on it have run (`aclose`).
- K4: the VM lives on one dedicated thread; every call goes through a queue to it, so JS
  never blocks the event loop and the VM is never entered from two threads. Each call has a
  wall-clock time limit (a watchdog fires the QuickJS interrupt, see interrupt.py; time spent
  waiting on HTTP or Redis inside the call does not count, those have their own timeouts) and
  the VM has a memory limit. After an out-of-memory error that leaves the VM mostly full, the
  VM is rebuilt from the same sources.
- HTTP helpers run Go's client on an event loop (`http_loop`, the daemon's; by default a
  loop thread of the runtime's own) while the VM thread waits: see httpreq.HTTPClient.

Compile once: each handler becomes a small JS function, compiled when the handler is built,
that parses the event and context JSON and calls `<name>.DoProcessEvent` (the name resolved
at call time, so "last loaded wins" holds). Per event, Python only calls that function.

Errors carry the file and line they come from (errors.py maps QuickJS's `<input>` lines
back to files); the time limit's clock is interrupt.CallClock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import quickjs

from tykevents.deliver.jsvm import interrupt
from tykevents.deliver.jsvm.api import HostAPI
from tykevents.deliver.jsvm.collisions import find_global_collisions
from tykevents.deliver.jsvm.errors import (
    INTERNAL as _INTERNAL,
)
from tykevents.deliver.jsvm.errors import (
    LOG_EXTRA as _JSVM,
)
from tykevents.deliver.jsvm.errors import (
    JSError,
    JSLoadError,
    LineMap,
    js_error,
    report_handler_error,
)
from tykevents.deliver.jsvm.httpreq import HTTPClient, HTTPSettings
from tykevents.deliver.jsvm.vmthread import VMThread

# The errors belong to the runtime's API (call() raises JSError, handler.py catches
# JSLoadError); `tykevents check` finds the collision check here.
__all__ = [
    "JSError",
    "JSLoadError",
    "JSRuntime",
    "JSStats",
    "config_option",
    "find_global_collisions",
    "runtime_options",
]

logger = logging.getLogger("tykevents.jsvm")

BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.js")
# Tyk's otto VM has underscore.js as `_`. We ship no third-party code: Debian's
# libjs-underscore (or any underscore.js given as underscore_path) is loaded if present.
UNDERSCORE_PATHS = (
    "/usr/share/javascript/underscore/underscore.min.js",
    "/usr/share/javascript/underscore/underscore.js",
)
_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")


@dataclass
class JSStats:
    """Counters of one runtime (written by its thread only)."""

    calls: int = 0
    failures: int = 0  # exceptions thrown by handlers (timeouts and OOM included)
    timeouts: int = 0
    out_of_memory: int = 0
    rebuilds: int = 0
    load_errors: int = 0


@dataclass
class _Handler:
    name: str
    file: str
    fn: Any = None
    last_log: float = 0.0
    suppressed: int = 0


@dataclass
class _VM:
    ctx: Any
    interrupter: interrupt.Interrupter | None
    lines: LineMap = field(default_factory=LineMap)


def config_option(config: Any, name: str, default: Any) -> Any:
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def _invoker(name: str) -> str:
    """The per-event call, compiled once per handler; `name` is looked up at call time, so
    the last definition loaded wins, as when Tyk runs `<name>.DoProcessEvent(...)`."""
    return f"(function (e, c) {{ {name}.DoProcessEvent(JSON.parse(e), JSON.parse(c)); }})"


def runtime_options(config: Any) -> dict[str, Any]:
    """JSRuntime's limits from tyk.conf's `tykevents.js` section (defaults where absent)."""
    js = getattr(getattr(config, "tykevents", None), "js", None)
    return {k: getattr(js, k) for k in ("call_time_limit", "memory_limit", "http_timeout") if hasattr(js, k)}


def _go_ext(path: str) -> str:
    """filepath.Ext: from the last dot of the last element ("" if none)."""
    base = path.rsplit("/", 1)[-1]
    i = base.rfind(".")
    return base[i:] if i >= 0 else ""


class JSRuntime:
    def __init__(
        self,
        config: Any,
        session_store: Any = None,
        *,
        http_timeout: float = 10.0,
        call_time_limit: float = 1.0,
        memory_limit: int = 64 << 20,
        underscore_path: str | None = None,
        raw_stream: TextIO | None = None,
        error_log_interval: float = 1.0,
        http_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Build the VM (underscore, bootstrap, tyk_js_path); raises if the bootstrap fails.

        `http_loop`: the running event loop the HTTP helpers' requests go to (build the
        runtime off that loop's thread, e.g. with asyncio.to_thread)."""
        self.config = config
        self.call_time_limit = call_time_limit
        self.load_time_limit = max(5.0, call_time_limit)
        self.memory_limit = memory_limit
        self.error_log_interval = error_log_interval
        self.stats = JSStats()
        self.files: list[str] = []  # every file run (loaded or failed), in order
        self._underscore = underscore_path
        self._sources: list[tuple[str, str]] = []  # (file, source) replayed on a rebuild
        self._handlers: list[_Handler] = []
        self._vm: _VM | None = None
        self._clock = interrupt.CallClock(call_time_limit)
        self._http = HTTPClient(
            HTTPSettings(
                timeout=http_timeout,
                ignore_canonical=bool(config_option(config, "ignore_canonical_mime_header_key", False)),
                insecure_skip_verify=bool(config_option(config, "proxy_ssl_insecure_skip_verify", False)),
            ),
            http_loop,
        )
        self._api = HostAPI(
            session_store,
            self._http,
            allow_master_keys=bool(config_option(config, "allow_master_keys", False)),
            enable_key_logging=bool(config_option(config, "enable_key_logging", False)),
            io_pause=self._clock.pause,
            raw_stream=raw_stream,
        )
        self._vmt = VMThread("tykevents-js", self._on_stop)
        try:
            self._run(self._build)
        except BaseException:
            self.close()
            raise
        self._clock.start()
        self._load_user_tykjs()

    # -- public API: building (sync, at config load) ----------------------------------------
    def load_file(self, path: str) -> None:
        """Run a handler's script file in the global VM (Tyk's LoadJSPaths, one path)."""
        ext = _go_ext(path)
        if ".js" not in ext:
            raise JSLoadError(f"Unsupported extension '{ext}' ({path})", path, 0)
        logger.info("Loading JS File: %s", path, extra=_JSVM)
        try:
            source = self.resolve(path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise JSLoadError(f"Failed to open JS middleware file: {e.strerror or e}", path, 0) from None
        self.load_source(source, path)

    def load_source(self, source: str, file: str) -> None:
        """Run `source` in the global VM as if it were the file `file`."""
        if "\x00" in source:
            raise JSLoadError("Failed to load JS middleware: NUL byte in source", file, 0)
        self.files.append(file)
        self._sources.append((file, source))
        self._run(self._load, source, file)

    def register_handler(self, name: str, file: str = "") -> int:
        """Compile the per-event call of `<name>.DoProcessEvent`; returns a handler id."""
        if not _NAME.match(name):
            raise JSLoadError(f"handler name {name!r} is not a JS identifier (or a dotted path)", file, 0)
        h = _Handler(name, file or "?")
        return self._run(self._compile, h)

    def is_defined(self, name: str) -> bool:
        """Whether `name` (a dotted path) currently resolves to an object in the VM."""
        if not _NAME.match(name):
            return False
        return bool(
            self._run(
                self._eval_value,
                f"(function () {{ try {{ return typeof {name} === 'object' "
                f"&& {name} !== null; }} catch (e) {{ return false; }} }})()",
            )
        )

    # -- public API: calling (async, from the event loop) -----------------------------------
    async def call_handler(self, hid: int, event_json: str, context_json: str) -> bool:
        """Run one event through handler `hid`. False if it threw (logged and counted)."""
        return await self._vmt.submit(self._call_handler, hid, event_json, context_json)

    async def call(self, function: str, *args: Any) -> Any:
        """Call a global JS function with str / number / bool / None arguments; a JS object
        result comes back as its JSON text. Raises JSError if it throws (with the limits)."""
        return await self._vmt.submit(self._call_global, function, args)

    async def aclose(self) -> None:
        """Retire the runtime once every call already queued has run."""
        await self._vmt.aclose()
        self._clock.stop()
        await self._http.aclose()

    def close(self) -> None:
        """Blocking twin of aclose: returns once every call already queued has run."""
        self._vmt.close()
        self._clock.stop()
        self._http.close()

    def _on_stop(self) -> None:
        # On the VM thread, after its last job: no watchdog may touch the VM any more, and
        # every JS object goes before the context, here, on the thread that made them.
        self._clock.stop(wait=True)
        for h in self._handlers:
            h.fn = None
        self._drop_vm()

    def resolve(self, path: str) -> Path:
        """Where a handler's `path` is read from: relative paths start at tyk.conf's directory
        (Config.path), or at the working directory as in Tyk when the config has no base."""
        p = Path(path)
        if p.is_absolute() or not hasattr(self.config, "path"):
            return p
        return self.config.path(path)

    # -- limits and helpers -----------------------------------------------------------------------
    def _drop_vm(self) -> None:
        self._clock.set_interrupter(None)  # the watchdog lets go of the context first
        vm, self._vm = self._vm, None
        del vm  # last reference: QuickJS frees the context here, on the VM thread

    def _run(self, fn: Any, *args: Any) -> Any:
        """VMThread.run; a caller's event loop is blocked meanwhile, so a script's HTTP call
        must not wait for that loop (the call would time out)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._vmt.run(fn, *args)
        with self._http.blocking(loop):
            return self._vmt.run(fn, *args)

    # -- building the VM (on the VM thread) ----------------------------------------------------
    def _build(self) -> None:
        ctx = quickjs.Context()
        vm = _VM(ctx, interrupt.install(ctx))
        self._vm = vm
        self._clock.set_interrupter(vm.interrupter)
        for name, fn in self._api.functions().items():
            ctx.add_callable("__tykevents_host_" + name, fn)
        ctx.set_memory_limit(self.memory_limit)
        path = self._underscore_file()
        if path:
            try:
                self._eval(Path(path).read_text(encoding="utf-8"), path, self.load_time_limit)
            except (OSError, JSError) as e:
                logger.warning("underscore.js not loaded, `_` is undefined: %s", e, extra=_JSVM)
        self._eval(BOOTSTRAP_PATH.read_text(encoding="utf-8"), str(BOOTSTRAP_PATH), self.load_time_limit)

    def _underscore_file(self) -> str:
        if self._underscore is not None:
            return self._underscore
        return next((p for p in UNDERSCORE_PATHS if os.path.exists(p)), "")

    def _load_user_tykjs(self) -> None:
        path = config_option(self.config, "tyk_js_path", "") or ""
        if not path:
            return
        try:
            source = self.resolve(path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            logger.warning("Could not open user's TykJS %s: %s", path, e.strerror or e, extra=_JSVM)
            return
        try:
            self.load_source(source, path)
        except JSLoadError as e:
            logger.error("Could not load user's TykJS: %s", e, extra=_JSVM)

    def _load(self, source: str, file: str) -> None:
        try:
            self._eval(source, file, self.load_time_limit)
        except JSError as e:
            self.stats.load_errors += 1
            raise JSLoadError(f"Failed to load JS middleware: {e.message}", e.file, e.line, e.stack) from None

    def _compile(self, h: _Handler) -> int:
        h.fn = self._eval(_invoker(h.name), _INTERNAL, self.load_time_limit)
        self._handlers.append(h)
        return len(self._handlers) - 1

    def _rebuild(self) -> None:
        """A fresh VM with the same sources and handlers (after memory ran out)."""
        self.stats.rebuilds += 1
        logger.warning("rebuilding the JS VM from its %d scripts", len(self._sources), extra=_JSVM)
        for h in self._handlers:
            h.fn = None
        self._drop_vm()
        self._build()
        for file, source in self._sources:
            try:
                self._eval(source, file, self.load_time_limit)
            except JSError:
                pass  # reported when it was first loaded
        for h in self._handlers:
            h.fn = self._eval(_invoker(h.name), _INTERNAL, self.load_time_limit)

    def _eval(self, source: str, file: str, limit: float) -> Any:
        vm = self._vm
        assert vm is not None
        code = vm.lines.chunk(source, file)
        self._clock.arm(limit)
        try:
            return vm.ctx.eval(code)
        except quickjs.JSException as e:
            raise self._error(e, self._clock.disarm(), file) from None
        finally:
            self._clock.disarm()

    def _eval_value(self, source: str) -> Any:
        return self._eval(source, _INTERNAL, self.load_time_limit)

    # -- calls (on the VM thread) --------------------------------------------------------------
    def _call_handler(self, hid: int, event_json: str, context_json: str) -> bool:
        h = self._handlers[hid]
        self.stats.calls += 1
        self._clock.arm(self.call_time_limit)
        try:
            h.fn(event_json, context_json)
            self._clock.disarm()
            return True
        except quickjs.JSException as e:
            err = self._error(e, self._clock.disarm(), h.file)
        self.stats.failures += 1
        report_handler_error(h, err, self.error_log_interval)
        if err.kind == "oom":
            self._after_oom()
        return False

    def _call_global(self, function: str, args: tuple[Any, ...]) -> Any:
        vm = self._vm
        assert vm is not None
        fn = vm.ctx.get(function)
        self.stats.calls += 1
        self._clock.arm(self.call_time_limit)
        try:
            res = fn(*args)
            self._clock.disarm()
        except quickjs.JSException as e:
            self.stats.failures += 1
            err = self._error(e, self._clock.disarm(), "?")
            if err.kind == "oom":
                self._after_oom()
            raise err from None
        return res.json() if isinstance(res, quickjs.Object) else res

    def _error(self, e: quickjs.JSException, timed_out: bool, file: str) -> JSError:
        vm = self._vm
        assert vm is not None
        err = js_error(
            e,
            timed_out=timed_out,
            file=file,
            lines=vm.lines,
            memory_limit=self.memory_limit,
            hidden=(_INTERNAL, str(BOOTSTRAP_PATH)),
        )
        if err.kind == "timeout":
            self.stats.timeouts += 1
        elif err.kind == "oom":
            self.stats.out_of_memory += 1
        return err

    def _after_oom(self) -> None:
        vm = self._vm
        if vm is None:
            return
        vm.ctx.gc()
        if vm.ctx.memory()["malloc_size"] > self.memory_limit * 3 // 4:
            self._rebuild()  # globals hold the memory: start again from the sources
