"""Scale-out: combined webhook deliveries per second of one, two and three daemons sharing one
Redis Cluster (three masters), in the same run, to the same receiver, with the same events.

    python bench/bench_scaleout.py [--count 10000] [--instances 1,2,3] [--round-timeout 25]

Each round flushes the cluster, starts N daemons (`state: "redis"`, the webhook spool on, one
consumer name each), writes `count` events over TCP split evenly across them (each renders a
different webhook body) and times the first event sent to the last delivery counted by the
receiver (bench/_support.py's counting receiver, its own process). Printed per round: the
deliveries counted, the deliveries/s and the ratio to the one-instance figure; the round's
daemons are stopped by PID before the next starts, and the receiver and redis-servers at the
end. On a
machine with few cores the daemons share them with Redis, the receiver and the sender: the
ratios say how far more instances help on this machine, not in general.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import ROOT, CountingReceiver, cpu_seconds, free_port, terminate

sys.path.insert(0, str(ROOT))
from tests.support.redis_topology import RedisClusterTopology


def start_daemon(tmp: Path, name: str, storage: dict[str, Any], receiver_port: int) -> tuple[Any, int]:
    """A daemon in its own folder: (its process, its TCP port)."""
    where = tmp / name
    (where / "apps").mkdir(parents=True)
    tcp, metrics = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    hook = {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {
            "method": "POST",
            "target_path": f"http://127.0.0.1:{receiver_port}/in",
            "event_timeout": 0,
        },
    }
    api = {
        "name": "bench",
        "api_id": "a",
        "org_id": "o",
        "event_handlers": {"events": {"AuthFailure": [hook]}},
    }
    (where / "apps" / "a.json").write_text(json.dumps(api))
    conf = {
        "app_path": "apps",
        "template_path": str(ROOT / "templates"),
        "log_level": "warn",
        "storage": storage,
        "tykevents": {
            "listen": {"udp": [], "tcp": [f"127.0.0.1:{tcp}"]},
            "metrics": f"127.0.0.1:{metrics}",
            "drain_timeout": 5,
            "workers": 1,  # instances, each one process
            "state": "redis",
            "webhooks": {"spool_consumer": name},
        },
    }
    (where / "tyk.conf").write_text(json.dumps(conf))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tykevents", "run", "-c", str(where / "tyk.conf")],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=open(where / "daemon.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{metrics}/health", timeout=1).read()
            return proc, tcp
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                terminate(proc)
                sys.exit(f"bench_scaleout: daemon {name} did not start; see {where / 'daemon.log'}")
            time.sleep(0.1)


def events(start: int, n: int) -> bytes:
    meta = {"Message": "m", "Origin": "10.0.0.1", "Key": "k1234567"}
    return b"".join(
        json.dumps(
            {"Type": "AuthFailure", "APIID": "a", "OrgID": "o", "Meta": {**meta, "Path": f"/p{i}"}}
        ).encode()
        + b"\n"
        for i in range(start, start + n)
    )


class Round(NamedTuple):
    delivered: int
    per_s: float
    daemon_cpu: float  # CPU seconds of all the round's daemons
    redis_cpu: float  # CPU seconds of the cluster's redis-servers during the round


def round_(
    tmp: Path, cluster: RedisClusterTopology, recv: CountingReceiver, k: int, count: int, timeout: float
) -> Round:
    """`k` daemons delivering `count` events (or what arrives within `timeout`)."""
    cluster.flushall()
    daemons = [
        start_daemon(tmp / f"round{k}", f"node{i}", {**cluster.storage, "timeout": 5}, recv.port)
        for i in range(k)
    ]
    try:
        base = recv.count()
        cpu0 = [cpu_seconds(p.pid) for p, _ in daemons]
        redis0 = sum(cpu_seconds(p.pid) for p in cluster.processes.procs.values())
        share = count // k
        payloads = [events(i * share, share if i < k - 1 else count - i * share) for i in range(k)]

        def send(port: int, data: bytes) -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.sendall(data)

        senders = [
            threading.Thread(target=send, args=(tcp, data), daemon=True)
            for (_, tcp), data in zip(daemons, payloads, strict=True)
        ]
        started = time.monotonic()
        for t in senders:
            t.start()
        got = 0
        while got < count and time.monotonic() - started < timeout:
            time.sleep(0.02)
            got = recv.count() - base
        took = time.monotonic() - started
        cpu = sum(cpu_seconds(p.pid) - c for (p, _), c in zip(daemons, cpu0, strict=True))
        redis_cpu = sum(cpu_seconds(p.pid) for p in cluster.processes.procs.values()) - redis0
        for t in senders:
            t.join(5)
        return Round(got, got / took, cpu, redis_cpu)
    finally:
        for proc, _ in daemons:
            terminate(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000, help="events per round")
    ap.add_argument("--instances", default="1,2,3", help="instance counts to run, in order")
    ap.add_argument("--round-timeout", type=float, default=25.0, help="seconds a round may deliver for")
    args = ap.parse_args()
    rounds = [int(x) for x in args.instances.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="tykevents-scaleout-"))
    recv = CountingReceiver(core=1)
    cluster = None
    try:
        cluster = RedisClusterTopology(tmp)  # the tests' cluster (tests/support)
        print(f"redis cluster: 3 masters; {args.count} events per round, same receiver and event mix")
        figures: dict[int, float] = {}
        for k in rounds:
            r = round_(tmp, cluster, recv, k, args.count, args.round_timeout)
            figures[k] = r.per_s
            print(
                f"instances={k} delivered={r.delivered} deliveries_per_s={r.per_s:,.0f} "
                f"ratio_to_{rounds[0]}={r.per_s / figures[rounds[0]]:.2f} "
                f"daemon_cpu_ms_per_1k={r.daemon_cpu * 1e6 / max(r.delivered, 1):.0f} "
                f"redis_cpu_ms_per_1k={r.redis_cpu * 1e6 / max(r.delivered, 1):.0f}",
                flush=True,
            )
    finally:
        if cluster is not None:
            cluster.stop()
        recv.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
