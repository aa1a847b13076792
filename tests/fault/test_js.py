"""JS handlers under faults, through the real daemon: a TykMakeHttpRequest to a server that
never answers is cut at its call's time limit and holds up no other API's handlers, SIGTERM
with such calls in flight ends within drain_timeout and says what it abandoned, a 10 MiB
log() line is written capped, and a script outside the allowed directories is refused
(docs/compatibility.md, JavaScript handlers)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, classic_api, event
from tests.support.threaded import ThreadedReceiver

pytestmark = pytest.mark.e2e

HANG = """
var hangHandler = new TykJS.TykEventHandlers.NewEventHandler({});
hangHandler.NewHandler(function (event, context) {
    var r = TykMakeHttpRequest(JSON.stringify({Domain: event.Meta.Target, Resource: "/never"}));
    log("hang handler went on: " + r);
});
"""
PING = """
var pingHandler = new TykJS.TykEventHandlers.NewEventHandler({});
pingHandler.NewHandler(function (event, context) {
    TykMakeHttpRequest(JSON.stringify({Method: "POST", Domain: event.Meta.Target,
                                       Resource: "/ping/" + event.Meta.N}));
});
"""
LOUD = """
var loudHandler = new TykJS.TykEventHandlers.NewEventHandler({});
loudHandler.NewHandler(function (event, context) {
    var s = "y".repeat(10 * 1024 * 1024);
    log(s);
    rawlog(s);
    log("loud handler done");
});
"""
MIB10 = 10 * 1024 * 1024
MARK = f"…[truncated: {MIB10} bytes in all]"


class HangServer:
    """Accepts TCP connections and never answers (nor reads): a target that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def hang() -> Iterator[HangServer]:
    s = HangServer()
    yield s
    s.close()


def js(name: str, path: str) -> dict[str, Any]:
    return {"handler_name": "eh_dynamic_handler", "handler_meta": {"name": name, "path": path}}


def start(run_daemon: Any, js_conf: dict[str, Any], **tykevents: Any) -> DaemonProcess:
    apps = {
        "a.json": classic_api("a", {"Hang": [js("hangHandler", "event_handlers/hang.js")]}),
        "b.json": classic_api(
            "b",
            {
                "Ping": [js("pingHandler", "event_handlers/ping.js")],
                "Loud": [js("loudHandler", "event_handlers/loud.js")],
            },
        ),
    }
    files = {"event_handlers/hang.js": HANG, "event_handlers/ping.js": PING, "event_handlers/loud.js": LOUD}
    conf = {"enable_jsvm": True, "tykevents": {"js": js_conf, **tykevents}}
    return run_daemon(conf=conf, apps=apps, files=files)


def test_a_hanging_http_call_is_cut_at_its_limit_and_stalls_no_other_api(run_daemon, hang):
    arrived: dict[str, float] = {}

    def note(r: Any) -> int:
        arrived[r.target] = time.monotonic()
        return 200

    rcv = ThreadedReceiver(note)
    try:
        d = start(run_daemon, {"call_time_limit": 2.0, "http_timeout": 30})
        t0 = time.monotonic()
        # More hanging calls than one API may hold: API b keeps a VM of its own.
        d.send_udp([event("Hang", "a", {"Target": hang.url}) for _ in range(3)])
        d.wait_until(lambda: len(hang.conns) >= 2, 5, "two hanging requests")
        latencies = []
        for n in range(10):
            sent = time.monotonic()
            d.send_udp([event("Ping", "b", {"Target": rcv.url("").rstrip("/"), "N": n})])
            rcv.wait_for(n + 1, timeout=10)
            latencies.append(arrived[f"/ping/{n}"] - sent)
        assert max(latencies) < 0.5, latencies
        # Each hanging call ends at its own limit, its HTTP included, as a timeout.
        d.wait_until(lambda: d.metric("tykevents_js_total", what="timeouts") >= 3, 10, "3 timeouts")
        assert time.monotonic() - t0 < 8  # two at a time, 2 s each: not the 30 s HTTP timeout
        d.wait_log(
            r"executing JSVM method hangHandler\.DoProcessEvent at event_handlers/hang\.js:4: "
            r"stopped by the time limit",
            count=1,
        )
        assert "hang handler went on" not in d.log()
        assert d.metric("tykevents_js_total", what="abandoned") == 0
        assert d.stop() == 0
    finally:
        rcv.close()


def test_sigterm_with_hanging_js_calls_ends_within_drain_timeout(run_daemon, hang):
    drain = 2.0
    d = start(run_daemon, {"call_time_limit": 30, "http_timeout": 30}, drain_timeout=drain)
    d.send_udp([event("Hang", "a", {"Target": hang.url}) for _ in range(4)])
    d.wait_until(lambda: len(hang.conns) >= 2, 5, "two hanging requests")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc is not None
    code = d.proc.wait(drain + 15)
    elapsed = time.monotonic() - t0
    print(f"shutdown with hanging JS HTTP calls: {elapsed:.2f}s (drain_timeout {drain}s)")
    assert code == 0
    assert elapsed < drain + 1.5, elapsed
    d.wait_log(r"JS runtime closed: 4 calls abandoned \(their callers had stopped waiting\)")
    assert d.log().index("JS runtime closed") < d.log().index("stopped (")


def test_a_10_mib_log_line_is_written_capped(run_daemon):
    d = start(run_daemon, {})
    d.send_udp([event("Loud", "b", {})])
    d.wait_log(r"loud handler done")
    d.stop()
    log = d.log()
    assert log.count(MARK) == 2  # log() and rawlog
    assert "y" * 8192 + MARK in log and "y" * 8193 not in log
    assert d.log_path.stat().st_size < 64 * 1024


def test_a_script_outside_the_allowed_directories_is_refused(run_daemon, tmp_path):
    (tmp_path / "outside.js").write_text(HANG)
    apps = {
        "c.json": classic_api(
            "c",
            {
                "Hang": [js("hangHandler", "../outside.js")],
                "Ping": [js("pingHandler", "event_handlers/ping.js")],
            },
        )
    }
    d = run_daemon(subdir="d", conf={"enable_jsvm": True}, apps=apps, files={"event_handlers/ping.js": PING})
    [line] = d.wait_log(r"c\.json:\$\.event_handlers\.events\.Hang\[0\]")
    assert "handler_meta.path '../outside.js' is outside the allowed directories" in line
    health = d.health()
    assert health["handlers"] == 1 and health["status"] == "running"  # the API's other handler
