"""A size cap on every line JS can make the daemon write (docs/compatibility.md).

Scripts reach the logs through log(), rawlog, console and every error that carries their
text (a thrown message, a request URL). HostAPI caps the lines it writes itself with its
runtime's `max_log_bytes`; FILTER, on the `tykevents.jsvm` logger, caps every other record of
that logger with the limit the newest runtime set. A capped line ends with MARKER.

Replica VMs of a pool load every script again: the lines they would repeat are muted on their
thread (`muted`), so a script's load-time output appears once, as with Tyk's one VM.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator

DEFAULT_LIMIT = 8192  # bytes of UTF-8
MARKER = "…[truncated: {n} bytes in all]"
_MARKED = re.compile(re.escape(MARKER).replace(r"\{n\}", r"\d+") + r"\Z")
_MARKER_BYTES = len(MARKER.format(n=1 << 64).encode())


class _Local(threading.local):
    muted = False  # a class default: no AttributeError to pay for on every lookup


_local = _Local()
_muting = 0  # threads muted now: while 0, nobody asks the thread-local
_count = threading.Lock()


def cap(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8 (never inside a character), plus MARKER;
    a text capped already stays as it is."""
    if len(text) <= limit // 4:  # UTF-8 takes at most 4 bytes a character: surely short
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit or (len(raw) <= limit + _MARKER_BYTES and _MARKED.search(text)):
        return text
    return raw[:limit].decode("utf-8", "ignore") + MARKER.format(n=len(raw))


def is_muted() -> bool:
    return bool(_muting) and _local.muted


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """Drop what this thread's JS would log meanwhile (a replica loading its scripts)."""
    global _muting
    with _count:
        _muting += 1
    _local.muted = True
    try:
        yield
    finally:
        _local.muted = False
        with _count:
            _muting -= 1


class CapFilter(logging.Filter):
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        if _muting and _local.muted:
            return False
        msg = record.msg
        if not record.args and type(msg) is str and len(msg) <= self.limit // 4:
            return True  # the usual line: surely short, nothing to format
        msg = record.getMessage()
        capped = cap(msg, self.limit)
        if capped is not msg:
            record.msg, record.args = capped, None
        return True


FILTER = CapFilter()
logging.getLogger("tykevents.jsvm").addFilter(FILTER)
