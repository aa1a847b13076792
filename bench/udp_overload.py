"""UDP at twice the deliverable rate for a minute: every record accounted for.

    python bench/udp_overload.py [--seconds 60] [--factor 2] [--delay 0.005] [--concurrency 10]

A webhook's receiver delivers at most concurrency / delay events per second; events are offered
over UDP at `factor` times that. Printed when everything has settled: sent, kernel drops,
rejected, dropped at the lane (the datagram overload policy), handled, and how many of those the
receiver got. The run fails (exit 1) unless sent == accounted and delivered == handled, each
once. The test suite runs the same for 3 s (tests/fault/test_udp_overload.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.daemon import DaemonProcess
from tests.support.overload import account, offer, setup, slow
from tests.support.threaded import ThreadedReceiver


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--delay", type=float, default=0.005)
    ap.add_argument("--concurrency", type=int, default=10)
    a = ap.parse_args()
    receiver = ThreadedReceiver(slow(a.delay, a.concurrency))
    capacity = a.concurrency / a.delay
    with tempfile.TemporaryDirectory() as tmp:
        d = DaemonProcess(Path(tmp), **setup(receiver.url("/hook"))).start()
        try:
            started = time.monotonic()
            sent = offer(d.udp, a.factor * capacity, a.seconds)
            took = time.monotonic() - started
            acc = account(d, receiver, sent, settle=120)
        finally:
            d.stop()
            receiver.close()
    print(f"offered {sent / took:,.0f}/s for {took:.1f} s ({a.factor:g}x the receiver's {capacity:,.0f}/s)")
    print(acc.line())
    ok = acc.accounted == sent and acc.delivered == acc.distinct == acc.handled
    print("every record accounted for" if ok else "NOT every record accounted for")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
