"""The webhook targets of issue 13 in one run, each beside the reference measured in that run.

    python bench/bench_targets.py [--quick] [--json] [--rounds 3] [--run-seconds 3]
                                  [--count 30000] [--ref-count 300000] [--concurrency 64]
                                  [--latency-seconds 5] [--no-workers]
                                  [--tyk-anchor build/bench/tyk-anchor] [--no-redis]
                                  [--delivery-log on|off] [--redis-latency-at own|memory]
                                  [--latency-rate N] [--webhook-workers N]

Everything measured is pinned to core 0 (taskset), and one receiver, a uvloop protocol that
answers each request with a keep-alive `200 OK` and `Content-Length: 0`, runs on core 1 with
redis-server and this script. Per round (each figure is the median of `--rounds`; each ratio
the median of the rounds' own ratios, as a round's runs are seconds apart):
  uvloop client  reference B: a minimal HTTP/1.1 client on a uvloop protocol, `--concurrency`
                 keep-alive connections, one POST of the webhooks' size in flight on each;
  tyk-anchor     reference A: Tyk's Go event path (render, checksum, cooldown, client.Do), built
                 by `make bench-setup` (or here, when Go is installed) from $TYK_ANCHOR_SRC;
                 GOMAXPROCS=1, `-tuned`, the same template file (templates/default_webhook.json);
  memory         the daemon (`python -m tykevents run`), memory state: QuotaExceeded
                 events with distinct keys (no cooldown holds one back) over one TCP stream,
                 timed from the first byte sent to the last webhook's arrival;
  redis          the same daemon with Redis state and the webhook spool, on a redis-server of
                 its own (stopped by PID at the end);
  workers2       when the build has `workers`: two worker processes on both cores (16 streams)
                 against the one-worker memory figure; each round also gives the busiest
                 worker's share of the workers' CPU (0.50 is an even split, and a round
                 split 0.60 can do no better than 1/0.60 = 1.67x one worker). The workers
                 spread the streams 8/8 (tykevents/ingest/balance.py; before it, SO_REUSEPORT
                 hashed each stream to a worker); each run waits until the daemon counts the
                 last run's streams out and the new ones in.
Each run is sized to about `--run-seconds` at the rate a short first run showed, at most
`--count` events (`--ref-count` client requests); `--run-seconds 0` always sends those counts.
Then ingest-to-webhook latency, memory and Redis, each at half the rate that state sustained
above (`--redis-latency-at memory`: Redis at half the memory rate): events are written one by
one, paced, each carrying its send time (time.monotonic_ns(), one clock for the machine) in
Meta.Key; the receiver subtracts it from its arrival time. Each latency line also gives the
daemon's CPU over the run: a paced event costs two to four times a burst's on this kind of VM
(each one wakes the loop: `perf stat` counts two context switches per event at 2,000/s, eight
in a whole burst), so half the burst rate can saturate the daemon, and then the percentiles
measure queueing. `--latency-rate N` runs both at N events/s instead, to see the
latency of a daemon that is not saturated; the latency rows then carry no verdict (the
targets are defined at half the sustained rate). The daemon's `webhooks.max_per_host`
is set to `--concurrency` (as -c for the Go path and the client's connection count) and
`pending_limit` to 200,000 so neither caps a rate; `workers` is 1 when the daemon has it.

Prints a table (figure, reference, ratio, target, PASS/FAIL); `--json` prints it as JSON too.
Exit status 1 when a target is missed. Without Go the tyk-anchor rows are skipped and the
rest still runs: `make bench-setup` installs Go (Debian's golang-go) and builds it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import (  # noqa: E402
    ROOT,
    PinnedRedis,
    TimedReceiver,
    children,
    core_times,
    cpu_seconds,
    free_port,
    in_tree,
    pin,
    pin_all,
    terminate,
    tree_cpu_seconds,
)

TEMPLATE = ROOT / "templates" / "default_webhook.json"
ANCHOR_SRC = Path(os.environ.get("TYK_ANCHOR_SRC", ROOT.parent / "shared" / "tools" / "tyk-anchor"))
ANCHOR_BIN = ROOT / "build" / "bench" / "tyk-anchor"
GO_HINT = "install Go and build it: `make bench-setup` (apt-get install -y golang-go, then go build)"

# The event tyk-anchor fires (its KeyFailureMeta), so both render the same template branch.
TS = "2025-01-02 03:04:05.123456789 +0000 UTC"
KEY = "5f4dcc3b5aa765d61d8327deb882cf99"
HEAD = b'{"Type":"QuotaExceeded","APIID":"a","OrgID":"o","TimeStamp":"' + TS.encode() + b'","Meta":'
META = b'{"Message":"Key Quota Limit Exceeded","Path":"/api/v1/orders","Origin":"10.1.2.3",'
META_END = b'"OriginatingRequest":""}}\n'

# Reference B: one keep-alive POST in flight per connection; the receiver's answers have no
# body, so a response ends at its blank line.
CLIENT = r"""
import asyncio, json, sys, time, uvloop
port, n, conns, warm, size = (int(a) for a in sys.argv[1:6])
def req(k):
    return (b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: Tyk-Hookshot\r\nContent-Length: %d\r\n"
            b"Content-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n" % (port, k)) + b"x" * k
