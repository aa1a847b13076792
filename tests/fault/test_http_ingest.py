"""HTTP ingest under slow, idle and too many clients: every connection is bounded in time
and number, each cut is counted, and the listener keeps serving everyone else."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.support.daemon import DaemonProcess, classic_api, event, log_handler

pytestmark = pytest.mark.e2e

APPS = {"a.json": classic_api("a", {"AuthFailure": [log_handler("ingest")]})}
BODY = json.dumps(event("AuthFailure", "a", {"Path": "/ok"})).encode()
POST = b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


def limits(**http: float) -> dict:
    return {"tykevents": {"http": http}}


def connect(d: DaemonProcess, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", d.events_http), timeout=timeout)


def read_to_eof(s: socket.socket) -> bytes:
    """Everything the daemon writes until it closes (socket timeout: the test fails)."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_trickled_body_is_cut_after_body_timeout_and_counted(run_daemon):
    d = run_daemon(apps=APPS, conf=limits(body_timeout=1, idle_timeout=30))
    head = b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    with connect(d) as s:
        s.sendall(head)
        t0 = time.monotonic()
        try:
            for b in BODY[:15]:  # a byte every 0.2 s, until the daemon hangs up
                s.sendall(bytes([b]))
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(3)
        answer = read_to_eof(s)
        took = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 0.9 < took < 4, took
    assert d.metric("tykevents_http_body_timeouts_total") == 1
    assert d.stats()["records"] == 0  # nothing of the cut body was taken
    status, body = d.post_http(BODY)  # the listener serves everyone else
    assert (status, body) == (202, {"records": 1, "rejected": 0})


def test_idle_and_silent_connections_are_closed_after_idle_timeout(run_daemon):
    d = run_daemon(apps=APPS, conf=limits(idle_timeout=1))
    silent = [connect(d) for _ in range(20)]  # never send a byte
    slow_head = connect(d)
    slow_head.sendall(b"POST /events HTTP/1.1\r\nHost: t\r\n")  # and never finish the head
    kept = connect(d)  # one request, then idle on a keep-alive connection
    kept.sendall(POST)
    assert kept.recv(65536).startswith(b"HTTP/1.1 202 ")
    d.wait_until(lambda: d.metric("tykevents_http_connections", listener="events") == 22, 5, "22 open")
    t0 = time.monotonic()
    try:
        for s in (*silent, slow_head, kept):
            s.settimeout(5)
            assert closed_by_peer(s)
        assert time.monotonic() - t0 < 4
    finally:
        for s in (*silent, slow_head, kept):
            s.close()
    d.wait_until(lambda: d.metric("tykevents_http_connections", listener="events") == 0, 5, "all closed")
    assert d.metric("tykevents_http_idle_closed_total", listener="events") == 22
    assert d.post_http(BODY)[0] == 202


def test_connections_over_the_cap_are_refused_and_counted(run_daemon):
    d = run_daemon(apps=APPS, conf=limits(max_connections=5, idle_timeout=30))
    held = [connect(d) for _ in range(5)]
    try:
        d.wait_until(lambda: d.metric("tykevents_http_connections", listener="events") == 5, 5, "5 open")
        for _ in range(3):
            with connect(d) as extra:
                extra.settimeout(5)
                assert read_to_eof(extra).startswith(b"HTTP/1.1 503 ")
        assert d.metric("tykevents_http_connections_refused_total", listener="events") == 3
        # the held connections were not disturbed: one of them still posts
        held[0].sendall(POST)
        assert held[0].recv(65536).startswith(b"HTTP/1.1 202 ")
    finally:
        for s in held:
            s.close()
    d.wait_until(lambda: d.metric("tykevents_http_connections", listener="events") == 0, 5, "all closed")
    assert d.post_http(BODY)[0] == 202  # room again
    d.wait_log(r"ingest:AuthFailure", count=2)


def test_each_listener_has_its_own_cap(run_daemon):
    d = run_daemon(apps=APPS, conf=limits(max_connections=3, idle_timeout=30))
    events = [connect(d) for _ in range(3)]  # the events listener is full...
    try:
        d.wait_until(lambda: d.metric("tykevents_http_connections", listener="events") == 3, 5, "3 open")
        assert d.health()["status"] == "running"  # ...and the metrics listener still answers
        ops = [socket.create_connection(("127.0.0.1", d.http), timeout=5) for _ in range(3)]
        with socket.create_connection(("127.0.0.1", d.http), timeout=5) as extra:
            assert read_to_eof(extra).startswith(b"HTTP/1.1 503 ")
        for s in ops:
            s.close()
        time.sleep(0.3)  # the daemon sees them closed before the next scrape connects
        d.wait_until(lambda: d.metric("tykevents_http_connections", listener="metrics") <= 1, 5, "closed")
        assert d.metric("tykevents_http_connections_refused_total", listener="metrics") == 1
    finally:
        for s in events:
            s.close()
