"""JS errors with the file and line they come from, and the rate-limited log of handler errors.

QuickJS names every evaluated chunk `<input>`. To report file and line, each file's chunk is
evaluated after as many newlines as the chunks before it had lines (LineMap), so a line
number maps back to one file. That padding grows with every chunk, so loading N handlers
would cost O(N²) newlines; two things keep it flat: our own one-line chunks (a handler's
invoker, the `is_defined` probe) run unpadded on line 1, reserved for them, and a file run
again with the same source (one run per handler naming it) reuses its first lines.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import quickjs

logger = logging.getLogger("tykevents.jsvm")
LOG_EXTRA = {"prefix": "jsvm"}

INTERNAL = "<tykevents>"  # the file name of the chunks tykevents generates
_FRAME = re.compile(r"<input>(?::(\d+))?")
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


class LineMap:
    """Which file each line of the VM's `<input>` belongs to (one map per VM)."""

    def __init__(self) -> None:
        self.segments: list[tuple[int, int, str]] = [(1, 1, INTERNAL)]  # (first line, lines, file)
        self.lines = 1
        self._first: dict[tuple[str, str], int] = {}  # (file, source) -> its first line

    def chunk(self, source: str, file: str) -> str:
        """The text to evaluate for `source` run as `file` (records its lines)."""
        n = source.count("\n") + 1
        if file == INTERNAL and n == 1:
            return source
        first = self._first.get((file, source))
        if first is None:
            first = self._first[(file, source)] = self.lines + 1
            self.segments.append((first, n, file))
            self.lines += n
        return "\n" * (first - 1) + source

    def map(self, line: int) -> tuple[str, int]:
        for first, n, file in reversed(self.segments):
            if first <= line < first + n:
                return file, line - first + 1
        return "?", line

    def where(self, line: int) -> str:
        if not line:
            return "?"
        file, n = self.map(line)
        return f"{file}:{n}"


def js_error(
    e: quickjs.JSException,
    *,
    timed_out: bool,
    file: str,
    lines: LineMap,
    memory_limit: int,
    hidden: tuple[str, ...] = (INTERNAL,),
) -> JSError:
    """A JSError for `e` raised by code run as `file`. The place reported is the innermost
    frame outside `hidden` (our chunks, the bootstrap), so a handler's error names its file."""
    message, _, stack = str(e).partition("\n")
    frames = [lines.map(int(m.group(1))) for m in _FRAME.finditer(stack) if m.group(1)]
    where = next((f for f in frames if f[0] not in hidden), frames[0] if frames else (file, 0))
    pretty = _FRAME.sub(lambda m: lines.where(int(m.group(1) or 0)), stack)
    kind = "error"
    if timed_out:
        kind, message = "timeout", f"stopped by the time limit ({message})"
    elif message in ("null", "") or "out of memory" in message or message.startswith(_NO_STRING):
        # Out of memory, QuickJS may fail to make the error (null) or its string.
        kind, message = "oom", f"out of memory (VM limit {memory_limit} bytes)"
    return JSError(message, where[0], where[1], pretty, kind)


def report_handler_error(h: Any, err: JSError, interval: float) -> None:
    """ERROR with handler name, file and line; at most one line per interval per handler
    (`h` has name, last_log and suppressed)."""
    now = time.monotonic()
    if now - h.last_log < interval:
        h.suppressed += 1
        return
    more = f" ({h.suppressed} more since the last report)" if h.suppressed else ""
    h.last_log, h.suppressed = now, 0
    logger.error(
        "executing JSVM method %s.DoProcessEvent at %s:%s: %s%s",
        h.name,
        err.file,
        err.line or "?",
        err.message,
        more,
        extra={**LOG_EXTRA, "handler": h.name},
    )
    if err.stack:
        logger.debug("JS stack of %s:\n%s", h.name, err.stack, extra=LOG_EXTRA)
