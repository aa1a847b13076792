"""Webhook delivery under faults, through the real daemon: nothing accepted on a lossless
transport is dropped (backpressure reaches the sender), hostile targets end delivered or
dead-lettered without holding up the others, dead letters survive a store that cannot be
written (or the exit status says they did not), and reloads under load lose nothing."""

from __future__ import annotations

import collections
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event
from tests.support.overload import slow
from tests.support.threaded import ThreadedReceiver, threaded_receivers
from tests.webhook.receiver import Action, RawRequest, response

pytestmark = pytest.mark.e2e

PAD = "x" * 1000  # a Meta field no template reads: it makes the stream big enough to fill buffers
SMALL = {
    "lanes": {"webhook_queue": 64, "webhook_workers": 8},
    "webhooks": {"pending_limit": 100, "max_per_host": 10, "timeout": 10},
}


def hook(url: str, **meta: Any) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 0, **meta},
    }


def numbered(n: int, api_id: str = "a", start: int = 0, pad: str = "") -> list[bytes]:
    """AuthFailure events whose rendered bodies differ (the Path), as JSON lines."""
    meta = {"Message": "m", "Origin": "10.0.0.1", "Key": "k1234567"}
    return [
        json.dumps(event("AuthFailure", api_id, {**meta, "Path": f"/p{i}", "Pad": pad})).encode() + b"\n"
        for i in range(start, start + n)
    ]


def path_of(body: bytes) -> str:
    return json.loads(body)["path"]


@pytest.fixture
def receivers() -> Iterator[Callable[..., ThreadedReceiver]]:
    yield from threaded_receivers()


def send_stream(d: DaemonProcess, lines: list[bytes]) -> float:
    """Write every line on one TCP connection and close it; the seconds sendall took."""
    with socket.create_connection(("127.0.0.1", d.tcp), timeout=120) as s:
        started = time.monotonic()
        s.sendall(b"".join(lines))
        return time.monotonic() - started


def ready(d: DaemonProcess) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.http}/ready", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def wait(cond: Callable[[], Any], timeout: float, what: str, d: DaemonProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            log = d.log()[-4000:] if d is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{log}")
        time.sleep(0.05)


def assert_exactly_once(requests: list[RawRequest], n: int, start: int = 0) -> None:
    paths = collections.Counter(path_of(q.body) for q in requests)
    assert len(paths) == n and set(paths) == {f"/p{i}" for i in range(start, start + n)}
    dups = {p: c for p, c in paths.items() if c > 1}
    assert not dups, f"{len(dups)} delivered more than once"


def dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


# -- (a) backpressure end to end ------------------------------------------------------------------


def test_lossless_tcp_to_a_slow_receiver_holds_the_sender_back(run_daemon, receivers):
    """The issue's 200,000-event case, bounded: a receiver answering in 5 ms, 10 at a time,
    behind a pending limit of 100 and lanes of 64. Every event arrives once; none is dropped;
    the sender spends most of the run blocked."""
    n = 20_000
    r = receivers(slow(0.005, 10))
    d = run_daemon(
        conf={"tykevents": SMALL}, apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url())]})}
    )
    peak = 0
    started = time.monotonic()
    sender = threading.Thread(target=lambda: held.append(send_stream(d, numbered(n, pad=PAD))))
    held: list[float] = []
    sender.start()

    def done() -> bool:
        nonlocal peak
        peak = max(peak, int(d.metric("tykevents_webhook_pending")))
        return len(r.requests) >= n

    wait(done, 120, f"{n} deliveries", d)
    took = time.monotonic() - started
    sender.join(10)
    time.sleep(0.3)
    assert_exactly_once(r.requests, n)
    assert len(r.requests) == n
    assert held and held[0] > took * 0.3, (held, took)  # blocked by the daemon, not buffered
    assert peak <= 100  # pending_limit held
    assert d.metric("tykevents_dropped_total", kind="webhook") == 0
    assert d.metric("tykevents_webhook_dropped_total") == 0
    assert d.stop() == 0


