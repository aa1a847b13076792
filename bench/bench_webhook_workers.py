"""The webhook lane's worker count with Redis state, settings side by side in one run.

    python bench/bench_webhook_workers.py [--workers 64,256] [--rounds 5] [--count 30000]

A webhook handler waits for its cooldown check; with Redis state that is the batch in
flight, and the checks made meanwhile form the next one (tykevents/store/cooldown.py). The
lane's workers bound how many wait together, so too few leave the daemon waiting for Redis.
One Redis-state daemon per setting (`lanes.webhook_workers`), as bench_targets.py runs them
(pinned to core 0; receiver and redis-server on core 1), each on a redis-server of its own
(instances on one Redis share the spool's work); per round each gets a burst of
`--count` distinct QuotaExceeded events over TCP, the settings taken in turn so that load
from elsewhere falls on all alike. Printed: each setting's median deliveries/s, CPU µs per
delivery and daemon busy share, and its rate against the first setting's: the median of the
rounds' own ratios. Every process started here is ended by PID.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from _support import TimedReceiver  # noqa: E402
from bench_targets import WarmDaemon, paired  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="64,256", help="lanes.webhook_workers settings, the reference first")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=30000, help="events per burst")
    args = ap.parse_args()
    settings = [int(w) for w in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="tykevents-ww-"))
    recv = TimedReceiver(core=1)
    daemons: dict[str, WarmDaemon] = {}
    runs: dict[str, list[dict[str, float]]] = {str(w): [] for w in settings}
    try:
        for w in settings:
            daemons[str(w)] = WarmDaemon(tmp, f"ww{w}", recv, redis=True, webhook_workers=w, warm=2000)
        for r in range(args.rounds):
            for w in settings:
                runs[str(w)].append(daemons[str(w)].burst(f"r{r}w{w}-", args.count))
            print(f"round {r + 1}: " + ", ".join(f"{w} {runs[str(w)][-1]['per_s']:,.0f}/s" for w in settings))
    finally:
        for d in daemons.values():
            d.close()
        recv.close()
        shutil.rmtree(tmp, ignore_errors=True)
    first = str(settings[0])
    for w in map(str, settings):
        rate = statistics.median(x["per_s"] for x in runs[w])
        cpu = statistics.median(x["cpu_us"] for x in runs[w])
        busy = statistics.median(x["daemon_busy"] for x in runs[w])
        pairs = " ".join(f"{x['per_s'] / y['per_s']:.2f}" for x, y in zip(runs[w], runs[first], strict=True))
        print(
            f"  webhook_workers {w:>4}: {rate:>8,.0f} deliveries/s ({paired(runs, w, first) or 0:.2f}x "
            f"the first, median of the rounds' {pairs}), {cpu:.1f} µs CPU each, daemon busy {busy:.0%}"
        )


if __name__ == "__main__":
    main()
