"""The webhook Redis spool's cost per delivery, against the memory path in the same run.

    python bench/bench_spool.py [--count 10000] [--rounds 3] [--send stub|http|both]
                                [--baseline REV] [--redis-log] [--profile FILE]

Starts a redis-server on a free port (no persistence; stopped by PID at the end) and runs the
same deliveries through WebhookService:
  memory     no spool: submit() -> lane -> send -> finish;
  spool      `webhooks.spool`: submit() -> XADD -> XREADGROUP -> send -> XACK + XDEL, timed until
             the stream is empty again (every delivery written, read and acknowledged);
  spool@REV  the same with spool.py as it was at git revision REV (default: the commit before
             the batched spool), for the old-vs-new comparison; skipped when git cannot show it.
Each row gives deliveries/s, the daemon's CPU µs per delivery (this process) and redis-server's
CPU µs per delivery (from /proc), each as the median of `rounds`, and as a ratio to `memory`.

Both sides keep the delivery log in memory (with `--redis-log` the spool rows keep it in Redis,
as `state: "redis"` does: that log's cost is not the spool's).
`--send stub` sends nothing (a sender that answers 200 at once: the spool's own cost, isolated);
`--send http` posts to a keep-alive counting receiver in its own process (bench/_support.py),
the issue's "Redis spool rate / memory rate" figure. Both sides of a row use the same sender.
A last line gives the submit-to-send latency (p50/p99/max) of single deliveries at a low rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import ROOT, CountingReceiver, cpu_seconds  # noqa: E402

BASELINE = "1bb5caf"  # spool.py before the batched spool (one XADD per entry in a pipeline)
BODY = b'{"event":"QuotaExceeded","message":"Key Quota Limit Exceeded","key":"5f4dcc3b5aa765d6"}'


class _Ok:
    """What a sender returns for a 200 (duck-typed as client.Result)."""

    status, error, retry, retry_after, body, ok = 200, "", False, None, b"", True

    def label(self) -> str:
        return "2xx"


class StubSender:
    """Sends nothing: the same 200 for every delivery, after one loop turn (as a reply would)."""

    sent_at: dict[str, float] | None = None  # log_id -> when sent (latency runs)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, plan: Any, body: bytes, delivery: Any = None) -> Any:
        if self.sent_at is not None and delivery is not None and delivery.log_id:
            self.sent_at[delivery.log_id] = time.perf_counter()
        await asyncio.sleep(0)
        return _Ok()


def old_spool_class(rev: str) -> Any:
    """Spool from spool.py at git revision `rev`, or None when git cannot show it."""
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:tykevents/deliver/webhook/spool.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("spool_baseline")
    exec(compile(src, f"spool.py@{rev}", "exec"), mod.__dict__)
    return mod.Spool


def new_spool_class() -> Any:
    from tykevents.deliver.webhook.spool import Spool

    return Spool


async def one_round(
    kind: str,
    spool_cls: Any,
    redis_url: str,
    redis_pid: int,
    url: str | None,
    count: int,
    tmp: str,
    redis_log: bool = False,
) -> tuple[float, float, float]:
    import redis.asyncio as aredis

    from tykevents.config import WebhookSettings
    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.deliverylog import make_log
    from tykevents.deliver.webhook.metrics import WebhookCounters
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
    from tykevents.deliver.webhook.service import WebhookService

    client = aredis.Redis.from_url(redis_url)
    await client.flushall()
    settings = WebhookSettings(
        max_per_host=64,
        pending_limit=10_000_000,
        spool=spool_cls is not None,
        spool_consumer="bench",
        dead_letter_path=os.path.join(tmp, "dl.jsonl"),
    )
    metrics = WebhookCounters()
    svc: Any = WebhookService(settings, metrics=metrics, redis=client if spool_cls else None)
    if not redis_log:  # the same delivery log on both sides: the spool's cost alone
        svc.log = make_log(settings.log, None)
    if url is None:
        svc.sender = StubSender()
    if spool_cls is not None:
        svc.spool = spool_cls(client, svc, claim_after=settings.spool_claim_after, consumer="bench")
    await svc.start()
    try:
        plan = RequestPlan("POST", url or "http://127.0.0.1:9/hook", tyk_header({"X-B": "1"}, JSON, False))
        deliveries = [Delivery(plan, BODY, handler="bench") for _ in range(count)]
        r0 = cpu_seconds(redis_pid)
        started, cpu = time.perf_counter(), time.process_time()
        for i, d in enumerate(deliveries):
            svc.submit(d)
            if i % 512 == 511:
                await asyncio.sleep(0)  # as the daemon's lanes yield between events
        while metrics.total("delivered") < count:
            await asyncio.sleep(0.002)
        if spool_cls is not None:
            while await client.xlen("tykevents:webhooks"):  # written, read and acknowledged
                await asyncio.sleep(0.002)
        took = time.perf_counter() - started
        cpu_us = (time.process_time() - cpu) / count * 1e6
        redis_us = (cpu_seconds(redis_pid) - r0) / count * 1e6
        assert metrics.total("delivered") == count, (kind, metrics.counts)
        return count / took, cpu_us, redis_us
    finally:
        await svc.close()
        await client.aclose()


class _Finisher:
    """A SpoolOwner that finishes each delivery as soon as it is taken (the spool alone)."""

    room = 10_000_000

    def __init__(self) -> None:
        self.spool: Any = None
        self.taken = 0

    def accept(self, d: Any) -> None:
        self.taken += 1
        self.spool.done(d)

    def room_changed(self) -> None:
        pass


async def spool_alone(
    spool_cls: Any, redis_url: str, redis_pid: int, count: int
) -> tuple[float, float, float]:
    """add() -> write -> read -> done() -> ack, no service: the spool's own cost per delivery."""
    import redis.asyncio as aredis

    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header

    client = aredis.Redis.from_url(redis_url)
    await client.flushall()
    owner = _Finisher()
    spool = owner.spool = spool_cls(client, owner, consumer="alone")
    await spool.start()
    try:
        plan = RequestPlan("POST", "http://127.0.0.1:9/hook", tyk_header({"X-B": "1"}, JSON, False))
        deliveries = [Delivery(plan, BODY, handler="bench") for _ in range(count)]
        for i, d in enumerate(deliveries):
            d.log_id = f"{i:032x}"
        r0 = cpu_seconds(redis_pid)
        started, cpu = time.perf_counter(), time.process_time()
        for i, d in enumerate(deliveries):
            spool.add(d)
            if i % 512 == 511:
                await asyncio.sleep(0)
        while owner.taken < count or await client.xlen("tykevents:webhooks"):
            await asyncio.sleep(0.002)
        took = time.perf_counter() - started
        return (
            count / took,
            (time.process_time() - cpu) / count * 1e6,
            (cpu_seconds(redis_pid) - r0) / count * 1e6,
        )
    finally:
        await spool.close()
        await client.aclose()


