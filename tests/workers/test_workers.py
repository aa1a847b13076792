"""`workers`: the real daemon as a supervisor of two workers (tykevents/supervisor.py).

Every port is shared with SO_REUSEPORT, so senders on distinct source ports reach both
workers; what one worker does must hold for all: reload and drain reach every worker, one that
dies is started again, worker 0's /metrics sums both, and with Redis state a killed worker's
accepted deliveries are delivered by the worker that replaces it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, classic_api, event, log_handler
from tests.support.servers import RedisServer, free_port
from tests.support.threaded import ThreadedReceiver, threaded_receivers


@pytest.fixture
def receivers() -> Iterator[Callable[..., ThreadedReceiver]]:
    yield from threaded_receivers()


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def workers(d: DaemonProcess, n: int = 2) -> list[int]:
    assert d.proc is not None
    d.wait_until(lambda: len(children(d.proc.pid)) == n, 20, f"{n} workers")
    return children(d.proc.pid)


def start(run_daemon: Any, conf: dict[str, Any] | None = None, **kw: Any) -> DaemonProcess:
    conf = conf or {}
    d: DaemonProcess = run_daemon(
        conf={**conf, "tykevents": {"workers": 2, **conf.get("tykevents", {})}}, **kw
    )
    d.wait_log(r"all 2 workers ready", timeout=30)
    return d


def send_udp_from_many(d: DaemonProcess, records: list[Any]) -> None:
    """One socket per record: SO_REUSEPORT spreads source ports across the workers."""
    for r in records:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(json.dumps(r).encode(), ("127.0.0.1", d.udp))


def hook(url: str, event_timeout: int = 0) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": event_timeout},
    }


def test_both_workers_take_events_and_metrics_sum_them(run_daemon: Any) -> None:
    d = start(run_daemon, apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("w")]})})
    send_udp_from_many(d, [event("AuthFailure", "a", {"Path": f"/p{i}"}) for i in range(60)])
    d.wait_until(lambda: d.stats_value("events_decoded") == 60, 10, "60 events counted across workers")
    assert 'tykevents_workers{state="up"} 2' in d.metrics()
    d.signal(signal.SIGTERM)
    assert d.proc is not None and d.proc.wait(30) == 0
    per_worker = [int(m) for m in re.findall(r"stopped \(drained.*?'udp': (\d+)", d.log())]
    assert len(per_worker) == 2 and sum(per_worker) == 60 and min(per_worker) > 0, per_worker
    assert re.search(r"worker=0$", d.log(), re.M) and re.search(r"worker=1$", d.log(), re.M)


def test_reload_and_drain_reach_every_worker(run_daemon: Any) -> None:
    d = start(
        run_daemon,
        conf={"secret": "s3cret"},
        apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("w")]})},
    )
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloaded: generation 2", count=2, timeout=20)
    # the admin API's reload (worker 0's) reaches the other worker too
    req = urllib.request.Request(
        f"http://127.0.0.1:{d.admin}/api/reload", method="POST", headers={"x-tyk-authorization": "s3cret"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    d.wait_log(r"reloaded: generation 3", count=2, timeout=20)
    d.signal(signal.SIGTERM)
    assert d.proc is not None and d.proc.wait(30) == 0
    assert len(d.wait_log(r"stopped \(drained, 0 handler calls abandoned\)", count=2)) == 2
    assert "stopped: 2 workers, exit statuses [0, 0]" in d.log()


def test_a_worker_that_dies_is_started_again(run_daemon: Any) -> None:
    d = start(run_daemon, apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("w")]})})
    first = workers(d)
    os.kill(first[1], signal.SIGKILL)
    d.wait_log(r"worker \d \(pid %d\) exited with status -9" % first[1], timeout=10)
    d.wait_until(
        lambda: len(children(d.proc.pid)) == 2 and first[1] not in children(d.proc.pid), 20, "a new worker"
    )  # type: ignore[union-attr]
    d.wait_until(lambda: 'tykevents_workers{state="up"} 2' in d.metrics(), 20, "both workers in /metrics")
    send_udp_from_many(d, [event("AuthFailure", "a", {"Path": f"/p{i}"}) for i in range(20)])
    d.wait_until(lambda: d.stats_value("events_decoded") >= 20, 10, "events after the restart")


def test_a_worker_that_cannot_start_stops_the_daemon(tmp_path: Path) -> None:
    """Redis state without a Redis: the workers cannot start, so the supervisor must not
    restart them forever; it exits with their status."""
    d = DaemonProcess(
        tmp_path,
        conf={
            "storage": {"host": "127.0.0.1", "port": free_port(), "timeout": 1},
            "tykevents": {"workers": 2, "state": "redis"},
        },
    )
    d.start(wait=False)
    assert d.proc is not None
    code = d.proc.wait(60)
    d.stop()
    assert code != 0 and "before the daemon was ready: stopping" in d.log()


def test_a_port_held_by_another_process_is_not_shared(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, conf={"tykevents": {"workers": 2}})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", d.udp))
        d.start(wait=False)
        assert d.proc is not None
        code = d.proc.wait(30)
    d.stop()
    assert code == 1 and f"address in use: 127.0.0.1:{d.udp}" in d.log()


def test_redis_spool_a_killed_worker_s_deliveries_are_delivered(
    run_daemon: Any, receivers: Callable[..., ThreadedReceiver], tmp_path: Path
) -> None:
    """Deliveries a worker has read from the spool and holds in flight when it is killed with
    SIGKILL: they are delivered all the same (by the worker started in its place, which
    reads its consumer's pending entries back, or by the other after spool_claim_after)."""
    import asyncio
    import threading

    import redis as redis_py

    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    client = redis_py.Redis(port=redis.port)
    try:
        release = threading.Event()

        async def held(req: Any) -> int:
            while not release.is_set():
                await asyncio.sleep(0.02)
            return 200

        r = receivers(held)
        conf = {
            "storage": {"host": "127.0.0.1", "port": redis.port},
            "tykevents": {
                "workers": 2,
                "state": "redis",
                "webhooks": {"spool": True, "spool_claim_after": 2, "max_attempts": 3},
            },
        }
        d = start(
            run_daemon, conf=conf, apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url("/h"))]})}
        )
        ws = workers(d)
        n = 40
        send_udp_from_many(d, [event("AuthFailure", "a", {"Path": f"/p{i}"}) for i in range(n)])

        def pending() -> dict[str, int]:
            info = client.xinfo_consumers("tykevents:webhooks", "tykevents")
            return {c["name"].decode(): c["pending"] for c in info}

        d.wait_until(lambda: sum(pending().values()) == n, 30, f"{n} deliveries read from the spool")
        victim = next(name for name, count in pending().items() if count)
        os.kill(ws[int(victim.rsplit("-w", 1)[1])], signal.SIGKILL)
        d.wait_log(r"exited with status -9", timeout=10)
        release.set()
        bodies = lambda: {req.body for req in r.requests}  # noqa: E731  (distinct by Path)
        d.wait_until(lambda: len(bodies()) == n, 40, f"all {n} deliveries (got {len(bodies())})")
        d.wait_until(lambda: sum(pending().values()) == 0, 20, "every spool entry acknowledged")
    finally:
        client.close()
        redis.stop()


