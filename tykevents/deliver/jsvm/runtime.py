"""One QuickJS VM per configuration generation, entered only from its own thread.

Tyk runs every JS event handler in one global otto VM (spec 5.1): all scripts share one
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

Compile once: each handler becomes a small JS function, compiled when the handler is built,
that parses the event and context JSON and calls `<name>.DoProcessEvent` (the name resolved
at call time, so "last loaded wins" holds). Per event, Python only calls that function.

QuickJS names every evaluated chunk `<input>`; to report file and line, each chunk is
evaluated after as many newlines as the chunks before it had lines, so a line number maps
back to one file.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

import quickjs

from tykevents.deliver.jsvm import interrupt
from tykevents.deliver.jsvm.api import HostAPI
from tykevents.deliver.jsvm.collisions import find_global_collisions  # noqa: F401 (for `check`)
from tykevents.deliver.jsvm.httpreq import HTTPSettings
from tykevents.deliver.jsvm.vmthread import VMClosed, VMThread

logger = logging.getLogger("tykevents.jsvm")
_JSVM = {"prefix": "jsvm"}

BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.js")
# Tyk's otto VM has underscore.js as `_`. We ship no third-party code: Debian's
# libjs-underscore (or any underscore.js given as underscore_path) is loaded if present.
UNDERSCORE_PATHS = (
    "/usr/share/javascript/underscore/underscore.min.js",
    "/usr/share/javascript/underscore/underscore.js",
)
_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_FRAME = re.compile(r"<input>(?::(\d+))?")
_INTERNAL = "<tykevents>"
_NO_STRING = "(Failed obtaining QuickJS error string"


class JSError(Exception):
    """A JS error with the file and line it happened at (line 0: unknown)."""

    def __init__(self, message: str, file: str, line: int, stack: str = "", kind: str = "error") -> None:
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
        self.message = message
        self.file = file
        self.line = line
        self.stack = stack
        self.kind = kind  # "error" | "timeout" | "oom"


class JSLoadError(JSError):
    """A script could not be loaded (syntax error, an error thrown at top level, no file)."""


JSRuntimeClosed = VMClosed


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
    segments: list[tuple[int, int, str]] = field(default_factory=list)  # (first line, lines, file)
    lines: int = 0


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
    ) -> None:
        """Build the VM (underscore, bootstrap, tyk_js_path); raises if the bootstrap fails."""
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
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._fired = False
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._api = HostAPI(
            session_store,
            HTTPSettings(
                timeout=http_timeout,
                ignore_canonical=bool(config_option(config, "ignore_canonical_mime_header_key", False)),
                insecure_skip_verify=bool(config_option(config, "proxy_ssl_insecure_skip_verify", False)),
            ),
            allow_master_keys=bool(config_option(config, "allow_master_keys", False)),
            enable_key_logging=bool(config_option(config, "enable_key_logging", False)),
            io_pause=self._io_pause,
            batch_pool=self._batch_pool,
            raw_stream=raw_stream,
        )
        self._watch_stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="tykevents-js-watchdog", daemon=True)
        self._vmt = VMThread("tykevents-js", self._on_stop)
        try:
            self._vmt.run(self._build)
        except BaseException:
            self.close()
            raise
        self._watchdog.start()
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
        self._vmt.run(self._load, source, file)

    def register_handler(self, name: str, file: str = "") -> int:
        """Compile the per-event call of `<name>.DoProcessEvent`; returns a handler id."""
        if not _NAME.match(name):
            raise JSLoadError(f"handler name {name!r} is not a JS identifier (or a dotted path)", file, 0)
        h = _Handler(name, file or "?")
        return self._vmt.run(self._compile, h)

    def is_defined(self, name: str) -> bool:
        """Whether `name` (a dotted path) currently resolves to an object in the VM."""
        if not _NAME.match(name):
            return False
        return bool(self._vmt.run(self._eval_value, f"(function () {{ try {{ return typeof {name} === 'object' "
                                                  f"&& {name} !== null; }} catch (e) {{ return false; }} }})()"))

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
        self._shutdown_helpers()

    def close(self) -> None:
        """Blocking twin of aclose: returns once every call already queued has run."""
        self._vmt.close()
        self._shutdown_helpers()

    def _on_stop(self) -> None:
        # On the VM thread, after its last job: no watchdog may touch the VM any more, and
        # every JS object goes before the context, here, on the thread that made them.
        self._watch_stop.set()
        if self._watchdog.is_alive():
            self._watchdog.join()
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

    # -- limits ---------------------------------------------------------------------------------
    def _watch(self) -> None:
        tick = max(0.005, min(0.05, self.call_time_limit / 10))
        while not self._watch_stop.wait(tick):
            with self._lock:  # self._vm is only swapped under this lock (see _drop_vm)
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    self._deadline = None
                    self._fired = True
                    if self._vm is not None and self._vm.interrupter is not None:
                        self._vm.interrupter.fire()

    def _drop_vm(self) -> None:
        with self._lock:
            vm, self._vm = self._vm, None
        del vm  # last reference: QuickJS frees the context here, on the VM thread

    def _arm(self, limit: float) -> None:
        with self._lock:
            self._fired = False
            if self._vm is not None and self._vm.interrupter is not None:
                self._vm.interrupter.reset()
                self._deadline = time.monotonic() + limit

    def _disarm(self) -> bool:
        """Stop the clock; True if the limit fired during the call."""
        with self._lock:
            self._deadline = None
            return self._fired

    @contextlib.contextmanager
    def _io_pause(self) -> Iterator[None]:
        with self._lock:
            left = None if self._deadline is None else self._deadline - time.monotonic()
            self._deadline = None
        try:
            yield
        finally:
            with self._lock:
                if left is not None and not self._fired:
                    self._deadline = time.monotonic() + left

    def _batch_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="tykevents-js-batch")
        return self._pool

    def _shutdown_helpers(self) -> None:
        self._watch_stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    # -- building the VM (on the VM thread) ----------------------------------------------------
    def _build(self) -> None:
        ctx = quickjs.Context()
        vm = _VM(ctx, interrupt.install(ctx))
        with self._lock:
            self._vm = vm
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
        pad = "\n" * vm.lines
        n = source.count("\n") + 1
        vm.segments.append((vm.lines + 1, n, file))
        vm.lines += n
        self._arm(limit)
        try:
            return vm.ctx.eval(pad + source)
        except quickjs.JSException as e:
            raise self._error(e, self._disarm(), file) from None
        finally:
            self._disarm()

    def _eval_value(self, source: str) -> Any:
        return self._eval(source, _INTERNAL, self.load_time_limit)

    # -- calls (on the VM thread) --------------------------------------------------------------
    def _call_handler(self, hid: int, event_json: str, context_json: str) -> bool:
        h = self._handlers[hid]
        self.stats.calls += 1
        self._arm(self.call_time_limit)
        try:
            h.fn(event_json, context_json)
            self._disarm()
            return True
        except quickjs.JSException as e:
            err = self._error(e, self._disarm(), h.file)
        self.stats.failures += 1
        self._report(h, err)
        if err.kind == "oom":
            self._after_oom()
        return False

    def _call_global(self, function: str, args: tuple[Any, ...]) -> Any:
        vm = self._vm
        assert vm is not None
        fn = vm.ctx.get(function)
        self.stats.calls += 1
        self._arm(self.call_time_limit)
        try:
            res = fn(*args)
            self._disarm()
        except quickjs.JSException as e:
            self.stats.failures += 1
            err = self._error(e, self._disarm(), "?")
            if err.kind == "oom":
                self._after_oom()
            raise err from None
        return res.json() if isinstance(res, quickjs.Object) else res

    def _error(self, e: quickjs.JSException, timed_out: bool, file: str) -> JSError:
        text = str(e)
        message, _, stack = text.partition("\n")
        frames = self._frames(stack)
        where = next((f for f in frames if f[0] not in (_INTERNAL, str(BOOTSTRAP_PATH))),
                     frames[0] if frames else (file, 0))
        pretty = _FRAME.sub(lambda m: self._where(int(m.group(1) or 0)), stack)
        kind = "error"
        if timed_out:
            self.stats.timeouts += 1
            kind, message = "timeout", f"stopped by the time limit ({message})"
        elif message in ("null", "") or "out of memory" in message or message.startswith(_NO_STRING):
            # Out of memory, QuickJS may fail to make the error (null) or its string.
            self.stats.out_of_memory += 1
            kind, message = "oom", f"out of memory (VM limit {self.memory_limit} bytes)"
        return JSError(message, where[0], where[1], pretty, kind)

    def _after_oom(self) -> None:
        vm = self._vm
        if vm is None:
            return
        vm.ctx.gc()
        if vm.ctx.memory()["malloc_size"] > self.memory_limit * 3 // 4:
            self._rebuild()  # globals hold the memory: start again from the sources

    def _frames(self, stack: str) -> list[tuple[str, int]]:
        out = []
        for m in _FRAME.finditer(stack):
            if m.group(1):
                out.append(self._map(int(m.group(1))))
        return out

    def _map(self, line: int) -> tuple[str, int]:
        vm = self._vm
        for first, n, file in reversed(vm.segments if vm is not None else []):
            if first <= line < first + n:
                return file, line - first + 1
        return "?", line

    def _where(self, line: int) -> str:
        if not line:
            return "?"
        file, n = self._map(line)
        return f"{file}:{n}"

    def _report(self, h: _Handler, err: JSError) -> None:
        """ERROR with handler name, file and line; at most one line per interval per handler."""
        now = time.monotonic()
        if now - h.last_log < self.error_log_interval:
            h.suppressed += 1
            return
        more = f" ({h.suppressed} more since the last report)" if h.suppressed else ""
        h.last_log, h.suppressed = now, 0
        logger.error("executing JSVM method %s.DoProcessEvent at %s:%s: %s%s", h.name, err.file,
                     err.line or "?", err.message, more, extra={**_JSVM, "handler": h.name})
        if err.stack:
            logger.debug("JS stack of %s:\n%s", h.name, err.stack, extra=_JSVM)
