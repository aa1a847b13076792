"""A Python handler's process, seen from the daemon (the process itself is worker.py).

Started on the handler's first call, it serves one call at a time. A call past its time limit
costs only its own handler: the process is killed (a thread could not be), the call fails
and is counted, and the next call starts a fresh process, importing the bundle again. A
process that cannot import its bundle is not tried again for RETRY_AFTER seconds; the calls
meanwhile fail at once. What the handler prints, and what it logs with TykGateway.log, goes
to the daemon's log (logger `tykevents.python`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tykevents.deliver.python.stats import STATS

logger = logging.getLogger("tykevents.python")

WORKER = Path(__file__).with_name("worker.py")
RETRY_AFTER = 5.0
_LINE_LIMIT = 4 << 20  # one protocol line (a log message or a result) at most
_PRINT_LIMIT = 8192  # characters of one printed line that reach the log
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}


class PythonHandlerError(Exception):
    """The call failed: the handler raised, timed out, or its process could not run it."""


def command(interpreter: str, module: Path, bundle: Path, probe: bool = False) -> list[str]:
    return [
        interpreter or sys.executable,
        str(WORKER),
        str(module),
        str(bundle),
        *(["--probe"] if probe else []),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def probe(interpreter: str, module: Path, bundle: Path, time_limit: float) -> list[str]:
    """Import the bundle in a throwaway process: the names of its @Event functions.
    Raises PythonHandlerError with the import's traceback (or a timeout)."""
    try:
        done = subprocess.run(
            command(interpreter, module, bundle, probe=True),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=time_limit,
            env=_env(),
        )
    except subprocess.TimeoutExpired:
        raise PythonHandlerError(f"importing {module} took more than {time_limit:g}s") from None
    except OSError as e:
        raise PythonHandlerError(f"cannot run {interpreter or sys.executable}: {e}") from None
    for line in done.stdout.splitlines():
        msg = orjson.loads(line)
        if msg.get("op") == "ready":
            return list(msg["events"])
        if msg.get("op") == "load_error":
            raise PythonHandlerError(f"importing {module}:\n{msg['error'].rstrip()}")
    err = done.stderr.decode(errors="replace").strip()[-2000:]
    raise PythonHandlerError(f"the handler process for {module} exited with {done.returncode}: {err}")


def _discard(fut: asyncio.Future[Any]) -> None:
    """A call given up: its answer, should the reader still set one, is not wanted."""
    if fut.done() and not fut.cancelled():
        fut.exception()  # retrieved, so asyncio does not report it
    fut.cancel()


class HandlerProcess:
    def __init__(self, argv: list[str], label: str, call_time_limit: float, load_time_limit: float) -> None:
        self.argv = argv
        self.label = label  # for log lines: the handler's name and where it is defined
        self.call_time_limit = call_time_limit
        self.load_time_limit = load_time_limit
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: asyncio.Future[None] | None = None
        self._pending: tuple[int, asyncio.Future[str | None]] | None = None
        self._lock: asyncio.Lock | None = None
        self._ids = 0
        self._started = 0
        self._failed_at = 0.0
        self._load_error = ""
        self._closed = False

    async def call(self, event: bytes) -> None:
        """Run the handler on one event (Tyk's coprocess event JSON); raises PythonHandlerError."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            proc = await self._running()
            self._ids += 1
            fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            self._pending = (self._ids, fut)
            STATS.calls += 1
            try:
                assert proc.stdin is not None
                proc.stdin.write(b'{"op":"call","id":%d,"event":%s}\n' % (self._ids, event))
                async with asyncio.timeout(self.call_time_limit):
                    await proc.stdin.drain()
                    error = await fut
            except TimeoutError:
                _discard(fut)
                STATS.failures += 1
                STATS.timeouts += 1
                await self._kill()
                why = f"timed out after {self.call_time_limit:g}s (tykevents.python.call_time_limit)"
                # Said here too: the lane's failure lines are rate-limited per kind.
                logger.error("%s: %s: its process was killed", self.label, why)
                raise PythonHandlerError(f"{why}: its process was killed") from None
            except (ConnectionError, PythonHandlerError) as e:
                _discard(fut)
                STATS.failures += 1
                await self._kill()
                raise PythonHandlerError(f"its process stopped during the call: {e}") from None
            finally:
                self._pending = None
            if error is not None:
                STATS.failures += 1
                raise PythonHandlerError(error.rstrip())

    async def _running(self) -> asyncio.subprocess.Process:
        if self._closed:
            raise PythonHandlerError("the handler is closed")
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        if self._load_error and time.monotonic() - self._failed_at < RETRY_AFTER:
            STATS.failures += 1
            raise PythonHandlerError(self._load_error)
        try:
            return await self._start()
        except PythonHandlerError as e:
            STATS.load_errors += 1
            STATS.failures += 1
            self._load_error, self._failed_at = str(e), time.monotonic()
            await self._kill()
            raise

    async def _start(self) -> asyncio.subprocess.Process:
        if self._started:
            STATS.restarts += 1
        self._started += 1
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_env(),
                limit=_LINE_LIMIT,
            )
        except OSError as e:
            raise PythonHandlerError(f"cannot start {self.argv[0]}: {e}") from None
        self._proc = proc
        self._tasks = [
            asyncio.create_task(self._read_results(proc), name=f"python-{self.label}"),
            asyncio.create_task(self._read_prints(proc), name=f"python-err-{self.label}"),
        ]
        try:
            async with asyncio.timeout(self.load_time_limit):
                await self._ready
        except TimeoutError:
            raise PythonHandlerError(f"importing took more than {self.load_time_limit:g}s") from None
        self._load_error = ""
        return proc

    async def _read_results(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                self._on_message(orjson.loads(line))
        except (ValueError, orjson.JSONDecodeError) as e:  # a line over the limit, or garbage
            logger.error("%s: unreadable answer from its process: %s", self.label, e)
        code = await proc.wait()
        lost = PythonHandlerError(f"exit status {code}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(lost)
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(lost)

    def _on_message(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "result" and self._pending is not None and msg.get("id") == self._pending[0]:
            if not self._pending[1].done():
                self._pending[1].set_result(msg.get("error"))
        elif op == "log":
            level = _LEVELS.get(str(msg.get("level", "info")).lower(), logging.INFO)
            logger.log(level, "%s", msg.get("message", ""), extra={"handler": self.label})
        elif op == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        elif op == "load_error" and self._ready is not None and not self._ready.done():
            self._ready.set_exception(
                PythonHandlerError(f"importing failed:\n{msg.get('error', '')}".rstrip())
            )

    async def _read_prints(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            try:
                line = await proc.stderr.readline()
            except ValueError:  # a line over the limit: skip to its end
                line = await proc.stderr.read(_LINE_LIMIT)
            if not line:
                return
            text = line.decode(errors="replace").rstrip()[:_PRINT_LIMIT]
            if text:
                logger.info("%s", text, extra={"handler": self.label})

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                logger.error("%s: its process did not exit after SIGKILL", self.label)
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        await self._kill()