async def latency(spool_cls: Any, redis_url: str, tmp: str, n: int = 200) -> list[float]:
    """Submit-to-send ms of single deliveries, one every 5 ms (an idle spool)."""
    import redis.asyncio as aredis

    from tykevents.config import WebhookSettings
    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.deliverylog import make_log
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
    from tykevents.deliver.webhook.service import WebhookService

    client = aredis.Redis.from_url(redis_url)
    await client.flushall()
    settings = WebhookSettings(
        spool=spool_cls is not None, spool_consumer="lat", dead_letter_path=os.path.join(tmp, "dl.jsonl")
    )
    svc: Any = WebhookService(settings, redis=client if spool_cls else None)
    svc.log = make_log(settings.log, None)
    sender = svc.sender = StubSender()
    sender.sent_at = {}
    if spool_cls is not None:
        svc.spool = spool_cls(client, svc, claim_after=60.0, consumer="lat")
    await svc.start()
    out: list[float] = []
    try:
        plan = RequestPlan("POST", "http://127.0.0.1:9/hook", tyk_header({}, JSON, False))
        await asyncio.sleep(0.3)  # the reader is blocked in XREADGROUP: idle
        for _ in range(n):
            d = Delivery(plan, BODY, handler="lat")
            t = time.perf_counter()
            svc.submit(d)  # gives d its log_id, which the spool keeps
            while d.log_id not in sender.sent_at:
                await asyncio.sleep(0.0002)
            out.append((sender.sent_at[d.log_id] - t) * 1e3)
            await asyncio.sleep(0.005)
    finally:
        await svc.close()
        await client.aclose()
    return sorted(out)


