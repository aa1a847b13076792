"""A request's timeout: asyncio.timeout() against the shared-timer Deadlines, in one run.

    python bench/bench_deadlines.py [--uses 200000] [--rounds 5] [--in-flight 64]

On uvloop (the daemon's loop), `in-flight` tasks each enter a timeout of 30 s, wait one loop
pass (`await asyncio.sleep(0)`, standing in for the request) and leave it, `uses` times in
all. Rows: the bare loop pass (no timeout: the reference floor), asyncio.timeout(), and
tykevents.golang.http.deadlines (what GoClient.do uses). Each gives µs per use (CPU, the
median of `rounds`) and, for the two timeouts, the cost over the bare pass and its ratio to
asyncio.timeout()'s, all from this run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))
from tykevents.golang.http.deadlines import Deadlines  # noqa: E402


async def one_round(kind: str, uses: int, in_flight: int) -> float:
    dl = Deadlines()
    per = uses // in_flight

    async def worker() -> None:
        for _ in range(per):
            if kind == "bare":
                await asyncio.sleep(0)
            elif kind == "asyncio.timeout":
                async with asyncio.timeout(30):
                    await asyncio.sleep(0)
            else:
                async with dl.after(30):
                    await asyncio.sleep(0)

    t0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    dl.close()
    return (time.process_time() - t0) / (per * in_flight) * 1e6


async def run(args: argparse.Namespace) -> dict[str, float]:
    kinds = ["bare", "asyncio.timeout", "deadlines"]
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    await one_round("deadlines", 10_000, args.in_flight)  # warm up
    for _ in range(args.rounds):
        for k in kinds:
            runs[k].append(await one_round(k, args.uses, args.in_flight))
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uses", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--in-flight", type=int, default=64)
    args = ap.parse_args()
    import uvloop

    med: Any = uvloop.run(run(args))
    bare = med["bare"]
    ref = med["asyncio.timeout"] - bare
    print(f"{'row':16} {'µs/use':>7} {'over bare':>9} {'vs asyncio.timeout':>18}")
    for k, us in med.items():
        over = us - bare
        ratio = f"{over / ref:17.2f}x" if k != "bare" and ref > 0 else f"{'-':>18}"
        print(f"{k:16} {us:7.2f} {over:9.2f} {ratio}")


if __name__ == "__main__":
    main()
