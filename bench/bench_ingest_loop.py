"""The ingest loop against bare uvloop loops, UDP and TCP, in one run.

    python bench/bench_ingest_loop.py [--seconds 1] [--only udp1,udp8,tcp]

Each receiver runs in its own process pinned to core 1 (the sender on core 0) on uvloop:
- UDP: a bare DatagramProtocol that only counts (the reference), then the daemon's own
  DatagramIngest (recvmmsg batches) feeding a real Pipeline whose route table knows the
  sender's API ids, each with a handler for an event never sent: every event is decoded,
  looked up and matches no handler, the bulk of a busy gateway. The sender (bench/loadgen.c)
  is paced: its rate doubles until a step loses, then is bisected (the two receivers' steps
  taken in turn, so that load from elsewhere falls on both alike); a receiver's figure is the
  highest rate it took with under 0.1 % loss, and its CPU time per event over those lossless
  steps (its capacity, beyond what one sender core can offer). At 1 and 8 events per datagram.
- TCP: a uvloop Protocol that only splits lines (the reference), then the daemon's StreamIngest
  (open_tcp) on the same Pipeline. A sender writes newline-delimited events as fast as the
  connection takes them (TCP is lossless: the receiver sets the pace); the figure is the
  receiver's events/s from first to last byte, and its CPU time per event: the median of
  `--rounds` runs, the two receivers run in turn so that load from elsewhere falls on both.
Printed: each figure, and the ratio daemon / reference. Bounded in time; every process
started here is ended by PID. `--receiver` is the receiver side (internal).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from _support import build_loadgen, cpu_seconds, free_port, pin, send_timed, terminate  # noqa: E402

LOSS_LIMIT = 0.001
APIS = 4  # loadgen sends api-0 .. api-3
TYPES = ("AuthFailure", "RatelimitExceeded", "QuotaExceeded", "KeyExpired", "BreakerTripped", "HostDown")


def event(i: int) -> bytes:
    """A loadgen-like Tyk event (250-300 bytes)."""
    return (
        '{"Type":"%s","Meta":{"Message":"Key Quota Limit Exceeded","OriginatingRequest":"",'
        '"Path":"/api/v1/orders/%d","Origin":"10.0.%d.7","Key":"5e9d9544a1dcd60001d0ed20a8f3c2b1%04d"},'
        '"TimeStamp":"2026-11-24 20:12:27.068982699 +0000 UTC","APIID":"api-%d",'
        '"OrgID":"5e9d9544a1dcd60001d0ed20"}' % (TYPES[i % len(TYPES)], i, i % 250, i % 10000, i % APIS)
    ).encode()


# -- receiver side ----------------------------------------------------------------------------


class Counter:
    n = 0
    first = 0.0
    last = 0.0


def pipeline_for_bench() -> Any:
    """A Pipeline as the daemon builds it for the sender's API ids (no handler matches)."""
    sys.path.insert(0, str(ROOT))  # the tree this script lives in (also a `git archive` copy)
    from tykevents.config import Lanes as LaneSettings
    from tykevents.deliver.base import Handler
    from tykevents.pipeline import Pipeline
    from tykevents.route import RouteTable
    from tykevents.runtime.metrics import Stats
    from tykevents.work import Lanes

    class NeverRun(Handler):
        kind = "log"

        async def handle(self, event: Any) -> None:  # pragma: no cover - never matched
            pass

    h = NeverRun("never", "bench")
    stats = Stats()
    routes = RouteTable(by_api={f"api-{i}": {"NeverSent": (h,)} for i in range(APIS)})
    return Pipeline(routes, Lanes(LaneSettings(), stats), stats, 1 << 20)