def test_systemd_hears_the_supervisor_once_for_all_workers(run_daemon: Any, tmp_path: Path) -> None:
    """READY=1 only once both workers are ready (they notify the supervisor, not systemd),
    RELOADING=1 then READY=1 around a reload of both, STOPPING=1, and the watchdog."""
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(20)
    try:
        d = start(
            run_daemon,
            apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("w")]})},
            env={**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"},
        )
        msgs: list[str] = []

        def until(word: str, after: int = 0) -> None:
            while not any(word in m for m in msgs[after:]):
                msgs.append(sock.recv(4096).decode())

        until("READY=1")
        assert "STATUS=running, 2 workers" in msgs[-1]
        assert d.log().index("all 2 workers ready") >= 0
        until("WATCHDOG=1")
        d.signal(signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1", after=len(msgs))
        d.wait_log(r"reloaded: generation 2", count=2)
        d.signal(signal.SIGTERM)
        until("STOPPING=1")
        assert d.proc is not None and d.proc.wait(30) == 0
        assert sum("READY=1" in m for m in msgs) == 2  # never one per worker
    finally:
        sock.close()


def test_memory_state_cooldown_and_monitor_levels_hold_across_workers(
    run_daemon: Any, receivers: Callable[..., ThreadedReceiver]
) -> None:
    """Memory state: the workers share the cooldown and threshold tables (shared memory made
    before the fork). The same event sent 30 times from 30 source ports (both workers get
    some) fires one webhook within its event_timeout; quota records of one key crossing 80 %
    fire TriggerExceeded once, whichever workers read them."""
    from tests.monitor.conftest import TEMPLATES, session

    r = receivers()
    monitor = {
        "enable_trigger_monitors": True,
        "global_trigger_limit": 80,
        "monitor_user_keys": True,
        "configuration": {
            "method": "POST",
            "target_path": r.url("/monitor"),
            "template_path": str(TEMPLATES / "monitor_template.json"),
        },
    }
    d = start(
        run_daemon,
        conf={"monitor": monitor},
        apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url("/hook"), event_timeout=60)]})},
    )
    same = event("AuthFailure", "a", {"Path": "/same", "Key": "k1"})
    send_udp_from_many(d, [same] * 30)
    d.wait_until(lambda: d.stats_value("events_decoded") == 30, 10, "30 events across workers")
    quotas = [{"Kind": "quota", "Key": "key1", "Session": session(rem)} for rem in (1, 1, 0, 1, 0, 1) * 5]
    send_udp_from_many(d, quotas)
    d.wait_until(lambda: d.stats_value("quota_records") == 30, 10, "30 quota records across workers")
    time.sleep(1.0)  # a second fire, if any, would have arrived
    paths = [req.request_line.split(" ")[1] for req in r.requests]
    assert paths.count("/hook") == 1, paths
    assert paths.count("/monitor") == 1, paths
    d.signal(signal.SIGTERM)
    assert d.proc is not None and d.proc.wait(30) == 0
    per_worker = [int(m) for m in re.findall(r"stopped \(drained.*?'udp': (\d+)", d.log())]
    assert min(per_worker) > 0, per_worker  # both workers took part
