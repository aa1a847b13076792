"""runtime/: key obfuscation, rate-limited logging, sd_notify, log formats, journald prefixes."""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import sys
import time
import uuid

import orjson
import pytest

from tykevents.runtime.keys import obfuscate_key
from tykevents.runtime.logs import (
    JournalStreamHandler,
    JSONFormatter,
    TextFormatter,
    setup_logging,
    syslog_priority,
)
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.runtime.systemd import Notifier, is_journal_stream

# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, shown",
    [
        ("", "--"),
        ("abc", "--"),
        ("abcd", "--"),
        ("abcde", "****bcde"),
        ("5e9d9544a1dcd60001d0ed20f8e2a3b1c", "****3b1c"),
    ],
)
def test_obfuscate_key(key, shown):
    assert obfuscate_key(key) == shown
    assert obfuscate_key(key, enable_key_logging=True) == key


# --- ratelog ------------------------------------------------------------------------------


def test_rate_limited_log(caplog):
    log = RateLimitedLog(logging.getLogger("test.ratelog"), interval=0.2)
    with caplog.at_level(logging.INFO, logger="test.ratelog"):
        for i in range(4):
            log.log(logging.WARNING, "bad", "bad record %d", i)
        log.log(logging.INFO, "other", "other reason")
        assert [r.getMessage() for r in caplog.records] == ["bad record 0", "other reason"]
        time.sleep(0.25)
        log.log(logging.WARNING, "bad", "bad record %d", 9)
        log.log(logging.WARNING, "bad", "bad record %d", 10)
        time.sleep(0.25)
        log.log(logging.ERROR, "bad", "bad record %d", 11, exc_info=False)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[2:] == [
        "bad record 9 (3 similar lines suppressed)",
        "bad record 11 (1 similar lines suppressed)",
    ]
    assert caplog.records[2].levelno == logging.WARNING and caplog.records[3].levelno == logging.ERROR


# --- systemd ------------------------------------------------------------------------------


def bound(path_or_abstract: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path_or_abstract)
    s.settimeout(1)
    return s


def recv(s: socket.socket) -> list[str]:
    return s.recv(4096).decode().split("\n")


def test_notifier_path_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    with bound(path) as s:
        n = Notifier({"NOTIFY_SOCKET": path})
        assert n.enabled
        n.ready()
        assert recv(s) == ["READY=1", "STATUS=running"]
        n.ready("listening on udp 127.0.0.1:9900")
        assert recv(s) == ["READY=1", "STATUS=listening on udp 127.0.0.1:9900"]
        before = time.monotonic() * 1e6
        n.reloading()
        msg = recv(s)
        after = time.monotonic() * 1e6
        assert msg[0] == "RELOADING=1" and msg[2] == "STATUS=reloading"
        # CLOCK_MONOTONIC, as systemd compares it with its own reading.
        usec = int(re.fullmatch(r"MONOTONIC_USEC=(\d+)", msg[1]).group(1))
        assert before - 1 <= usec <= after + 1
        n.stopping()
        assert recv(s) == ["STOPPING=1", "STATUS=draining"]
        n.watchdog()
        assert recv(s) == ["WATCHDOG=1"]
        n.status("3 apis")
        assert recv(s) == ["STATUS=3 apis"]


def test_notifier_abstract_socket():
    name = f"tykevents-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with bound("\0" + name) as s:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        n.ready()
        assert recv(s) == ["READY=1", "STATUS=running"]


def test_notifier_without_systemd_is_a_no_op(tmp_path):
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval == 0
    n.ready()
    n.watchdog()
    # The socket has gone away (systemd restarted): best effort, no exception.
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready()


def test_notifier_default_env_is_os_environ(monkeypatch, tmp_path):
    path = str(tmp_path / "n.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    with bound(path) as s:
        n = Notifier()
        n.watchdog()
        assert recv(s) == ["WATCHDOG=1"]
    assert n.watchdog_interval == 2.0


@pytest.mark.parametrize(
    "env, interval",
    [
        ({"WATCHDOG_USEC": "2000000"}, 1.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 0.0),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, 0.0),
        ({"WATCHDOG_USEC": "soon"}, 0.0),
        ({"WATCHDOG_USEC": "-5"}, 0.0),
        ({}, 0.0),
    ],
)
def test_watchdog_interval_is_half_the_timeout(env, interval):
    assert Notifier({"NOTIFY_SOCKET": "/run/systemd/notify", **env}).watchdog_interval == interval


# --- logs ---------------------------------------------------------------------------------


def record(msg="testprefix:AuthFailure", level=logging.WARNING, args=(), **extra) -> logging.LogRecord:
    r = logging.LogRecord("tykevents.handler.log", level, __file__, 1, msg, args, None)
    r.__dict__.update(extra)
    return r


def test_text_format():
    line = TextFormatter(timestamps=True).format(record(api_id="api1"))
    assert re.fullmatch(
        r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" level=warning '
        r"logger=tykevents.handler.log message=testprefix:AuthFailure api_id=api1",
        line,
    ), line
    line = TextFormatter(timestamps=False).format(record('a b "c"\nd', level=logging.ERROR, n=""))
    assert line == 'level=error logger=tykevents.handler.log message="a b \\"c\\"\\nd" n=""'


