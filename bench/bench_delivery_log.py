"""What the delivery log costs: webhook deliveries/s through the real WebhookService, log off,
in memory, and in Redis, in one run.

    python bench/bench_delivery_log.py [--count 30000] [--concurrency 64] [--rounds 3]

The receiver is bench/_support.py's counting uvloop receiver in its own process (pinned to the
other core when taskset exists); Redis is a real redis-server started here, no persistence.
Each round runs the three modes one after the other (so drift hits them alike); printed is the
median of `rounds`, with the ratio to "off". The Redis mode measures the log alone: the service
has no spool (with the spool every delivery is a Redis round trip anyway, docs/webhooks.md), and
its log writes pipelined from the background task; after each run the log is flushed, and
what it dropped (buffer full) is printed. The receiver's count is checked against the total.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import CountingReceiver, free_port, pin, terminate  # noqa: E402

MODES = ("off", "memory", "redis")


def start_redis(workdir: str) -> tuple[subprocess.Popen[Any], int]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("bench_delivery_log: needs redis-server")
    port = free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen(
        pin(1)
        + [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    terminate(proc)
    sys.exit("bench_delivery_log: redis-server did not start")


async def run_mode(mode: str, url: str, body: bytes, args: argparse.Namespace, tmp: str, redis: Any) -> Any:
    from tykevents.config import DeliveryLogSettings, WebhookSettings
    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.deliverylog import RedisDeliveryLog
    from tykevents.deliver.webhook.metrics import WebhookCounters
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
    from tykevents.deliver.webhook.service import WebhookService

    settings = WebhookSettings(
        max_per_host=args.concurrency,
        pending_limit=10_000_000,
        dead_letter_path=os.path.join(tmp, "dl.jsonl"),
        log=DeliveryLogSettings(enabled=mode != "off", max_entries=10000),
    )
    svc: Any = WebhookService(settings, metrics=WebhookCounters(), base_dir=tmp)
    if mode == "redis":
        svc.log = RedisDeliveryLog(redis, settings.log.max_entries, settings.log.max_age)
    await svc.start()
    try:
        plan = RequestPlan("POST", url, tyk_header({"X-Tyk-Test": "bench"}, JSON, False))
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.count):
            svc.submit(Delivery(plan, body, handler="bench", api_id="api1", event="QuotaExceeded"))
        while svc.pending:
            await asyncio.sleep(0.002)
        rate = args.count / (time.perf_counter() - started)
        cpu_us = (time.process_time() - cpu) / args.count * 1e6
        assert svc.metrics.total("delivered") == args.count, svc.metrics.counts
        dropped = 0
        if isinstance(svc.log, RedisDeliveryLog):
            assert await svc.log.flush(30), "the Redis log did not catch up"
            dropped = svc.log.dropped
        if svc.log is not None:
            from tykevents.deliver.webhook.deliverylog import DeliveryFilter

            assert len(await svc.log.query(DeliveryFilter(), limit=5)) == 5
        return rate, cpu_us, dropped
    finally:
        await svc.close()


async def entry_costs(redis: Any, n: int = 20000) -> dict[str, float]:
    """µs of this process's CPU per log entry, no network for the deliveries: memory
    record_attempt; Redis record_attempt plus its background write (Redis's own time excluded)."""
    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.deliverylog import MemoryDeliveryLog, RedisDeliveryLog
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header

    plan = RequestPlan("POST", "http://127.0.0.1:9/hook", tyk_header({}, JSON, False))
    out = {}
    for name, log in (("memory", MemoryDeliveryLog()), ("redis", RedisDeliveryLog(redis))):
        ds = [Delivery(plan, b"{}", handler="bench") for _ in range(n)]
        cpu = time.process_time()
        for i, d in enumerate(ds):
            log.record_attempt(d, 1, 200, 1.0, "", "delivered")
            if i % 512 == 511:
                await asyncio.sleep(0)  # as deliveries finish: the writer gets its turns
        assert await log.flush(60)
        out[name] = (time.process_time() - cpu) / n * 1e6
        await log.close()
    return out


async def run(args: argparse.Namespace, tmp: str) -> None:
    import redis.asyncio as aredis

    rx = CountingReceiver(1)
    rproc, rport = start_redis(tmp)
    client = aredis.Redis(host="127.0.0.1", port=rport)
    try:
        url = f"http://127.0.0.1:{rx.port}/hook"
        body = b'{"event": "QuotaExceeded", "message": "Key Quota Limit Exceeded", "key": "****5678"}' * 4
        results: dict[str, list[tuple[float, float, int]]] = {m: [] for m in MODES}
        warm = argparse.Namespace(**{**vars(args), "count": 2000})
        for mode in MODES:
            await run_mode(mode, url, body, warm, tmp, client)
        for _ in range(args.rounds):
            for mode in MODES:
                results[mode].append(await run_mode(mode, url, body, args, tmp, client))
        seen = rx.count()
        expected = len(MODES) * (2000 + args.rounds * args.count)
        assert seen == expected, (seen, expected)
        xlen = await client.xlen("{tykevents:deliveries}:log")
        costs = await entry_costs(client)
    finally:
        await client.aclose()
        terminate(rproc, 5)
        rx.close()
    print(
        f"body {len(body)} bytes, {args.count} deliveries per run, concurrency {args.concurrency}, "
        f"median of {args.rounds}; receiver counted {seen}; Redis log stream holds {xlen} entries"
    )
    print("CPU per log entry: " + ", ".join(f"{k} {v:.1f} µs" for k, v in costs.items()))
    off = statistics.median(r for r, _, _ in results["off"])
    off_cpu = statistics.median(c for _, c, _ in results["off"])
    for mode, values in results.items():
        rate = statistics.median(r for r, _, _ in values)
        cpu = statistics.median(c for _, c, _ in values)
        print(
            f"  log {mode:<7} {rate:>9,.0f} deliveries/s ({rate / off:.2f} x off)   "
            f"{cpu:6.1f} µs CPU/delivery ({cpu / off_cpu:.2f} x)   dropped {sum(d for _, _, d in values)}   "
            f"[{', '.join(f'{r:,.0f}' for r, _, _ in values)}]"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=30000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as tmp:
        uvloop.run(run(args, tmp))


if __name__ == "__main__":
    main()