def test_lossless_http_ingest_waits_before_answering(run_daemon, receivers):
    """POST /events answers once its records are queued: with the webhook stage full, the
    response waits, so a client that got 202 for everything lost nothing."""
    n, batch = 4000, 500
    r = receivers(slow(0.002, 10))
    d = run_daemon(
        conf={"tykevents": SMALL}, apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url())]})}
    )
    for i in range(0, n, batch):
        status, body = d.post_http(b"".join(numbered(batch, start=i)))
        assert status == 202 and body == {"records": batch, "rejected": 0}
    # The last answer came only once the rest fitted: lane (64) + workers (8) + pending (100).
    assert len(r.requests) >= n - batch - 64 - 8 - 100 - 10
    wait(lambda: len(r.requests) >= n, 60, "every delivery", d)
    time.sleep(0.3)
    assert_exactly_once(r.requests, n)
    assert d.metric("tykevents_dropped_total", kind="webhook") == 0
    assert d.stop() == 0


# -- (d) hostile webhook targets ------------------------------------------------------------------


class ResetServer:
    """Reads a request head, then resets the connection (SO_LINGER 0: an RST, not a FIN)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.resets = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        import struct

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(5)
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.resets += 1
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_hostile_targets_end_delivered_or_dead_lettered(run_daemon, receivers):
    m = 5
    reset = ResetServer()
    targets = {
        "hang": receivers(lambda req: Action("hang")),
        "error": receivers(lambda req: 500),
        "throttle": receivers(lambda req: response(429, {"Retry-After": "3600"})),
        "loop": receivers(lambda req: response(302, {"Location": f"/loop{req.index}"})),
        "huge": receivers(lambda req: Action("huge", size=1 << 30, stream=1 << 30)),  # 1 GiB claimed
        "good": receivers(),
    }
    urls = {name: t.url(f"/{name}") for name, t in targets.items()} | {"reset": reset.url("/reset")}
    events = {name: [hook(url, name=name)] for name, url in urls.items()}
    apps = {f"{name}.json": classic_api(name, {"AuthFailure": h}) for name, h in events.items()}
    conf = {
        "tykevents": {
            "drain_timeout": 2,
            "webhooks": {"timeout": 1, "max_attempts": 3, "backoff_base": 0.05, "backoff_max": 0.2},
        }
    }
    try:
        d = run_daemon(conf=conf, apps=apps)
        started = time.monotonic()
        for name in urls:
            d.send_udp([json.loads(line) for line in numbered(m, api_id=name)])
        targets["good"].wait_for(m, timeout=5)
        assert time.monotonic() - started < 4  # not held up by the others (they hang for 10 s or more)

        def outcome(name: str, what: str) -> int:
            host = urls[name].split("/")[2]
            return int(
                d.metric("tykevents_webhook_target_outcomes_total", handler=name, host=host, outcome=what)
            )

        finished = {"hang", "error", "loop", "huge", "reset", "good"}  # the 429s wait an hour
        wait(
            lambda: all(outcome(n, "delivered") + outcome(n, "failed") == m for n in finished),
            30,
            "outcomes",
            d,
        )
        delivered = {n: outcome(n, "delivered") for n in urls}
        assert delivered == {
            "hang": 0,
            "error": 0,
            "throttle": 0,
            "loop": 0,
            "huge": m,
            "reset": 0,
            "good": m,
        }
        assert reset.resets >= m and targets["huge"].receiver.streamed < m * (
            16 << 20
        )  # cut at body_read_limit
        assert d.stop() == 0  # the 429s are abandoned at the drain: dead letters
        letters = collections.Counter(x["handler"] for x in dead_letters(d.tmp / "var" / "dead-letter.jsonl"))
        for name in urls:
            assert delivered[name] + letters[name] == m, (name, delivered, letters)
        throttled = [
            x for x in dead_letters(d.tmp / "var" / "dead-letter.jsonl") if x["handler"] == "throttle"
        ]
        assert all(x["error"].startswith("not delivered before shutdown") for x in throttled)
    finally:
        reset.close()


# -- (e) dead letters that cannot be written -------------------------------------------------------


def failing_hook_daemon(run_daemon: Any, tmp: Path, webhooks: dict[str, Any]) -> DaemonProcess:
    from tests.support.servers import free_port

    refused = f"http://127.0.0.1:{free_port()}/down"
    return run_daemon(
        conf={"tykevents": {"webhooks": {"max_attempts": 1, **webhooks}}},
        apps={"a.json": classic_api("a", {"AuthFailure": [hook(refused)]})},
    )


def check(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_unwritable_dead_letter_file_falls_back(run_daemon, tmp_path: Path):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    d = failing_hook_daemon(
        run_daemon, tmp_path, {"dead_letter_path": str(tmp_path / "blocker" / "dl.jsonl")}
    )
    d.send_udp([json.loads(line) for line in numbered(3)])
    fallback = tmp_path / "var" / "dead-letter.fallback.jsonl"
    wait(lambda: len(dead_letters(fallback)) == 3, 10, "the fallback file", d)
    d.wait_log(r"dead-letter store failed .*written to the fallback")
    assert d.metric("tykevents_webhook_dead_letter_fallbacks_total") == 3
    status, detail = ready(d)
    assert status == 200, detail  # stored: nothing is at risk
    listing = subprocess.run(
        [sys.executable, "-m", "tykevents", "deadletter", "list", "-c", str(d.conf_path), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 3, listing
    out = check(d.conf_path)
    assert out.returncode == 1 and "dead_letter_path" in out.stdout and "not a directory" in out.stdout
    assert "dead_letter_fallback" not in out.stdout, out.stdout
    assert d.stop() == 0


def test_dead_letters_stored_nowhere_make_the_exit_status_fail(run_daemon, tmp_path: Path):
    (tmp_path / "blocker").write_text("")
    d = failing_hook_daemon(
        run_daemon,
        tmp_path,
        {
            "dead_letter_path": str(tmp_path / "blocker" / "dl.jsonl"),
            "dead_letter_fallback": str(tmp_path / "blocker" / "fallback.jsonl"),
        },
    )
    d.send_udp([json.loads(line) for line in numbered(3)])
    wait(
        lambda: d.metric("tykevents_webhook_dead_letters_waiting") == 3, 10, "dead letters kept in memory", d
    )
    # The three wait in memory before the first write has failed on a busy machine: readiness
    # turns once it has.
    wait(lambda: ready(d)[0] == 503, 10, "/ready to report the failing stores", d)
    status, detail = ready(d)
    assert status == 503 and "dead-letter stores failing" in json.dumps(detail)
    out = check(d.conf_path)
    assert out.returncode == 1, out.stdout
    assert "dead_letter_path" in out.stdout and "dead_letter_fallback" in out.stdout
    assert d.stop() == 1
    assert re.search(r"3 dead letters could not be stored .* and are lost", d.log())


def test_dead_letters_abandoned_at_shutdown_with_no_store_fail_the_exit(run_daemon, receivers, tmp_path):
    (tmp_path / "blocker").write_text("")
    r = receivers(lambda req: Action("hang"))
    d = run_daemon(
        conf={
            "tykevents": {
                "drain_timeout": 1,
                "webhooks": {
                    "dead_letter_path": str(tmp_path / "blocker" / "dl.jsonl"),
                    "dead_letter_fallback": str(tmp_path / "blocker" / "fallback.jsonl"),
                },
            }
        },
        apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url())]})},
    )
    d.send_udp([json.loads(line) for line in numbered(2)])
    r.wait_for(2)
    assert d.stop() == 1
    assert "2 dead letters could not be stored" in d.log()


# -- (f) reloads under load --------------------------------------------------------------------------


def test_twenty_reloads_under_load_lose_and_duplicate_nothing(run_daemon, receivers):
    n = 4000
    r = receivers(slow(0.001, 10))
    d = run_daemon(
        conf={"tykevents": SMALL}, apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url())]})}
    )
    lines = numbered(n)
    sender = threading.Thread(target=lambda: [send_stream(d, lines[i : i + 200]) for i in range(0, n, 200)])
    sender.start()
    for gen in range(2, 22):
        d.reload(expect_generation=gen)
    sender.join(60)
    wait(lambda: len(r.requests) >= n, 60, "every delivery", d)
    time.sleep(0.3)
    assert_exactly_once(r.requests, n)
    assert len(r.requests) == n
    assert d.metric("tykevents_dropped_total", kind="webhook") == 0
    assert d.stop() == 0
