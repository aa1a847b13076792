"""Logging set-up: text or JSON lines to stderr (journald), a file, or syslog.

Text lines look like Tyk's logrus lines (`time=... level=warning message=...`, as Tyk
configures logrus) so that existing log searches keep working; under journald (JOURNAL_STREAM
set) the timestamp is left to the journal, and when stderr is the journal stream each line
starts with its syslog priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug, as
sd-daemon.h's SD_ERR...), which journald strips and stores, so `journalctl -p warning` filters
by level. Extra fields (api_id, ...) are appended as key=value / JSON members.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time

import orjson

from tykevents.runtime.systemd import is_journal_stream
from tykevents.runtime.workers import ENV as WORKER_ENV

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STD}


def _quote(v: object) -> str:
    s = str(v)
    if s and all(c.isalnum() or c in "-_./:@" for c in s):
        return s
    return orjson.dumps(s).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, timestamps: bool) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.timestamps:
            t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            parts.append(f'time="{t}.{int(record.msecs):03d}Z"')
        level = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        parts.append(f"level={level}")
        parts.append(f"logger={record.name}")
        parts.append(f"message={_quote(record.getMessage())}")
        parts += [f"{k}={_quote(v)}" for k, v in _extras(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": "warning" if record.levelno == logging.WARNING else record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update({k: str(v) for k, v in _extras(record).items()})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


class WorkerTag(logging.Filter):
    """Under a supervisor, each record says which worker wrote it (`worker=1`). The index is
    read once per process: logging is set up before the fork, the index is set after it."""

    def __init__(self) -> None:
        super().__init__()
        self._pid = 0
        self._tag = ""

    def filter(self, record: logging.LogRecord) -> bool:
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            raw = os.environ.get(WORKER_ENV, "")
            self._tag = raw.split("/", 1)[0] if raw else ""
        if self._tag:
            record.worker = self._tag
        return True


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (custom levels round down to a known one)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


class JournalStreamHandler(logging.StreamHandler):
    """stderr connected to journald: every line (a traceback's too) gets the record's `<N>`."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return prefix + super().format(record).replace("\n", "\n" + prefix)


def setup_logging(level: str, fmt: str = "text", file: str = "", syslog: str = "") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    handler: logging.Handler
    if syslog:
        handler = logging.handlers.SysLogHandler(address=syslog)
    elif file:
        handler = logging.handlers.WatchedFileHandler(file)  # logrotate-friendly
    elif is_journal_stream(sys.stderr):
        handler = JournalStreamHandler(sys.stderr)
    else:
        handler = logging.StreamHandler(sys.stderr)
    journald = not file and not syslog and bool(os.environ.get("JOURNAL_STREAM"))
    handler.setFormatter(
        JSONFormatter() if fmt == "json" else TextFormatter(timestamps=not journald and not syslog)
    )
    handler.addFilter(WorkerTag())
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level.lower(), logging.INFO) if level else logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
