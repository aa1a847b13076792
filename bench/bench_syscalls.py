"""Syscalls per webhook: the daemon against a minimal uvloop HTTP client, in one run.

    python bench/bench_syscalls.py [--count 20000] [--redis] [--delivery-log on|off]

The webhook path should make no more syscalls than its I/O needs: one write per request and
one read per response when busy (docs/operations.md#syscalls). Both sides are counted with
`strace -c -f` (root, or ptrace allowed; `make bench-setup` installs strace), against the
same keep-alive receiver on core 1:
  daemon     `python -m tykevents run` on core 0 (bench_targets.py's daemon: memory state, or
             with `--redis` the Redis spool on a redis-server of its own), traced from after a
             warm-up burst through a burst of `--count` QuotaExceeded events with distinct keys
             (one TCP stream) until the receiver has every webhook;
  client     bench_targets.py's reference B (one keep-alive POST in flight per connection,
             64 connections), run twice under strace with `--count` / 5 and `--count`
             requests: the difference, per request, leaves out its start-up.
Prints each side's syscalls per webhook (request) by name and the ratio daemon / client.
Tracing slows both sides; only the counts mean anything here, not the rates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import TimedReceiver, pin  # noqa: E402
from bench_targets import CLIENT, WarmDaemon  # noqa: E402

CONNS = 64  # as WarmDaemon's webhooks.max_per_host
SIZE = 338  # the daemon's request, as bench_targets.py measures it


def parse_summary(text: str) -> dict[str, int]:
    """strace -c's table: {syscall: calls}."""
    calls: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[0][0].isdigit() or parts[-1] == "total":
            continue
        # % time, seconds, usecs/call, calls, [errors,] syscall
        calls[parts[-1]] = int(parts[3])
    return calls


def trace_daemon(args: argparse.Namespace, tmp: Path, recv: TimedReceiver) -> dict[str, int]:
    side = WarmDaemon(tmp, "daemon", recv, redis=args.redis, delivery_log=args.delivery_log)
    try:
        assert side.daemon is not None
        out = tmp / "daemon.strace"
        pid = str(side.daemon.proc.pid)
        tracer = subprocess.Popen(["strace", "-c", "-f", "-q", "-o", str(out), "-p", pid])
        time.sleep(1.0)  # attached to every thread
        if tracer.poll() is not None:
            raise SystemExit(
                f"bench_syscalls: strace could not attach to the daemon (exit {tracer.returncode}): "
                "root, or ptrace allowed (kernel.yama.ptrace_scope), is needed"
            )
        try:
            side.burst("run.", args.count)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        calls = parse_summary(out.read_text())
        if not calls:
            raise SystemExit(f"bench_syscalls: strace counted nothing (exit {tracer.returncode})")
        return calls
    finally:
        side.close()


def trace_client(n: int, tmp: Path, recv: TimedReceiver) -> dict[str, int]:
    out = tmp / f"client{n}.strace"
    cmd = ["strace", "-c", "-f", "-q", "-o", str(out)]
    cmd += pin(0) + [sys.executable, "-c", CLIENT, str(recv.port), str(n), str(CONNS), "100", str(SIZE)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=120)
    return parse_summary(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--redis", action="store_true", help="Redis state and the webhook spool")
    ap.add_argument("--delivery-log", choices=("on", "off"), default="on")
    args = ap.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("bench_syscalls: strace is not installed (make bench-setup installs it)")
    os.sched_setaffinity(0, {1})
    recv = TimedReceiver(1)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-syscalls-") as t:
            tmp = Path(t)
            daemon = trace_daemon(args, tmp, recv)
            small, big = trace_client(args.count // 5, tmp, recv), trace_client(args.count, tmp, recv)
    finally:
        recv.close()
    span = args.count - args.count // 5
    client = {k: (big.get(k, 0) - small.get(k, 0)) / span for k in big}
    per = {k: v / args.count for k, v in daemon.items()}
    d_total, c_total = sum(per.values()), sum(v for v in client.values() if v > 0)
    state = "redis spool" if args.redis else "memory"
    print(
        f"bench_syscalls: {args.count} webhooks ({state}, delivery log {args.delivery_log}), "
        f"{CONNS} keep-alive connections, strace -c -f"
    )
    print(f"  daemon   {d_total:6.2f} syscalls per webhook")
    print(f"  client   {c_total:6.2f} syscalls per request (reference)")
    print(f"  ratio    {d_total / c_total:6.2f}x")
    print("  by syscall (per webhook / request):")
    for name in sorted(set(per) | set(client), key=lambda k: -max(per.get(k, 0), client.get(k, 0))):
        a, b = per.get(name, 0.0), client.get(name, 0.0)
        if a >= 0.005 or b >= 0.005:
            print(f"    {name:<16} daemon {a:6.3f}   client {b:6.3f}")


if __name__ == "__main__":
    main()