async def run(args: argparse.Namespace, tmp: str) -> None:
    from tests.support.servers import RedisServer

    server = RedisServer(Path(tmp))
    rx = CountingReceiver(1) if args.send in ("http", "both") else None
    try:
        variants: list[tuple[str, Any]] = [("memory", None), ("spool", new_spool_class())]
        old = old_spool_class(args.baseline) if args.baseline else None
        if old is not None:
            variants.append((f"spool@{args.baseline}", old))
        else:
            print(f"(no baseline: git cannot show spool.py at {args.baseline!r})")
        modes = ["stub", "http"] if args.send == "both" else [args.send]
        for mode in modes:
            url = f"http://127.0.0.1:{rx.port}/hook" if mode == "http" and rx else None
            await one_round("warm", variants[1][1], server.url, server.proc.pid, url, 2000, tmp)
            results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in variants}
            for _ in range(args.rounds):
                for name, cls in variants:
                    results[name].append(
                        await one_round(
                            name, cls, server.url, server.proc.pid, url, args.count, tmp, args.redis_log
                        )
                    )
            print(
                f"send={mode}: {args.count} deliveries per run, body {len(BODY)} bytes, "
                f"median of {args.rounds}"
            )
            ref_rate = statistics.median(r for r, _, _ in results["memory"])
            ref_cpu = statistics.median(c for _, c, _ in results["memory"])
            for name, values in results.items():
                rate = statistics.median(r for r, _, _ in values)
                cpu = statistics.median(c for _, c, _ in values)
                rcpu = statistics.median(c for _, _, c in values)
                print(
                    f"  {name:<16} {rate:>9,.0f} deliveries/s ({rate / ref_rate:.2f} x memory)   "
                    f"{cpu:6.1f} µs CPU/delivery ({cpu / ref_cpu:.2f} x)   redis-server {rcpu:5.1f} µs   "
                    f"[{', '.join(f'{r:,.0f}' for r, _, _ in values)}]"
                )
        print("the spool alone (add, write, read, done, ack; no service, no sending):")
        alone: dict[str, list[tuple[float, float, float]]] = {name: [] for name, cls in variants if cls}
        for _ in range(args.rounds):
            for name, cls in variants[1:]:
                alone[name].append(await spool_alone(cls, server.url, server.proc.pid, args.count))
        ref_alone = statistics.median(c for _, c, _ in alone["spool"])
        for name, values in alone.items():
            cpu = statistics.median(c for _, c, _ in values)
            print(
                f"  {name:<16} {statistics.median(r for r, _, _ in values):>9,.0f} deliveries/s   "
                f"{cpu:6.1f} µs CPU/delivery ({cpu / ref_alone:.2f} x spool)   "
                f"redis-server {statistics.median(c for _, _, c in values):5.1f} µs"
            )
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            await one_round("profile", variants[1][1], server.url, server.proc.pid, None, args.count, tmp)
            prof.disable()
            prof.dump_stats(args.profile)
            print(f"profile of one stub spool round: {args.profile}")
        print("submit-to-send latency, one delivery every 5 ms (stub sender):")
        for name, cls in variants:
            lat = await latency(cls, server.url, tmp)
            print(
                f"  {name:<16} p50 {lat[len(lat) // 2]:.2f} ms  p99 {lat[int(len(lat) * 0.99)]:.2f} ms  "
                f"max {lat[-1]:.2f} ms"
            )
    finally:
        if rx is not None:
            rx.close()
        server.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--send", choices=["stub", "http", "both"], default="both")
    p.add_argument("--baseline", default=BASELINE, help="git revision of the old spool ('' to skip)")
    p.add_argument(
        "--redis-log", action="store_true", help="the spool rows keep the Redis delivery log (state: redis)"
    )
    p.add_argument("--profile", default="", help="write a cProfile of one spool round (stub) here")
    args = p.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as tmp:
        uvloop.run(run(args, tmp))


if __name__ == "__main__":
    main()
