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
delivery and daemon busy share, and its rate as a ratio to the first setting's in the same
rounds. Every process started here is ended by PID.
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
from _support import PinnedRedis, TimedReceiver  # noqa: E402
from bench_targets import Daemon, daemon_rate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="64,256", help="lanes.webhook_workers settings, the reference first")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=30000, help="events per burst")
    args = ap.parse_args()
    settings = [int(w) for w in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="tykevents-ww-"))
    recv = TimedReceiver(core=1)
    redises: list[PinnedRedis] = []
    daemons: dict[int, Daemon] = {}
    runs: dict[int, list[dict[str, float]]] = {w: [] for w in settings}
    try:
        for w in settings:
            (tmp / f"redis{w}").mkdir()
            redises.append(PinnedRedis(tmp / f"redis{w}", core=1))
            opts = argparse.Namespace(concurrency=64, delivery_log="on", webhook_workers=w)
            daemons[w] = Daemon(tmp, f"ww{w}", recv.port, opts, redises[-1].port)
            daemon_rate(daemons[w], recv, "warm", 2000)
        for r in range(args.rounds):
            for w in settings:
                runs[w].append(daemon_rate(daemons[w], recv, f"r{r}w{w}-", args.count))
            print(f"round {r + 1}: " + ", ".join(f"{w} {runs[w][-1]['per_s']:,.0f}/s" for w in settings))
    finally:
        for d in daemons.values():
            d.close()
        for redis in redises:
            redis.stop()
        recv.close()
        shutil.rmtree(tmp, ignore_errors=True)
    ref = statistics.median(x["per_s"] for x in runs[settings[0]])
    for w in settings:
        rate = statistics.median(x["per_s"] for x in runs[w])
        cpu = statistics.median(x["cpu_us"] for x in runs[w])
        busy = statistics.median(x["daemon_busy"] for x in runs[w])
        pairs = " ".join(
            f"{x['per_s'] / y['per_s']:.2f}" for x, y in zip(runs[w], runs[settings[0]], strict=True)
        )
        print(
            f"  webhook_workers {w:>4}: {rate:>8,.0f} deliveries/s ({rate / ref:.2f}x the first; "
            f"per round {pairs}), {cpu:.1f} µs CPU each, daemon busy {busy:.0%}"
        )


if __name__ == "__main__":
    main()