async def receive(mode: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    count: Any  # () -> events so far
    if mode == "udp-ref":

        class CountDatagrams(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                Counter.n += 1
                Counter.last = time.monotonic()

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        s.bind(("127.0.0.1", port))
        await loop.create_datagram_endpoint(CountDatagrams, sock=s)
        count = lambda: Counter.n  # noqa: E731  (datagrams: the controller multiplies)
    elif mode == "tcp-ref":

        class SplitLines(asyncio.Protocol):
            buf = b""

            def data_received(self, data: bytes) -> None:
                lines = (self.buf + data if self.buf else data).split(b"\n")
                self.buf = lines.pop()
                Counter.n += len(lines)
                Counter.last = time.monotonic()
                if not Counter.first:
                    Counter.first = Counter.last

        await loop.create_server(SplitLines, "127.0.0.1", port)
        count = lambda: Counter.n  # noqa: E731
    else:
        pipeline = pipeline_for_bench()
        if mode == "udp-daemon":
            from tykevents.ingest.datagram import open_datagram, udp_socket

            await open_datagram(pipeline, udp_socket(f"127.0.0.1:{port}", 64 << 20), "udp")
        else:
            from tykevents.ingest.stream import open_tcp

            await open_tcp(pipeline, ("127.0.0.1", port), set(), set())
        stats = pipeline.stats
        count = lambda: stats.events  # noqa: E731
        first_seen = {"n": 0}

        async def watch() -> None:  # when the events came, for the TCP rate (1 ms resolution)
            while True:
                n = stats.events
                if n != first_seen["n"]:
                    now = time.monotonic()
                    if not Counter.first:
                        Counter.first = now
                    Counter.last = now
                    first_seen["n"] = n
                await asyncio.sleep(0.001)

        if mode == "tcp-daemon":
            watcher = asyncio.ensure_future(watch())  # noqa: F841  (kept alive by the loop)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        last = -1
        while count() != last:  # settled: the backlog is read
            last = count()
            await asyncio.sleep(0.3)
        secs = Counter.last - Counter.first if Counter.first else 0.0
        print(last, f"{secs:.6f}", flush=True)
        Counter.n, Counter.first, Counter.last = 0, 0.0, 0.0
        if mode.endswith("daemon"):
            stats.events = 0
            first_seen["n"] = 0


# -- controller side --------------------------------------------------------------------------


class Receiver:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.port = free_port(socket.SOCK_STREAM if mode.startswith("tcp") else socket.SOCK_DGRAM)
        self.proc = subprocess.Popen(
            pin(1) + [sys.executable, __file__, "--receiver", mode, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def received(self) -> tuple[int, float]:
        """(count since the last call, seconds from its first to its last arrival)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        n, secs = self.proc.stdout.readline().split()
        return int(n), float(secs)

    def close(self) -> None:
        terminate(self.proc, 5)


class Sweep:
    """One UDP receiver's rate search: the rate doubles until a step loses, then is bisected.
    Two sweeps are stepped in turn, so that the load others put on the machine meanwhile
    falls on both alike."""

    def __init__(self, mode: str, per: int) -> None:
        self.mode, self.per = mode, per
        self.r = Receiver(mode)
        self.best, self.cpu, self.events = 0, 0.0, 0
        self.lo, self.hi, self.why = 0, 0, "step limit"
        self.slow = False
        self.rate = 100_000 if per == 1 else 400_000
        self.done = False

    def step(self, loadgen: Path, seconds: float) -> None:
        r, rate = self.r, self.rate
        c0 = cpu_seconds(r.proc.pid)
        sent, secs = send_timed(loadgen, r.port, rate, int(rate * seconds), str(self.per))
        got = r.received()[0] * (self.per if self.mode == "udp-ref" else 1)
        c1 = cpu_seconds(r.proc.pid)
        achieved = int(sent / secs) if secs > 0 else 0
        loss = 1 - got / sent if sent else 1.0
        ok = loss < LOSS_LIMIT
        print(
            f"    {self.mode:10s} offered {rate:>9,}/s achieved {achieved:>9,}/s loss {loss:7.3%} "
            f"cpu {(c1 - c0) / max(got, 1) * 1e6:5.2f} µs/event {'ok' if ok else 'LOSS'}",
            flush=True,
        )
        if ok:
            self.best = max(self.best, achieved)
            self.cpu, self.events = self.cpu + (c1 - c0), self.events + got
            if achieved < 0.95 * rate:  # the sender fell behind: once may be a hiccup
                if self.slow:
                    self.why, self.done = "sender-limited", True
                self.slow = True
                return
            self.lo = rate
        else:
            self.hi, self.why = rate, "loss"
        self.slow = False
        self.rate = (self.lo + self.hi) // 2 if self.hi else self.lo * 2
        if self.hi and self.hi - self.lo < 0.05 * self.hi:
            self.done = True

    def result(self) -> tuple[int, float, str]:
        """(highest lossless achieved event rate, CPU µs per event over the lossless steps,
        what bounded it)."""
        self.r.close()
        return self.best, self.cpu / max(self.events, 1) * 1e6, self.why


def udp_compare(loadgen: Path, per: int, seconds: float, steps: int) -> tuple[tuple[int, float, str], ...]:
    sweeps = [Sweep("udp-ref", per), Sweep("udp-daemon", per)]
    try:
        for _ in range(steps):
            for sw in sweeps:
                if not sw.done:
                    sw.step(loadgen, seconds)
    finally:
        results = tuple(sw.result() for sw in sweeps)
    return results


SENDER = r"""
import socket, sys
port, total, chunk = int(sys.argv[1]), int(sys.argv[2]), sys.stdin.buffer.read()
per = chunk.count(b"\n")
s = socket.create_connection(("127.0.0.1", port))
for _ in range(total // per):
    s.sendall(chunk)
s.close()
"""


def tcp_run(mode: str, seconds: float) -> tuple[float, float]:
    """(events/s from first to last byte, CPU µs per event)."""
    r = Receiver(mode)
    chunk = b"\n".join(event(i) for i in range(4096)) + b"\n"
    total = 4096 * max(1, int(seconds * 1_500_000 / 4096))
    try:
        c0 = cpu_seconds(r.proc.pid)
        subprocess.run(
            pin(0) + [sys.executable, "-c", SENDER, str(r.port), str(total)],
            input=chunk,
            check=True,
            timeout=seconds * 20 + 30,
        )
        got, secs = r.received()
        c1 = cpu_seconds(r.proc.pid)
    finally:
        r.close()
    if got != total:
        sys.exit(f"bench_ingest_loop: {mode} counted {got} of {total} lines")
    rate, cpu = got / secs if secs else 0.0, (c1 - c0) / got * 1e6
    print(f"    {mode:10s} {got:>9,} events  {rate:>11,.0f} events/s  cpu {cpu:5.2f} µs/event", flush=True)
    return rate, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="duration of each step")
    ap.add_argument("--steps", type=int, default=7, help="rate steps per UDP receiver")
    ap.add_argument("--rounds", type=int, default=3, help="TCP runs per receiver, taken in turn")
    ap.add_argument("--only", default="udp1,udp8,tcp", help="which comparisons to run")
    ap.add_argument("--receiver", nargs=2, metavar=("MODE", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        import uvloop

        uvloop.run(receive(args.receiver[0], int(args.receiver[1])))
        return
    sys.path.insert(0, str(ROOT))
    from tykevents import _fast

    print(f"tree {ROOT}  compiled twins: {_fast.COMPILED}  pid {os.getpid()}")
    only = args.only.split(",")
    lines = []
    for per in (1, 8):
        if f"udp{per}" not in only:
            continue
        print(f"UDP, {per} event(s) per datagram (paced; highest rate with < {LOSS_LIMIT:.1%} loss):")
        loadgen = build_loadgen()
        ref, dae = udp_compare(loadgen, per, args.seconds, args.steps)
        lines.append(
            f"UDP x{per}: reference {ref[0]:>9,} ev/s ({ref[2]}), {ref[1]:.2f} µs/ev; "
            f"daemon {dae[0]:>9,} ev/s ({dae[2]}), {dae[1]:.2f} µs/ev; "
            f"rate ratio {dae[0] / ref[0] if ref[0] else float('nan'):.2f}, "
            f"CPU ratio {ref[1] / dae[1] if dae[1] else float('nan'):.2f}"
        )
    if "tcp" in only:
        print("TCP stream (sender as fast as the connection takes it):")
        runs: dict[str, list[tuple[float, float]]] = {"tcp-ref": [], "tcp-daemon": []}
        for _ in range(args.rounds):
            for mode, got in runs.items():
                got.append(tcp_run(mode, args.seconds))
        ref_t, dae_t = (tuple(statistics.median(x) for x in zip(*runs[m], strict=True)) for m in runs)
        ratios = ", ".join(
            f"{d[0] / r[0]:.2f}" for r, d in zip(runs["tcp-ref"], runs["tcp-daemon"], strict=True)
        )
        lines.append(
            f"TCP:    reference {ref_t[0]:>9,.0f} ev/s, {ref_t[1]:.2f} µs/ev; "
            f"daemon {dae_t[0]:>9,.0f} ev/s, {dae_t[1]:.2f} µs/ev (medians of {args.rounds}); "
            f"rate ratio {dae_t[0] / ref_t[0]:.2f} (rounds {ratios}), CPU ratio {ref_t[1] / dae_t[1]:.2f}"
        )
    print("\nsummary (ratio = daemon / reference, same run; CPU ratio = reference µs / daemon µs):")
    for line in lines:
        print("  " + line)


if __name__ == "__main__":
    main()
