"""The Redis cooldown store's cost per check, against one redis-py SET per check, in one run.

    python bench/bench_cooldown_store.py [--checks 20000] [--rounds 3] [--concurrency 1,8,64]

Starts a redis-server on a free port (stopped by PID at the end). For each concurrency c,
`checks` webhook cooldown checks of distinct keys are made c at a time (c coroutines, as c
deliveries in flight make them), with:
  set      the reference: `SET webhook.cache.<md5> 1 NX EX 60`, one redis-py command per
           check (what RedisCooldown did before it batched);
  batched  RedisCooldown.acquire(): the checks made while one call is in flight share the
           next (one Lua call; tykevents/store/cooldown.py).
Each row gives this process's CPU µs per check (the median of `rounds`), redis-server's CPU µs
per check (from /proc), the checks per call, and the ratio batched/set of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import cpu_seconds  # noqa: E402

from tests.support.servers import RedisServer  # noqa: E402
from tykevents.store.cooldown import KEY_PREFIX, RedisCooldown  # noqa: E402


async def one_round(
    client: Any, kind: str, checks: int, conc: int, tag: str, server_pid: int
) -> dict[str, float]:
    digests = [hashlib.md5(f"{tag}{i}".encode()).digest() for i in range(checks)]
    store = RedisCooldown(client)

    async def check(d: bytes) -> bool:
        if kind == "set":
            return bool(await client.set(KEY_PREFIX + d.hex(), "1", nx=True, ex=60))
        return await store.acquire(d, 60)

    async def worker(part: list[bytes]) -> int:
        return sum([await check(d) for d in part])

    parts = [digests[i::conc] for i in range(conc)]
    cpu0, rcpu0 = time.process_time(), cpu_seconds(server_pid)
    fired = sum(await asyncio.gather(*(worker(p) for p in parts)))
    cpu, rcpu = time.process_time() - cpu0, cpu_seconds(server_pid) - rcpu0
    assert fired == checks, f"{fired} of {checks} fired"
    calls = store.batches if kind == "batched" else checks
    return {"cpu_us": cpu / checks * 1e6, "redis_us": rcpu / checks * 1e6, "per_call": checks / max(calls, 1)}


async def run(url: str, server_pid: int, args: argparse.Namespace) -> None:
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url)
    await client.ping()
    concs = [int(c) for c in args.concurrency.split(",")]
    rows: dict[tuple[int, str], list[dict[str, float]]] = {}
    try:
        await one_round(client, "batched", 1000, 8, "warm", server_pid)
        for r in range(args.rounds):
            for c in concs:
                for kind in ("set", "batched"):
                    rows.setdefault((c, kind), []).append(
                        await one_round(client, kind, args.checks, c, f"{kind}{c}.{r}.", server_pid)
                    )
            await client.flushall()
    finally:
        await client.aclose()
    print(f"{'in flight':>9}  {'store':8} {'µs/check':>9} {'redis µs':>9} {'checks/call':>11} {'vs set':>7}")
    for c in concs:
        ref = statistics.median(x["cpu_us"] for x in rows[(c, "set")])
        for kind in ("set", "batched"):
            runs = rows[(c, kind)]
            us = statistics.median(x["cpu_us"] for x in runs)
            rus = statistics.median(x["redis_us"] for x in runs)
            per = statistics.median(x["per_call"] for x in runs)
            print(f"{c:>9}  {kind:8} {us:9.1f} {rus:9.1f} {per:11.1f} {us / ref:6.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", type=int, default=20000, help="checks per round and row")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (medians reported)")
    ap.add_argument("--concurrency", default="1,8,64", help="checks in flight, comma-separated")
    args = ap.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        try:
            uvloop.run(run(server.url, server.proc.pid, args))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
