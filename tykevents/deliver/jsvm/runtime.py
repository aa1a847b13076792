"""The JS VMs of one configuration generation: a small pool, each VM Tyk's one global VM.

Tyk runs every JS event handler in one global otto VM: all scripts share one
global namespace, a file is executed once per handler entry naming it, and the last
definition of a name wins. Each VM of a JSRuntime keeps that model (every VM runs every
script, in the same order; engine.py) and fixes what Tyk gets wrong:
- K1: the daemon builds a new JSRuntime for each configuration generation and every handler
  loads its file again, so a reload reloads every script. The old runtime is closed once
  the calls already queued on it have run (`aclose`).
- K4: each VM lives on its own thread; calls go through a queue to the pool (jobs.py), so JS
  never blocks the event loop and a VM is never entered from two threads. Each call has a
  wall-clock time limit that covers the HTTP it makes (a request is cut where the limit
  runs out) and each VM has a memory limit.
- A call that waits holds only its own VM: while one has run for a watchdog tick, the other
  VMs serve too, and one API never has more than `vms - 1` calls running, so its slow calls
  cannot stall the other APIs' handlers. The price: a script's globals are per VM
  (docs/compatibility.md).
- Closing is bounded: calls nobody waits for any more (the daemon's lanes stopped at the
  end of `drain_timeout`) are skipped or cut, counted as `abandoned` and logged.
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
import concurrent.futures
import logging
import re
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

from tykevents.deliver.jsvm import interrupt, logcap, vmthread
from tykevents.deliver.jsvm.collisions import find_global_collisions
from tykevents.deliver.jsvm.engine import Engine, HandlerInfo, JSStats, Shared
from tykevents.deliver.jsvm.errors import LOG_EXTRA as _JSVM
from tykevents.deliver.jsvm.errors import JSError, JSLoadError
from tykevents.deliver.jsvm.httpreq import HTTPClient, HTTPSettings
from tykevents.deliver.jsvm.jobs import JobQueue

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

_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
STOP_GRACE = 1.0  # how long a cut call may take to end before its VM thread is left behind
_POLL = 0.02
_OPTIONS = ("call_time_limit", "memory_limit", "http_timeout", "vms", "max_log_bytes")


def config_option(config: Any, name: str, default: Any) -> Any:
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def runtime_options(config: Any) -> dict[str, Any]:
    """JSRuntime's limits from tyk.conf's `tykevents.js` section (defaults where absent)."""
    js = getattr(getattr(config, "tykevents", None), "js", None)
    return {k: getattr(js, k) for k in _OPTIONS if hasattr(js, k)}


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
        vms: int = 1,
        max_log_bytes: int = logcap.DEFAULT_LIMIT,
        underscore_path: str | None = None,
        raw_stream: TextIO | None = None,
        error_log_interval: float = 1.0,
        http_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Build `vms` VMs (underscore, bootstrap, tyk_js_path); raises if the bootstrap fails.

        `http_loop`: the running event loop the HTTP helpers' requests go to (build the
        runtime off that loop's thread, e.g. with asyncio.to_thread)."""
        self.config = config
        self.call_time_limit = call_time_limit
        self.memory_limit = memory_limit
        self.files: list[str] = []  # every file run (loaded or failed), in order
        self._shared = Shared(
            call_time_limit, max(5.0, call_time_limit), memory_limit, error_log_interval, underscore_path
        )
        self._stats = JSStats()  # the runtime's own counts (load errors); each VM has its own
        self._closed = False
        logcap.FILTER.limit = max_log_bytes
        self._http = HTTPClient(
            HTTPSettings(
                timeout=http_timeout,
                ignore_canonical=bool(config_option(config, "ignore_canonical_mime_header_key", False)),
                insecure_skip_verify=bool(config_option(config, "proxy_ssl_insecure_skip_verify", False)),
            ),
            http_loop,
        )
        api_options = {
            "session_store": session_store,
            "http": self._http,
            "allow_master_keys": bool(config_option(config, "allow_master_keys", False)),
            "enable_key_logging": bool(config_option(config, "enable_key_logging", False)),
            "raw_stream": raw_stream,
            "max_log_bytes": max_log_bytes,
        }
        n = max(1, vms)
        self._queue = JobQueue(n, cap=n - 1)
        self._watchdog = interrupt.Watchdog(call_time_limit, self._queue.set_busy if n > 1 else None)
        self._engines = [Engine(self._shared, i, self._queue, self._watchdog, api_options) for i in range(n)]
        self._watchdog.start()
        try:
            self._on_all(Engine.build)
        except BaseException:
            self.close()
            raise
        self._load_user_tykjs()

    @property
    def vms(self) -> int:
        return len(self._engines)

    @property
    def load_time_limit(self) -> float:
        return self._shared.load_time_limit

    @load_time_limit.setter
    def load_time_limit(self, value: float) -> None:
        self._shared.load_time_limit = value

    @property
    def stats(self) -> JSStats:
        """The counters of every VM, summed."""
        total = JSStats()
        total.add(self._stats)
        for e in self._engines:
            total.add(e.stats)
        return total

    # -- public API: building (sync, at config load) ----------------------------------------
    def load_file(self, path: str) -> None:
        """Run a handler's script file in every VM (Tyk's LoadJSPaths, one path)."""
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
        """Run `source` in every VM as if it were the file `file`."""
        if "\x00" in source:
            raise JSLoadError("Failed to load JS middleware: NUL byte in source", file, 0)
        self.files.append(file)
        self._shared.sources.append((file, source))
        try:
            self._on_all(Engine.load, source, file)
        except JSLoadError:
            self._stats.load_errors += 1
            raise

    def register_handler(self, name: str, file: str = "", group: str = "") -> int:
        """Compile the per-event call of `<name>.DoProcessEvent` in every VM; returns a handler
        id. `group` (the handler's API) shares the pool fairly (jobs.JobQueue)."""
        if not _NAME.match(name):
            raise JSLoadError(f"handler name {name!r} is not a JS identifier (or a dotted path)", file, 0)
        handlers = self._shared.handlers
        handlers.append(HandlerInfo(name, file or "?", group))
        try:
            self._on_all(Engine.compile, len(handlers) - 1)
        except BaseException:
            handlers.pop()
            raise
        return len(handlers) - 1

    def is_defined(self, name: str) -> bool:
        """Whether `name` (a dotted path) currently resolves to an object in the VM."""
        if not _NAME.match(name):
            return False
        probe = (
            f"(function () {{ try {{ return typeof {name} === 'object' "
            f"&& {name} !== null; }} catch (e) {{ return false; }} }})()"
        )
        return bool(self._each(Engine.first_only, Engine.eval_value, (probe,))[0].result())

    # -- public API: calling (async, from the event loop) -----------------------------------
    async def call_handler(self, hid: int, event_json: str, context_json: str) -> bool:
        """Run one event through handler `hid` on a free VM. False if it threw (logged and
        counted)."""
        group = self._shared.handlers[hid].group
        return await vmthread.submit(self._queue, group, Engine.call_handler, hid, event_json, context_json)

    async def call(self, function: str, *args: Any) -> Any:
        """Call a global JS function with str / number / bool / None arguments; a JS object
        result comes back as its JSON text. Raises JSError if it throws (with the limits)."""
        return await vmthread.submit(self._queue, None, Engine.call_global, function, args)

    async def aclose(self) -> None:
        """Retire the runtime once every call already queued has run; calls nobody waits
        for any more are abandoned (see _shut)."""
        if self._closed:
            return
        await asyncio.to_thread(self._shut)
        await self._http.aclose()

    def close(self) -> None:
        """Blocking twin of aclose."""
        if self._closed:
            return
        self._shut()
        self._http.close()

    def resolve(self, path: str) -> Path:
        """Where a handler's `path` is read from: relative paths start at tyk.conf's directory
        (Config.path), or at the working directory as in Tyk when the config has no base."""
        p = Path(path)
        if p.is_absolute() or not hasattr(self.config, "path"):
            return p
        return self.config.path(path)

    # -- helpers --------------------------------------------------------------------------------
    def _shut(self) -> None:
        """Stop every VM thread once nothing is left for it. A call whose caller stopped
        waiting is skipped (vmthread) or, if running, cut (Engine.cut); a VM whose cut call
        has not ended after STOP_GRACE (stuck in a Redis call) is left behind."""
        self._closed = True
        self._queue.close()
        cut: dict[int, tuple[Any, float]] = {}  # engine index -> (the call cut, when)
        left_behind: list[Engine] = []
        while True:
            pending = [e for e in self._engines if not e.thread.stopped.done()]
            now = time.monotonic()
            for e in pending:
                cur = e.thread.current
                if cur is not None and cur.done() and cut.get(e.index, (None,))[0] is not cur:
                    e.cut()
                    cut[e.index] = (cur, now)
            stuck = [
                e
                for e in pending
                if e.index in cut
                and e.thread.current is cut[e.index][0]
                and now - cut[e.index][1] > STOP_GRACE
            ]
            if not pending or len(stuck) == len(pending):
                left_behind = stuck
                break
            concurrent.futures.wait(
                [e.thread.stopped for e in pending], _POLL, concurrent.futures.FIRST_COMPLETED
            )
        self._watchdog.stop()
        for e in left_behind:
            e.stats.abandoned += 1
        abandoned = self.stats.abandoned
        if abandoned or left_behind:
            logger.warning(
                "JS runtime closed: %d calls abandoned (their callers had stopped waiting)%s",
                abandoned,
                f"; {len(left_behind)} VM threads did not stop within {STOP_GRACE:.1f}s and were left"
                if left_behind
                else "",
                extra=_JSVM,
            )

    def _blocking(self) -> AbstractContextManager[Any]:
        """A caller's event loop is blocked while it waits for the VM threads, so a script's
        HTTP call must not wait for that loop (the call would time out)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return nullcontext()
        return self._http.blocking(loop)

    def _each(self, fn: Any, *args: Any) -> list[concurrent.futures.Future[Any]]:
        """`fn(engine, *args)` on every VM at once; their futures, done."""
        with self._blocking():
            return vmthread.broadcast(self._queue, fn, *args)

    def _on_all(self, fn: Any, *args: Any) -> Any:
        """`fn` on every VM: the first VM's result or error; the others are muted (their lines
        would repeat the first's) and their errors ignored (the same ones)."""
        return self._each(Engine.as_replica, fn, args)[0].result()

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
