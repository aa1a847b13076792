"""This tree's daemon against another revision's, in turn, through the same webhook bursts.

    python bench/bench_ab.py [--base HEAD~1] [--base-tree DIR] [--rounds 6] [--count 30000]
                             [--redis] [--keep]

On a VM whose speed swings by a third within minutes (docs/operations.md#benchmarking-the-webhook-path),
a change worth a few percent shows only beside its reference measured at the same moment.
This runs both daemons as bench_targets.py runs its memory (or `--redis`: Redis spool) daemon:
pinned to core 0, one keep-alive receiver on core 1, QuotaExceeded events with distinct keys
over one TCP stream, timed from the first byte to the last webhook. Both are started and
warmed up, then each round times one burst of `--count` on each, seconds apart, the order
swapped every round (ABBA) so that a drift of the machine falls on both. Printed: each round's CPU
per webhook of both and their ratio, then the medians and the median of the rounds' ratios
(this tree / base), for CPU per webhook and for webhooks/s.

`--base` is checked out into a temporary git worktree and its compiled hot path is built
there (about a minute; `--keep` leaves it for the next run and prints where), or
`--base-tree` names a checkout already built. Both run on this interpreter and .venv, and
both must run compiled (the extensions are optional: a tree that fell back to the pure twins
stops the run). An even `--rounds` gives each side as many first places.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import ROOT, TimedReceiver, in_tree  # noqa: E402
from bench_targets import WarmDaemon  # noqa: E402


def remove_tree(where: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)
    shutil.rmtree(where.parent, ignore_errors=True)


def checkout(rev: str) -> Path:
    """`rev` in a new worktree, its extensions built in place (removed again on failure)."""
    where = Path(tempfile.mkdtemp(prefix="tykevents-ab-")) / "tree"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True)
        print(f"bench_ab: building {rev} in {where}", file=sys.stderr, flush=True)
        built = subprocess.run(
            [sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
            cwd=where,
            capture_output=True,
            text=True,
        )
        if built.returncode:
            raise SystemExit(f"bench_ab: building {rev} failed:\n{built.stderr[-3000:]}")
    except BaseException:
        remove_tree(where)
        raise
    return where


def compiled(root: Path) -> None:
    """Stop unless the tree at `root` runs its compiled hot path: the extensions are optional,
    and a tree that silently fell back to the pure twins would make any change look fast."""
    said = in_tree(root, "import tykevents._fast as f; print(f.COMPILED, f.COMPILE_ERROR)")
    if not said.startswith("True"):
        raise SystemExit(
            f"bench_ab: {root} runs the pure-Python twins ({said[:400]}); "
            "build it: python setup.py build_ext --inplace"
        )


def shares(b: dict[str, Any], a: dict[str, Any]) -> str:
    """With several workers: the busiest worker's share of the workers' CPU, base and this."""
    if b.get("busiest_worker_share") is None or a.get("busiest_worker_share") is None:
        return ""
    return (
        f"; busiest worker's share base {b['busiest_worker_share']:.2f}, this {a['busiest_worker_share']:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD~1", help="the revision to compare with (git)")
    ap.add_argument("--base-tree", type=Path, help="a built checkout to compare with, instead of --base")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--count", type=int, default=30000, help="webhooks per timed burst")
    ap.add_argument("--redis", action="store_true", help="Redis state and the webhook spool")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes per daemon (more than 1: unpinned, 16 streams)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the --base worktree")
    args = ap.parse_args()
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this script's sending and polling stay off core 0
    if args.base_tree is None:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "--verify", f"{args.base}^{{commit}}"],
            capture_output=True,
            text=True,
        )
        if sha.returncode:
            raise SystemExit(f"bench_ab: no such revision: {args.base}")
        label = f"{args.base} ({sha.stdout.strip()})"
    else:
        label = str(args.base_tree)
    made = None
    recv: TimedReceiver | None = None
    got: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    sides: dict[str, WarmDaemon] = {}
    t = tempfile.mkdtemp(prefix="tykevents-ab-run-")
    try:
        base = args.base_tree
        if base is None:
            base = made = checkout(args.base)
        trees = {"base": base.resolve(), "this": ROOT}
        for root in trees.values():
            compiled(root)
        recv = TimedReceiver(core=1)
        for name, root in trees.items():
            sides[name] = WarmDaemon(Path(t), name, recv, redis=args.redis, root=root, workers=args.workers)
        for r in range(args.rounds):
            order = ("base", "this") if r % 2 == 0 else ("this", "base")
            for name in order:
                got[name].append(sides[name].burst(f"r{r}-", args.count))
            b, a = got["base"][-1], got["this"][-1]
            print(
                f"round {r + 1}: CPU µs/webhook base {b['cpu_us']:.1f}, this {a['cpu_us']:.1f} "
                f"({a['cpu_us'] / b['cpu_us']:.3f}x); webhooks/s base {b['per_s']:,.0f}, "
                f"this {a['per_s']:,.0f}" + shares(b, a),
                flush=True,
            )
    finally:
        for side in sides.values():
            side.close()
        if recv is not None:
            recv.close()
        shutil.rmtree(t, ignore_errors=True)
        if made is not None:
            if args.keep:
                print(f"bench_ab: kept {made} (--base-tree {made})", file=sys.stderr)
            else:
                remove_tree(made)

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in got[name])

    def paired(key: str) -> tuple[float, float, float]:
        ratios = [a[key] / b[key] for a, b in zip(got["this"], got["base"], strict=True)]
        return statistics.median(ratios), min(ratios), max(ratios)

    state = "redis spool" if args.redis else "memory"
    print(f"bench_ab: this tree against {label}, {args.rounds} rounds of {args.count} webhooks ({state})")
    cpu, cpu_lo, cpu_hi = paired("cpu_us")
    rate, rate_lo, rate_hi = paired("per_s")
    print(
        f"  CPU µs/webhook  base {med('base', 'cpu_us'):.1f}  this {med('this', 'cpu_us'):.1f}  "
        f"this/base {cpu:.3f}x (rounds {cpu_lo:.3f}-{cpu_hi:.3f})"
    )
    print(
        f"  webhooks/s      base {med('base', 'per_s'):,.0f}  this {med('this', 'per_s'):,.0f}  "
        f"this/base {rate:.3f}x (rounds {rate_lo:.3f}-{rate_hi:.3f})"
    )


if __name__ == "__main__":
    main()
