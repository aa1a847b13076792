"""Ingest connections spread evenly over the workers (tykevents/ingest/balance.py): the real
daemon with two workers, real TCP, Unix stream and HTTP keep-alive connections held open, and
each worker's count read from /metrics (tykevents_ingest_connections{worker}).

SO_REUSEPORT alone splits TCP connections by a hash (16 connections land 8/8 about one time in
five) and leaves Unix stream connections all on worker 0."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from tests.support.daemon import DaemonProcess, classic_api, event, log_handler
from tests.workers.test_workers import start, workers

APPS = {"a.json": classic_api("a", {"AuthFailure": [log_handler("w")]})}


def per_worker(d: DaemonProcess) -> dict[int, int]:
    found = re.findall(r'^tykevents_ingest_connections\{worker="(\d+)"\} (\S+)$', d.metrics(), re.M)
    return {int(w): int(float(v)) for w, v in found}


def held(stack: ExitStack, d: DaemonProcess, n: int, unix: bool = False) -> Iterator[socket.socket]:
    """Open n stream connections one at a time, each seen by the daemon before the next."""
    for i in range(n):
        before = sum(per_worker(d).values())
        if unix:
            s = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            s.connect(d.unix_stream)
        else:
            s = stack.enter_context(socket.create_connection(("127.0.0.1", d.tcp), timeout=10))
        d.wait_until(lambda b=before: sum(per_worker(d).values()) == b + 1, 10, f"connection {i + 1}")
        yield s


def send(s: socket.socket, path: str) -> None:
    s.sendall(json.dumps(event("AuthFailure", "a", {"Path": path})).encode() + b"\n")


def test_tcp_streams_split_evenly_and_every_event_counts(run_daemon: Any) -> None:
    d = start(run_daemon, apps=APPS)
    with ExitStack() as stack:
        conns = list(held(stack, d, 16))
        assert per_worker(d) == {0: 8, 1: 8}
        for i, s in enumerate(conns):  # a handed-over connection carries its events
            send(s, f"/p{i}")
        d.wait_until(lambda: d.stats_value("events_decoded") == 16, 10, "16 events")
    d.wait_until(lambda: per_worker(d) == {0: 0, 1: 0}, 10, "closed connections counted out")
    with ExitStack() as stack:
        list(held(stack, d, 4))
        assert per_worker(d) == {0: 2, 1: 2}
    assert d.metric("tykevents_ingest_connections_handed_over_total") > 0


def test_unix_streams_reach_both_workers(run_daemon: Any) -> None:
    d = start(run_daemon, apps=APPS)
    with ExitStack() as stack:
        conns = list(held(stack, d, 6, unix=True))
        assert per_worker(d) == {0: 3, 1: 3}  # worker 0 holds the path and hands half over
        assert d.metric("tykevents_ingest_connections_handed_over_total") == 3
        for i, s in enumerate(conns):
            send(s, f"/u{i}")
        d.wait_until(lambda: d.stats_value("events_decoded") == 6, 10, "6 events")


def test_a_restarted_worker_takes_the_new_streams_until_even(run_daemon: Any) -> None:
    d = start(run_daemon, apps=APPS)
    with ExitStack() as stack:
        list(held(stack, d, 4))
        assert per_worker(d) == {0: 2, 1: 2}
        second = workers(d)[1]  # forked second: worker 1
        os.kill(second, signal.SIGKILL)  # its two streams end with it
        d.wait_until(lambda: per_worker(d) == {0: 2, 1: 0}, 20, "worker 1 started again, empty")
        list(held(stack, d, 4))
        assert per_worker(d) == {0: 3, 1: 3}


def keep_alive(stack: ExitStack, d: DaemonProcess, n: int) -> list[http.client.HTTPConnection]:
    """n HTTP/1.1 connections to /events, each with one answered POST and kept open."""
    out = []
    for i in range(n):
        before = sum(per_worker(d).values())
        c = http.client.HTTPConnection("127.0.0.1", d.events_http, timeout=10)
        stack.callback(c.close)
        body = json.dumps(event("AuthFailure", "a", {"Path": f"/h{i}"})).encode()
        c.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        resp.read()
        assert resp.status < 300, resp.status
        d.wait_until(lambda b=before: sum(per_worker(d).values()) == b + 1, 10, f"HTTP connection {i + 1}")
        out.append(c)
    return out


def test_http_keep_alive_connections_and_streams_share_one_balance(run_daemon: Any) -> None:
    d = start(run_daemon, apps=APPS)
    with ExitStack() as stack:
        keep_alive(stack, d, 4)
        assert per_worker(d) == {0: 2, 1: 2}
        list(held(stack, d, 2))
        assert per_worker(d) == {0: 3, 1: 3}
        d.wait_until(lambda: d.stats_value("events_decoded") == 4, 10, "the 4 posted events")