def test_text_format_with_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        r = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("h",), sys.exc_info())
    out = TextFormatter(timestamps=False).format(r)
    first, *rest = out.split("\n")
    assert first == 'level=error logger=x message="failed h"'
    assert "ValueError: boom" in rest[-1]


def test_json_format():
    doc = orjson.loads(JSONFormatter().format(record("count %d", args=(3,), api_id="api1", n=5)))
    assert set(doc) == {"time", "level", "logger", "message", "api_id", "n"}
    assert (doc["level"], doc["message"], doc["api_id"], doc["n"]) == ("warning", "count 3", "api1", "5")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["time"])
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        r = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, sys.exc_info())
    assert "ZeroDivisionError" in orjson.loads(JSONFormatter().format(r))["exception"]


@pytest.fixture
def root_logger():
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield root
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in saved:
        root.addHandler(h)
    root.setLevel(level)


def test_setup_logging_to_a_file_in_json(root_logger, tmp_path):
    path = tmp_path / "tykevents.log"
    setup_logging("warn", fmt="json", file=str(path))
    assert root_logger.level == logging.WARNING and len(root_logger.handlers) == 1
    logging.getLogger("tykevents.x").info("hidden")
    logging.getLogger("tykevents.x").warning("shown %s", "here", extra={"api_id": "a"})
    root_logger.handlers[0].flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    doc = orjson.loads(lines[0])
    assert (doc["message"], doc["level"], doc["api_id"], doc["logger"]) == (
        "shown here",
        "warning",
        "a",
        "tykevents.x",
    )


def test_setup_logging_text_levels_and_journald(root_logger, tmp_path, monkeypatch):
    path = tmp_path / "t.log"
    setup_logging("", file=str(path))
    assert root_logger.level == logging.INFO
    assert logging.getLogger("aiohttp.access").level == logging.WARNING
    logging.getLogger("a").info("hello")
    root_logger.handlers[0].flush()
    assert path.read_text().startswith('time="')
    setup_logging("DEBUG")
    assert root_logger.level == logging.DEBUG
    setup_logging("bogus")
    assert root_logger.level == logging.INFO
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    setup_logging("info")  # stderr under journald: the journal stamps the time
    assert root_logger.handlers[0].formatter.timestamps is False


# --- journald -------------------------------------------------------------------------------------


def _journal_of(f) -> dict[str, str]:
    st = os.fstat(f.fileno())
    return {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}


def test_is_journal_stream_matches_device_and_inode(tmp_path):
    with open(tmp_path / "a", "w") as a, open(tmp_path / "b", "w") as b:
        env = _journal_of(a)
        assert is_journal_stream(a, env)
        assert not is_journal_stream(b, env)  # inherited, but stderr went elsewhere
        for value in ("", "8", "8:", "x:1", "8:1:2"):
            assert not is_journal_stream(a, {"JOURNAL_STREAM": value})
        assert not is_journal_stream(a, {})
    assert not is_journal_stream(a, env)  # closed: fileno() raises
    assert not is_journal_stream(io.StringIO(), env)  # no file at all


@pytest.mark.parametrize(
    "level, prio",
    [
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
        (logging.DEBUG, 7),
        (5, 7),
        (25, 6),
    ],
)
def test_syslog_priority(level, prio):
    assert syslog_priority(level) == prio


def test_journal_handler_prefixes_every_line():
    h = JournalStreamHandler(io.StringIO())
    h.setFormatter(TextFormatter(timestamps=False))
    assert h.format(record(level=logging.ERROR)).startswith("<3>level=error ")
    assert h.format(record()).startswith("<4>level=warning ")
    assert h.format(record(level=logging.INFO)).startswith("<6>level=info ")
    try:
        raise ValueError("boom")
    except ValueError:
        r = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    lines = h.format(r).split("\n")
    assert len(lines) > 2 and all(ln.startswith("<3>") for ln in lines)  # a traceback stays an error
    h.setFormatter(JSONFormatter())
    out = h.format(record(level=logging.DEBUG))
    assert out.startswith("<7>{") and orjson.loads(out[3:])["level"] == "debug"


def test_setup_logging_prefixes_only_on_the_journal_stream(root_logger, tmp_path, monkeypatch):
    with open(tmp_path / "journal", "w") as journal:
        monkeypatch.setattr(sys, "stderr", journal)
        monkeypatch.setenv("JOURNAL_STREAM", _journal_of(journal)["JOURNAL_STREAM"])
        setup_logging("info")
        logging.getLogger("tykevents.x").warning("careful")
        logging.getLogger("tykevents.x").info("fine")
        setup_logging("info", fmt="json")
        logging.getLogger("tykevents.x").error("bad")
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        setup_logging("info")
        assert type(root_logger.handlers[0]) is logging.StreamHandler
        logging.getLogger("tykevents.x").error("elsewhere")
    lines = (tmp_path / "journal").read_text().splitlines()
    assert lines[0] == "<4>level=warning logger=tykevents.x message=careful"
    assert lines[1] == "<6>level=info logger=tykevents.x message=fine"
    assert lines[2].startswith('<3>{"time":')
    assert lines[3] == "level=error logger=tykevents.x message=elsewhere"