k = 64
while len(req(k)) < size:  # the whole request as long as the daemon's
    k += 1
REQ = req(k)
left = got = target = 0
done = None
class C(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def next(self):
        global left
        if left > 0:
            left -= 1
            self.t.write(REQ)
    def data_received(self, data):
        global got
        buf = self.buf + data
        k = buf.count(b"\r\n\r\n")
        if k:
            buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
            got += k
            for _ in range(k):
                self.next()
            if got >= target and not done.done():
                done.set_result(None)
        self.buf = buf
async def run(count, protos):
    global left, got, target, done
    left, got, target = count, 0, count
    done = asyncio.get_running_loop().create_future()
    for p in protos:
        p.next()
    await done
async def main():
    loop = asyncio.get_running_loop()
    protos = [(await loop.create_connection(C, "127.0.0.1", port))[1] for _ in range(conns)]
    await run(warm, protos)
    t, cpu = time.perf_counter(), time.process_time()
    await run(n, protos)
    el, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(json.dumps({"n": n, "seconds": el, "per_s": n / el, "cpu_us": cpu / n * 1e6}))
uvloop.run(main())
"""


def hook_api(receiver_port: int, template: Path = TEMPLATE) -> dict[str, Any]:
    hook = {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {
            "method": "POST",
            "target_path": f"http://127.0.0.1:{receiver_port}/hook",
            "template_path": str(template),
            "event_timeout": 60,
        },
    }
    return {
        "name": "bench",
        "api_id": "a",
        "org_id": "o",
        "event_handlers": {"events": {"QuotaExceeded": [hook]}},
    }


def events(tag: str, n: int) -> bytes:
    """n events whose keys differ (so do the bodies, so no cooldown applies)."""
    return b"".join(
        HEAD + META + b'"Key":"%s-%s%d",' % (KEY.encode(), tag.encode(), i) + META_END for i in range(n)
    )


def stamped(seq: int) -> bytes:
    return HEAD + META + b'"Key":"latns%d.%d",' % (time.monotonic_ns(), seq) + META_END


class StartError(Exception):
    """A daemon under test did not answer /health."""


def has_workers(root: Path = ROOT) -> bool:
    """Whether the build at `root` has the `workers` setting (one process per core by default;
    a configuration naming it is refused by one without)."""
    if root == ROOT:
        from tykevents.config import Daemon as DaemonSettings

        return "workers" in DaemonSettings.__struct_fields__
    probe = "from tykevents.config import Daemon as D; print('workers' in D.__struct_fields__)"
    return in_tree(root, probe) == "True"


class Daemon:
    """The daemon from this tree (or from `root`, another checkout) with TCP streams open to
    it: one worker pinned to core 0, or `workers` processes on every core (then 16 streams,
    which the workers spread)."""

    def __init__(
        self,
        tmp: Path,
        name: str,
        receiver_port: int,
        args: argparse.Namespace,
        redis_port: int = 0,
        workers: int = 1,
        root: Path = ROOT,
    ) -> None:
        where = tmp / name
        (where / "apps").mkdir(parents=True)
        template = root / "templates" / TEMPLATE.name
        (where / "apps" / "a.json").write_text(json.dumps(hook_api(receiver_port, template)))
        self.tcp, self.metrics = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
        settings: dict[str, Any] = {
            "listen": {"udp": [], "tcp": [f"127.0.0.1:{self.tcp}"]},
            "metrics": f"127.0.0.1:{self.metrics}",
            "drain_timeout": 5,
            "state": "redis" if redis_port else "memory",
            # The per-host cap is the only one a single receiver meets; pending_limit only holds
            # the TCP reader back when deliveries pile up.
            "webhooks": {
                "max_per_host": args.concurrency,
                "pending_limit": 200_000,
                "spool_consumer": name,
                "log": {"enabled": args.delivery_log == "on"},
            },
        }
        if has_workers(root):
            settings["workers"] = workers
        if args.webhook_workers:
            settings["lanes"] = {"webhook_workers": args.webhook_workers}
        conf: dict[str, Any] = {
            "app_path": "apps",
            "template_path": str(root / "templates"),
            "log_level": "warn",
            "tykevents": settings,
        }
        if redis_port:
            conf["storage"] = {"host": "127.0.0.1", "port": redis_port}
        (where / "tyk.conf").write_text(json.dumps(conf))
        self.log = where / "daemon.log"
        self.proc = subprocess.Popen(
            # Several workers get every core: this script runs pinned to core 1, and a child
            # inherits its affinity (both workers on core 1 measured one core, twice shared).
            (pin(0) if workers == 1 else pin_all())
            + [sys.executable, "-m", "tykevents", "run", "-c", str(where / "tyk.conf")],
            cwd=where,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/health", timeout=1).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise StartError(
                        f"the {name} daemon did not start:\n{self.log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.1)
        self.workers = workers
        self.socks: list[socket.socket] = []
        self.connect()

    def connect(self) -> None:
        """(Re)open the streams: with several workers, each run opens new ones, so that they
        spread over every worker listening by then (the first to answer /health may be alone)."""
        for s in self.socks:
            s.close()
        n = 1 if self.workers == 1 else 16
        # The workers spread new streams by the streams each holds (tykevents/ingest/balance.py):
        # wait until the old ones are counted out, as a busy worker sees its closes late.
        self._wait_streams(0)
        self.socks = [socket.create_connection(("127.0.0.1", self.tcp)) for _ in range(n)]
        for s in self.socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.socks[0]
        self._wait_streams(n)

    def streams(self) -> dict[str, int] | None:
        """tykevents_ingest_connections by worker (None: a build without it)."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=10).read().decode()
        found = re.findall(r'^tykevents_ingest_connections\{worker="(\d+)"\} (\S+)$', text, re.M)
        return {w: int(float(v)) for w, v in found} if found else None

    def _wait_streams(self, n: int) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = self.streams()
            if got is None or sum(got.values()) == n:
                return
            time.sleep(0.05)

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds of each worker process (the supervisor's children), by pid."""
        cpu: dict[int, float] = {}
        for pid in children().get(self.proc.pid, []):
            try:
                cpu[pid] = cpu_seconds(pid)
            except OSError:
                pass  # gone meanwhile
        return cpu

    def outcomes(self) -> dict[str, float]:
        """tykevents_webhook_outcomes by outcome, summed over kinds."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=10).read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("tykevents_webhook_outcomes_total{"):
                labels, value = line.rsplit(" ", 1)
                outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                out[outcome] = out.get(outcome, 0.0) + float(value)
        return out

    def close(self) -> None:
        for s in getattr(self, "socks", []):
            s.close()
        terminate(self.proc)


def wait_for(recv: TimedReceiver, target: int, timeout: float) -> tuple[int, int]:
    """Poll the receiver until `target` requests or no progress for `timeout` s: (count, last ns)."""
    count, last, _ = recv.state()
    still = time.monotonic()
    while count < target:
        time.sleep(0.01)
        now = recv.state()
        if now[0] != count:
            still = time.monotonic()
        count, last = now[0], now[1]
        if time.monotonic() - still > timeout:
            break
    return count, last


def daemon_rate(d: Daemon, recv: TimedReceiver, tag: str, n: int) -> dict[str, Any]:
    """Deliveries/s from the first event sent to the last webhook's arrival, and daemon CPU."""
    if d.workers > 1:
        d.connect()
    k = len(d.socks)
    parts = [events(f"{tag}{i}.", n // k + (i < n % k)) for i in range(k)]
    base = recv.count()
    cpu0, rcpu0, (busy0, steal0) = d.cpu(), recv.cpu(), core_times(0)
    workers0 = d.worker_cpu() if d.workers > 1 else {}
    t0 = time.monotonic_ns()
    senders = [
        threading.Thread(target=s.sendall, args=(data,), daemon=True)
        for s, data in zip(d.socks, parts, strict=True)
    ]
    for t in senders:
        t.start()
    got, last = wait_for(recv, base + n, 15.0)
    wall = max(last - t0, 1) / 1e9
    cpu, rcpu, (busy, steal) = d.cpu() - cpu0, recv.cpu() - rcpu0, core_times(0)
    # Several workers: their loads can differ (a build before tykevents/ingest/balance.py
    # hashed each stream to one); the busiest one's share of their CPU says how much (0.5 of
    # two: even).
    spent = [c - workers0[p] for p, c in d.worker_cpu().items() if p in workers0]
    for t in senders:
        t.join(30)
    done = got - base
    return {
        "busiest_worker_share": max(spent) / sum(spent) if len(spent) > 1 and sum(spent) > 0 else None,
        "delivered": done,
        "expected": n,
        "per_s": done / wall,
        "cpu_us": cpu / max(done, 1) * 1e6,
        "receiver_busy": rcpu / wall,
        # Under 1 (one worker): something other than its CPU held the rate back.
        "daemon_busy": cpu / wall,
        # Core 0's time taken by anything but the daemon, and by the hypervisor: noise.
        "core0_other": max(0.0, (busy - busy0 - cpu) / wall),
        "core0_stolen": (steal - steal0) / wall,
    }


class WarmDaemon:
    """A Daemon (from `root`) and, with `redis`, a redis-server of its own (instances on one
    Redis share the spool's work), warmed up with `warm` webhooks; closed together, even when
    starting fails halfway. For scripts that compare daemons side by side."""

    def __init__(
        self,
        tmp: Path,
        name: str,
        recv: TimedReceiver,
        *,
        redis: bool = False,
        root: Path = ROOT,
        delivery_log: str = "on",
        webhook_workers: int = 0,
        warm: int = 5000,
        workers: int = 1,
    ) -> None:
        self.name, self.recv = name, recv
        self.redis = PinnedRedis(tmp, core=1) if redis else None
        self.daemon: Daemon | None = None
        try:
            opts = argparse.Namespace(
                concurrency=64, delivery_log=delivery_log, webhook_workers=webhook_workers
            )
            port = self.redis.port if self.redis else 0
            self.daemon = Daemon(tmp, name, recv.port, opts, redis_port=port, workers=workers, root=root)
            daemon_rate(self.daemon, recv, "warm", warm)
        except BaseException:
            self.close()
            raise

    def burst(self, tag: str, n: int) -> dict[str, Any]:
        """daemon_rate() of `n` webhooks, all of which must arrive."""
        assert self.daemon is not None
        res = daemon_rate(self.daemon, self.recv, tag, n)
        if res["delivered"] != n:
            raise SystemExit(f"{self.name}: delivered {res['delivered']} of {n} webhooks")
        return res

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.close()
        if self.redis is not None:
            self.redis.stop()


def run_pinned(
    cmd: list[str], env: dict[str, str], recv: TimedReceiver
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run cmd on core 0 to its end: (the JSON line it printed, the run's costs and noise)."""
    base, rcpu0, (busy0, steal0) = recv.count(), recv.cpu(), core_times(0)
    t0 = time.monotonic()
    proc = subprocess.Popen(pin(0) + cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} exited {proc.returncode}: {out}")
    busy, steal = core_times(0)
    cpu = usage.ru_utime + usage.ru_stime
    return json.loads(out), {
        "received": recv.count() - base,
        "process_cpu": cpu,
        "receiver_busy": (recv.cpu() - rcpu0) / wall,
        "core0_other": max(0.0, (busy - busy0 - cpu) / wall),
        "core0_stolen": (steal - steal0) / wall,
    }


def anchor_rate(exe: Path, port: int, n: int, conc: int, recv: TimedReceiver) -> dict[str, Any]:
    cmd = [str(exe), "-n", str(n), "-c", str(conc), "-url", f"http://127.0.0.1:{port}/hook"]
    res, run = run_pinned(cmd + ["-tmpl", str(TEMPLATE), "-tuned"], {"GOMAXPROCS": "1"}, recv)
    return {
        "delivered": res["ok"],
        "expected": n,
        "per_s": res["per_s"],
        # CPU of the whole process (its 200 warm-up events and start included).
        "cpu_us": run.pop("process_cpu") / max(run["received"], 1) * 1e6,
        **run,
    }


def client_rate(port: int, n: int, conc: int, size: int, recv: TimedReceiver) -> dict[str, Any]:
    warm = min(5000, n)
    cmd = [sys.executable, "-c", CLIENT, str(port), str(n), str(conc), str(warm), str(size)]
    res, run = run_pinned(cmd, {}, recv)
    del run["process_cpu"]  # the client times its own run (cpu_us), start and warm-up excluded
    return {**res, "delivered": run["received"] - warm, "expected": n, **run}


def latency(d: Daemon, recv: TimedReceiver, rate: float, seconds: float) -> dict[str, Any]:
    """Events paced at `rate`, each stamped as it is written; percentiles of arrival - stamp."""
    total = max(int(rate * seconds), 100)
    recv.latencies_ns()  # forget earlier ones
    base = recv.count()
    interval = 1.0 / rate
    sock, mono, sleep = d.sock, time.monotonic, time.sleep
    cpu0, (busy0, steal0) = d.cpu(), core_times(0)
    start = mono()
    for i in range(total):
        ahead = start + i * interval - mono()
        if ahead > 0:
            sleep(ahead)
        sock.sendall(stamped(i))
    sent_s = mono() - start
    cpu, (busy, steal) = d.cpu() - cpu0, core_times(0)
    got, _ = wait_for(recv, base + total, 5.0)
    lat = sorted(recv.latencies_ns())
    n = len(lat)

    def pct(p: float) -> float:
        return lat[min(n - 1, int(p * (n - 1) + 0.5))] / 1e6 if n else float("nan")

    return {
        "offered_per_s": rate,
        "sent_per_s": total / sent_s,
        "events": total,
        "received": got - base,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": lat[-1] / 1e6 if n else float("nan"),
        "core0_other": max(0.0, (busy - busy0 - cpu) / sent_s),
        "core0_stolen": (steal - steal0) / sent_s,
        # Paced events cost more CPU each than a burst (every one wakes the loop): near 1,
        # the daemon was saturated at this rate and the percentiles are queueing.
        "daemon_busy": cpu / sent_s,
        "cpu_us": cpu / total * 1e6,
    }


def find_anchor(path: Path) -> tuple[Path | None, str]:
    """The tyk-anchor binary, built here when Go is installed; else None and why."""
    if path.exists():
        return path, ""
    go = shutil.which("go")
    if go is None:
        return None, f"tyk-anchor not at {path} and Go is not installed: {GO_HINT}"
    if not (ANCHOR_SRC / "main.go").exists():
        return None, f"tyk-anchor source not found at {ANCHOR_SRC} (set TYK_ANCHOR_SRC)"
    path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOCACHE": str(path.parent / "gocache"), "GOTOOLCHAIN": "local"}
    r = subprocess.run(
        [go, "build", "-o", str(path.resolve()), "."], cwd=ANCHOR_SRC, env=env, capture_output=True
    )
    if r.returncode != 0:
        return None, f"go build of tyk-anchor failed: {r.stderr.decode(errors='replace')[-500:]}"
    return path, ""


def finite(v: Any) -> Any:
    """v with every NaN or infinity as null, for strict JSON."""
    if isinstance(v, float):
        return v if v - v == 0 else None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs) if runs else float("nan")


def paired(runs: dict[str, list[dict[str, Any]]], a: str, b: str, key: str = "per_s") -> float | None:
    """The median of each round's a/b ratio of `key`: a round's runs are seconds apart and
    share the machine's mood, which the medians of each side taken apart do not (on a noisy
    VM they can pair a slow round of one with a fast round of the other)."""
    ratios = [x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=False) if y[key]]
    return statistics.median(ratios) if ratios else None


def row(
    name: str,
    value: float,
    unit: str,
    ref_name: str,
    ref: float | None,
    target: str = "-",
    ratio: float | None = None,
) -> dict[str, Any]:
    """One line of the table; `target` is ">= Nx" (the ratio: `ratio`, else value / ref),
    "<= N ms" (value) or "-"."""
    if ratio is None or not ref:
        ratio = value / ref if ref and unit != "ms" else None
    if target == "-":
        result = "-"
    elif target.startswith(">="):
        result = "SKIP" if ratio is None else ("PASS" if ratio >= float(target[2:].strip(" x")) else "FAIL")
    else:
        result = "PASS" if value <= float(target[2:].strip(" ms")) else "FAIL"
    return {
        "figure": name,
        "value": value,
        "unit": unit,
        "reference": ref_name,
        "reference_value": ref,
        "ratio": ratio,
        "target": target,
        "result": result,
    }


def table_rows(
    runs: dict[str, list[dict[str, Any]]], lat: dict[str, dict[str, Any]], judge_latency: bool = True
) -> list[dict[str, Any]]:
    mem, anchor, client, red = (median_of(runs[k], "per_s") for k in ("memory", "anchor", "client", "redis"))
    cpu = {k: median_of(v, "cpu_us") for k, v in runs.items()}
    a_ref = anchor if runs["anchor"] else None
    rows = [
        row(
            "webhooks/s, memory",
            mem,
            "/s",
            "tyk-anchor -tuned",
            a_ref,
            ">= 2x",
            paired(runs, "memory", "anchor"),
        ),
        row(
            "webhooks/s, memory",
            mem,
            "/s",
            "uvloop client",
            client,
            ">= 0.25x",
            paired(runs, "memory", "client"),
        ),
        row(
            "CPU µs/webhook, memory",
            cpu["memory"],
            "µs",
            "tyk-anchor",
            cpu["anchor"] if a_ref else None,
            ratio=paired(runs, "memory", "anchor", "cpu_us"),
        ),
    ]
    if runs["redis"]:
        rows += [
            row(
                "webhooks/s, redis spool",
                red,
                "/s",
                "memory, same run",
                mem,
                ">= 0.7x",
                paired(runs, "redis", "memory"),
            ),
            row(
                "CPU µs/webhook, redis",
                cpu["redis"],
                "µs",
                "memory, same run",
                cpu["memory"],
                ratio=paired(runs, "redis", "memory", "cpu_us"),
            ),
        ]
    if runs["workers2"]:
        two = median_of(runs["workers2"], "per_s")
        rows.append(
            row(
                "webhooks/s, 2 workers",
                two,
                "/s",
                "memory, 1 worker",
                mem,
                ">= 1.6x",
                paired(runs, "workers2", "memory"),
            )
        )
    for kind, limit in (("memory", "<= 2 ms"), ("redis", "<= 3 ms")):
        if kind in lat:
            L, at = lat[kind], f"at {lat[kind]['offered_per_s']:,.0f}/s"
            # A webhook that never arrived has no latency: the p99 then fails outright.
            p99 = L["p99_ms"] if L["received"] >= L["events"] else float("inf")
            rows += [
                row(f"latency p50, {kind}", L["p50_ms"], "ms", at, None),
                row(f"latency p99, {kind}", p99, "ms", at, None, limit if judge_latency else "-"),
                row(f"latency max, {kind}", L["max_ms"], "ms", at, None),
            ]
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    def num(v: float | None, unit: str = "") -> str:
        if v is None or v != v:
            return "-"
        return f"{v:,.0f}{unit}" if abs(v) >= 100 else f"{v:.2f}{unit}"

    head = ("figure", "value", "reference", "ref value", "ratio", "target", "result")
    lines = [
        (
            r["figure"],
            num(r["value"], " " + r["unit"]),
            r["reference"],
            num(r["reference_value"]),
            "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
            r["target"],
            r["result"],
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    for cells in (head, *lines):
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=30000, help="most events per daemon or tyk-anchor run")
    ap.add_argument("--ref-count", type=int, default=300000, help="most requests per uvloop client run")
    ap.add_argument(
        "--run-seconds",
        type=float,
        default=3.0,
        help="size each rate run to about this long (0: always --count / --ref-count)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="rate runs of each kind (median reported)")
    ap.add_argument("--concurrency", type=int, default=64, help="connections / requests in flight")
    ap.add_argument("--latency-seconds", type=float, default=5.0, help="length of each latency run")
    ap.add_argument("--tyk-anchor", type=Path, default=ANCHOR_BIN, help="the tyk-anchor binary")
    ap.add_argument("--no-redis", action="store_true", help="skip the Redis-state runs")
    ap.add_argument("--no-workers", action="store_true", help="skip the two-worker runs")
    ap.add_argument(
        "--delivery-log", choices=("on", "off"), default="on", help="webhooks.log.enabled (on: the default)"
    )
    ap.add_argument(
        "--redis-latency-at",
        choices=("own", "memory"),
        default="own",
        help="the Redis latency run at half the Redis rate (own) or half the memory rate",
    )
    ap.add_argument(
        "--latency-rate",
        type=float,
        default=0.0,
        help="both latency runs at this many events/s (no verdict) instead of half the sustained rate",
    )
    ap.add_argument(
        "--webhook-workers", type=int, default=0, help="the daemons' lanes.webhook_workers (0: its default)"
    )
    ap.add_argument("--quick", action="store_true", help="1 round, 10000 events, 2 s latency runs")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.run_seconds, args.latency_seconds = 1, 1.5, 2.0
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this script's own sending and polling stay off core 0
    anchor, why = find_anchor(args.tyk_anchor)
    if anchor is None:
        print(f"bench_targets: reference A skipped: {why}", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="tykevents-targets-"))
    recv = TimedReceiver(core=1)
    redis: PinnedRedis | None = None
    daemons: list[Daemon] = []
    kinds = ("client", "anchor", "memory", "redis", "workers2")
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    lat: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    started = time.monotonic()
    try:
        mem = Daemon(tmp, "memory", recv.port, args)
        daemons.append(mem)
        red = None
        if not args.no_redis:
            redis = PinnedRedis(tmp, core=1)
            red = Daemon(tmp, "redis", recv.port, args, redis.port)
            daemons.append(red)
        two = None
        if not args.no_workers and has_workers() and (os.cpu_count() or 1) >= 2:
            try:
                two = Daemon(tmp, "workers2", recv.port, args, workers=2)
                daemons.append(two)
            except StartError as e:  # the other figures are still worth having
                notes.append(f"2 workers skipped: {str(e).strip()[-600:]}")
        # Warm-up: connections open, templates parsed, first deliveries through every path.
        for d in daemons:
            daemon_rate(d, recv, "warm", 2000)
        b0 = recv.state()[2]
        daemon_rate(mem, recv, "size", 1)
        req_bytes = recv.state()[2] - b0  # one webhook, head and body: the client sends as many
        # Counts: --count / --ref-count, or what each kind does in about --run-seconds at the
        # rate a short first run shows (so a loaded machine does not stretch the run).
        counts = {k: args.ref_count if k == "client" else args.count for k in kinds}
        if args.run_seconds > 0:
            rates = {"client": client_rate(recv.port, 20000, args.concurrency, req_bytes, recv)["per_s"]}
            if anchor is not None:
                rates["anchor"] = anchor_rate(anchor, recv.port, 2000, args.concurrency, recv)["per_s"]
            for d in daemons:
                rates[d.log.parent.name] = daemon_rate(d, recv, "cal", 2000)["per_s"]
            for k, rate in rates.items():
                counts[k] = int(min(counts[k], max(2000, rate * args.run_seconds)))
        for r in range(args.rounds):
            runs["client"].append(client_rate(recv.port, counts["client"], args.concurrency, req_bytes, recv))
            if anchor is not None:
                runs["anchor"].append(
                    anchor_rate(anchor, recv.port, counts["anchor"], args.concurrency, recv)
                )
            runs["memory"].append(daemon_rate(mem, recv, f"m{r}-", counts["memory"]))
            if red is not None:
                runs["redis"].append(daemon_rate(red, recv, f"r{r}-", counts["redis"]))
            if two is not None:
                runs["workers2"].append(daemon_rate(two, recv, f"w{r}-", counts["workers2"]))
            print(
                f"round {r + 1}: "
                + ", ".join(f"{k} {v[-1]['per_s']:,.0f}/s" for k, v in runs.items() if len(v) > r),
                file=sys.stderr,
                flush=True,
            )
        # Each at half the rate that state sustained above: half the memory rate could be more
        # than the Redis path sustains, and then the figure would be its queue's, not its own.
        fixed = args.latency_rate
        mem_at = fixed or median_of(runs["memory"], "per_s") / 2
        lat["memory"] = latency(mem, recv, mem_at, args.latency_seconds)
        if red is not None:
            red_at = (
                fixed or median_of(runs["redis" if args.redis_latency_at == "own" else "memory"], "per_s") / 2
            )
            lat["redis"] = latency(red, recv, red_at, args.latency_seconds)
        for d in daemons:
            bad = {k: v for k, v in d.outcomes().items() if k != "delivered" and v}
            if bad:
                notes.append(f"{d.log.parent.name} daemon: webhook outcomes other than delivered: {bad}")
    except StartError as e:
        sys.exit(f"bench_targets: {e}")
    finally:
        for d in daemons:
            d.close()
        if redis is not None:
            redis.stop()
        recv.close()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started

    for kind, rs in runs.items():
        for one in rs:
            if one["delivered"] < one["expected"]:
                notes.append(f"{kind}: a run delivered {one['delivered']} of {one['expected']}")
        busy = max((r["receiver_busy"] for r in rs), default=0.0)
        if busy > 0.9:
            notes.append(f"{kind}: the receiver was {busy:.0%} busy: it may have limited that rate")
    # The two-worker runs use both cores by design: no "other work" figure for them.
    noise = [r for k, rs in runs.items() if k != "workers2" for r in rs] + list(lat.values())
    other = max((r["core0_other"] + r["core0_stolen"] for r in noise), default=0.0)
    if other > 0.05:
        notes.append(
            f"core 0 was up to {other:.0%} busy with other work or stolen by the hypervisor during a "
            "run: rerun on a quiet machine for figures to quote"
        )
    for kind, L in lat.items():
        if L["received"] < L["events"]:
            notes.append(f"latency {kind}: {L['received']} of {L['events']} webhooks arrived")
    if anchor is None:
        notes.append(f"tyk-anchor rows skipped: {why}")
    rows = table_rows(runs, lat, judge_latency=not args.latency_rate)

    print(
        f"bench_targets: {args.rounds} round(s) (medians; ratios: medians of each round's), "
        f"{elapsed:.0f} s; per run: "
        + ", ".join(f"{k} {n}" for k, n in counts.items() if runs[k])
        + f"; concurrency {args.concurrency}, {req_bytes}-byte requests; one worker on core 0, receiver on "
        f"core 1; daemon: webhooks.max_per_host {args.concurrency}, pending_limit 200000, delivery log "
        f"{args.delivery_log}"
        + (f", lanes.webhook_workers {args.webhook_workers}" if args.webhook_workers else "")
    )
    print_table(rows)
    for kind, rs in runs.items():
        if rs:
            line = ", ".join(f"{r['per_s']:,.0f}/s" for r in rs)
            line += f"; receiver busy up to {max(r['receiver_busy'] for r in rs):.0%}"
            if "daemon_busy" in rs[0]:  # under 100 % per worker: not its CPU that held it back
                line += f", daemon CPU {min(r['daemon_busy'] for r in rs):.0%} or more of a core"
            if kind != "workers2":
                line += (
                    f", core 0 other work up to {max(r['core0_other'] + r['core0_stolen'] for r in rs):.0%}"
                )
            shares = [r.get("busiest_worker_share") for r in rs]
            if any(x is not None for x in shares):  # "-": a round without two workers' figures
                line += "; busiest worker's share of the workers' CPU " + " ".join(
                    "-" if x is None else f"{x:.2f}" for x in shares
                )
            print(f"  {kind:<8} per round: {line}")
    # Runs of one round are seconds apart, so their ratios share more of the machine's mood.
    pairs = (("memory", "anchor"), ("memory", "client"), ("redis", "memory"), ("workers2", "memory"))
    per_round = [
        f"{a}/{b} "
        + " ".join(f"{x['per_s'] / y['per_s']:.2f}" for x, y in zip(runs[a], runs[b], strict=False))
        for a, b in pairs
        if runs[a] and runs[b]
    ]
    print("  ratios per round: " + "; ".join(per_round))
    for kind, L in lat.items():
        sent = f"{L['events']} events sent at {L['sent_per_s']:,.0f}/s"
        busy = f"daemon CPU {L['daemon_busy']:.0%} of a core, {L['cpu_us']:.0f} µs per event"
        print(f"  latency {kind}: {sent}, {L['received']} arrived; {busy}")
    for n in notes:
        print(f"  note: {n}")
    if args.json:
        out = {
            "rows": rows,
            "runs": runs,
            "latency": lat,
            "notes": notes,
            "request_bytes": req_bytes,
            "counts": counts,
        }
        print(json.dumps(finite(out)))
    sys.exit(1 if any(r["result"] == "FAIL" for r in rows) else 0)


if __name__ == "__main__":
    main()
