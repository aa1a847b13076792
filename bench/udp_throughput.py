"""UDP ingest throughput: the real daemon against a bare uvloop receive-and-count loop.

    python bench/udp_throughput.py [--seconds 2] [--per 1] [--rates 100000,200000,...]

For each receiver (the reference first, then `tykevents run` in a subprocess, decoding and
routing events that match no handler) it steps the offered rate up and reports the highest
rate sustained with under 0.1 % loss, both measured in this run on this machine, and their
ratio. The rate is the one the sender achieved (records / its own seconds): on 2 cores the
sender (bench/loadgen.c, sendmmsg, built here with the system compiler) tops out near 450k
datagrams/s, and a step it cannot keep up with ends the sweep as "sender-limited". So the
report also gives each receiver's CPU time per event over the lossless steps, which measures
its capacity beyond what one sender core can offer. Sender and receiver are pinned to
different cores when taskset exists. Everything is on loopback, bounded in count and time,
and every process started here is ended by PID.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from _support import ROOT, build_loadgen, cpu_seconds, free_port, pin, send_timed, settled, terminate  # noqa: E402

LOSS_LIMIT = 0.001

REFERENCE = r"""
import asyncio, socket, sys, time, uvloop
port = int(sys.argv[1])
class P(asyncio.DatagramProtocol):
    n = 0
    last = 0.0
    def datagram_received(self, data, addr):
        P.n += 1
        P.last = time.monotonic()
async def runner():
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind(("127.0.0.1", port))
    await loop.create_datagram_endpoint(P, sock=s)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        await asyncio.sleep(0.2)
        while P.last and time.monotonic() - P.last < 0.3:
            await asyncio.sleep(0.05)
        print(P.n, flush=True)
        P.n, P.last = 0, 0.0
uvloop.run(runner())
"""


class Reference:
    name = "bare uvloop receive-and-count"

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            pin(1) + [sys.executable, "-c", REFERENCE, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def received(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Daemon:
    name = "tykevents run (decode + route, no matching handler)"

    def __init__(self, tmp: Path, per: int) -> None:
        self.port = free_port()
        self.http = free_port(socket.SOCK_STREAM)
        apps = tmp / "apps"
        apps.mkdir()
        # The load generator's API ids exist, with a handler for an event it never sends, so
        # every event is decoded and routed and matches no handler.
        for i in range(4):
            (apps / f"api-{i}.json").write_text(
                json.dumps(
                    {
                        "api_id": f"api-{i}",
                        "org_id": "o",
                        "name": f"api {i}",
                        "event_handlers": {
                            "events": {
                                "NeverSent": [
                                    {"handler_name": "eh_log_handler", "handler_meta": {"prefix": "x"}}
                                ]
                            }
                        },
                    }
                )
            )
        conf = tmp / "tyk.conf"
        conf.write_text(
            json.dumps(
                {
                    "app_path": str(apps),
                    "log_level": "warn",
                    "tykevents": {
                        "listen": {"udp": [f"127.0.0.1:{self.port}"]},
                        "metrics": f"127.0.0.1:{self.http}",
                        "max_record_bytes": 65536,
                        "workers": 1,
                    },
                }
            )
        )
        self.proc = subprocess.Popen(
            pin(1) + [sys.executable, "-m", "tykevents", "run", "-c", str(conf)],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.events()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.close()
            sys.exit("udp_throughput: the daemon did not come up")
        self.seen = self.events()

    def events(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=5) as r:
            return int(json.load(r)["stats"]["events"])

    def received(self) -> int:
        last = settled(self.events)
        got, self.seen = last - self.seen, last
        return got

    def close(self) -> None:
        terminate(self.proc)


def sweep(
    receiver: Reference | Daemon, loadgen: Path, rates: list[int], seconds: float, per: int
) -> tuple[int, float, str]:
    """(highest lossless achieved rate, CPU µs per event over lossless steps, why it stopped)."""
    best, cpu, events, why = 0, 0.0, 0, "end of the rate list"
    print(f"\n{receiver.name}")
    for rate in rates:
        total = int(rate * seconds)
        c0 = cpu_seconds(receiver.proc.pid)
        sent, secs = send_timed(loadgen, receiver.port, rate, total, str(per))
        got = receiver.received()
        c1 = cpu_seconds(receiver.proc.pid)
        achieved = int(sent / secs) if secs > 0 else 0
        loss = 1 - got / sent if sent else 1.0
        ok = loss < LOSS_LIMIT
        print(
            f"  offered {rate:>9,}/s  achieved {achieved:>9,}/s  received {got:>10,}  loss {loss:7.3%}  "
            f"cpu {(c1 - c0) / max(got, 1) * 1e6:5.2f} µs/event  {'ok' if ok else 'LOSS'}"
        )
        if not ok:
            why = "loss"
            break
        best = max(best, achieved)
        cpu, events = cpu + (c1 - c0), events + got
        if achieved < 0.95 * rate:
            why = "sender-limited"
            break
    return best, cpu / max(events, 1) * 1e6, why


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each step")
    ap.add_argument("--per", type=int, default=1, help="events per datagram")
    ap.add_argument(
        "--rates",
        default="100000,200000,300000,400000,500000,600000,700000,800000,900000,1000000,1200000,1400000",
        help="offered event rates to step through",
    )
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    loadgen = build_loadgen()
    with tempfile.TemporaryDirectory() as tmp:
        ref = Reference()
        try:
            ref_best, ref_cpu, ref_why = sweep(ref, loadgen, rates, args.seconds, args.per)
        finally:
            ref.close()
        d = Daemon(Path(tmp), args.per)
        try:
            d_best, d_cpu, d_why = sweep(d, loadgen, rates, args.seconds, args.per)
        finally:
            d.close()
    print(f"\nhighest achieved rate with < {LOSS_LIMIT:.1%} loss, {args.per} event(s) per datagram:")
    print(f"  reference (bare uvloop count loop): {ref_best:>9,} events/s  (stopped by: {ref_why})")
    print(f"  tykevents daemon:                   {d_best:>9,} events/s  (stopped by: {d_why})")
    print(f"  ratio daemon / reference:           {d_best / ref_best if ref_best else float('nan'):.2f}")
    print("receiver CPU per event over the lossless steps (capacity beyond one sender core):")
    print(
        f"  reference {ref_cpu:.2f} µs   daemon {d_cpu:.2f} µs   "
        f"capacity ratio daemon / reference {ref_cpu / d_cpu if d_cpu else float('nan'):.2f}"
    )


if __name__ == "__main__":
    main()
