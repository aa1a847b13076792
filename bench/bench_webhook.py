"""Webhook delivery throughput against a cheap local receiver, with a reference in the same run.

    python bench/bench_webhook.py [--count 30000] [--concurrency 64] [--rounds 3]

The receiver is a raw uvloop protocol in its own process (pinned to the other core when
taskset exists) that answers every request with a keep-alive `200` and counts them. Measured,
each as the median of `rounds`:
  reference   a bare aiohttp POST loop (`concurrency` tasks, one session): the ceiling that
              aiohttp itself sets on this machine;
  service     WebhookService: submit() of prepared deliveries, until all are done (Go header
              order, per-host lanes, outcome accounting);
  handler     WebhookHandler.handle() per distinct event: Meta decode, html/template render,
              checksum, cooldown check-and-set, submit, delivery;
and, without a network, the per-event CPU cost of render + checksum and of the cooldown.
The receiver's own count is checked against what the client saw.

pytest-benchmark also collects the CPU-only parts:
    python -m pytest bench/bench_webhook.py --benchmark-enable -p no:cacheprovider
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents and _support, however this file is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import ROOT, CountingReceiver  # noqa: E402

META = {
    "Message": "Key Quota Limit Exceeded",
    "Path": "/api/v1/orders",
    "Origin": "10.1.2.3",
    "Key": "5f4dcc3b5aa765d61d8327deb882cf99",
    "OriginatingRequest": "",
}
TS = "2025-01-02 03:04:05.123456789 +0000 UTC"


async def reference(url: str, body: bytes, count: int, concurrency: int) -> tuple[float, float]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(url, data=body) as resp:
                    await resp.read()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started), (time.process_time() - cpu) / count * 1e6


async def wait_done(svc: Any) -> None:
    while svc.pending:
        await asyncio.sleep(0.002)


def make_service(concurrency: int, tmp: str) -> Any:
    from tykevents.config import WebhookSettings
    from tykevents.deliver.webhook.metrics import WebhookCounters
    from tykevents.deliver.webhook.service import WebhookService

    settings = WebhookSettings(
        max_per_host=concurrency, pending_limit=10_000_000, dead_letter_path=os.path.join(tmp, "dl.jsonl")
    )
    return WebhookService(settings, metrics=WebhookCounters())


async def service_rate(url: str, body: bytes, count: int, concurrency: int, tmp: str) -> tuple[float, float]:
    from tykevents.deliver.webhook.delivery import Delivery
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header

    svc = make_service(concurrency, tmp)
    await svc.start()
    try:
        plan = RequestPlan("POST", url, tyk_header({"X-Tyk-Test": "bench"}, JSON, False))
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            svc.submit(Delivery(plan, body, handler="bench"))
        await wait_done(svc)
        rate = count / (time.perf_counter() - started)
        assert svc.metrics.total("delivered") == count, svc.metrics.counts
        return rate, (time.process_time() - cpu) / count * 1e6
    finally:
        await svc.close()


def build_handler(url: str, svc: Any, tmp: str) -> Any:
    from tykevents.config import Config
    from tykevents.deliver.base import APIInfo, HandlerContext, HandlerServices
    from tykevents.deliver.webhook.handler import build_webhook_handler

    ctx = HandlerContext(
        Config(base_dir=tmp, template_path=str(ROOT / "templates")),
        APIInfo("api1", "org1", "bench", "bench"),
        "bench",
        HandlerServices(webhooks=svc),
    )
    return build_webhook_handler(
        {"target_path": url, "method": "POST", "event_timeout": 60, "header_map": {"X-Tyk-Test": "bench"}},
        ctx,
    )


def events(n: int, salt: str) -> list[Any]:
    import orjson

    from tykevents.model import Event

    return [
        Event("QuotaExceeded", orjson.dumps({**META, "Key": f"{salt}-{i:08d}"}), TS, "api1", "org1")
        for i in range(n)
    ]


async def handler_rate(url: str, count: int, concurrency: int, tmp: str, salt: str) -> tuple[float, float]:
    svc = make_service(concurrency, tmp)
    await svc.start()
    try:
        h = build_handler(url, svc, tmp)
        evs = events(count, salt)
        started, cpu = time.perf_counter(), time.process_time()
        for i, ev in enumerate(evs):
            await h.handle(ev)
            if i % 512 == 511:
                await asyncio.sleep(0)  # as the daemon's lane workers yield to deliveries
        await wait_done(svc)
        rate = count / (time.perf_counter() - started)
        assert svc.metrics.total("delivered") == count, svc.metrics.counts
        return rate, (time.process_time() - cpu) / count * 1e6
    finally:
        await svc.close()


def cpu_costs(tmp: str, n: int = 20000) -> dict[str, float]:
    """µs per event, no network: render (Meta decode + template), checksum, cooldown."""
    from tykevents.store.cooldown import MemoryCooldown
    from tykevents.tykmeta import template_data

    h = build_handler("http://127.0.0.1:9/hook", None, tmp)
    evs = events(n, "cpu")
    t0 = time.perf_counter()
    bodies = [h.template.render_bytes(template_data(e.type, e.meta(), e.timestamp)) for e in evs]
    t1 = time.perf_counter()
    digests = [h.plan.checksum(b) for b in bodies]
    t2 = time.perf_counter()
    cd = MemoryCooldown()

    async def acquire_all() -> None:
        for d in digests:
            await cd.acquire(d, 60)

    asyncio.run(acquire_all())
    t3 = time.perf_counter()
    return {"render": (t1 - t0) / n * 1e6, "checksum": (t2 - t1) / n * 1e6, "cooldown": (t3 - t2) / n * 1e6}


async def run(args: argparse.Namespace, tmp: str) -> None:
    rx = CountingReceiver(1)
    try:
        url = f"http://127.0.0.1:{rx.port}/hook"
        from tykevents.tykmeta import template_data

        h = build_handler(url, None, tmp)
        body = h.template.render_bytes(template_data("QuotaExceeded", META, TS))
        results: dict[str, list[tuple[float, float]]] = {"reference": [], "service": [], "handler": []}
        await service_rate(url, body, 2000, args.concurrency, tmp)  # warm-up
        for r in range(args.rounds):
            results["reference"].append(await reference(url, body, args.count, args.concurrency))
            results["service"].append(await service_rate(url, body, args.count, args.concurrency, tmp))
            results["handler"].append(await handler_rate(url, args.count, args.concurrency, tmp, f"r{r}"))
        seen = rx.count()
        expected = 2000 + args.rounds * 3 * args.count
        assert seen == expected, (seen, expected)
    finally:
        rx.close()
    ref = statistics.median(r for r, _ in results["reference"])
    ref_cpu = statistics.median(c for _, c in results["reference"])
    print(
        f"body {len(body)} bytes, {args.count} requests per run, concurrency {args.concurrency}, "
        f"median of {args.rounds}; receiver counted {seen} requests"
    )
    for name, values in results.items():
        rate = statistics.median(r for r, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(
            f"  {name:<10} {rate:>9,.0f} deliveries/s ({rate / ref:.2f} x reference)   "
            f"{cpu:6.1f} µs CPU/delivery ({cpu / ref_cpu:.2f} x)   "
            f"[{', '.join(f'{r:,.0f}' for r, _ in values)}]"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=30000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    import tempfile

    import uvloop

    with tempfile.TemporaryDirectory() as tmp:
        costs = cpu_costs(tmp)
        print("CPU per event: " + ", ".join(f"{k} {v:.1f} µs" for k, v in costs.items()))
        uvloop.run(run(args, tmp))


# -- pytest-benchmark (CPU-only parts) ----------------------------------------------------------


def test_render_and_checksum(benchmark: Any, tmp_path: Path) -> None:
    from tykevents.tykmeta import template_data

    h = build_handler("http://127.0.0.1:9/hook", None, str(tmp_path))
    ev2 = events(1, "pb")[0]
    assert (
        len(
            benchmark(
                lambda: h.plan.checksum(
                    h.template.render_bytes(template_data(ev2.type, ev2.meta(), ev2.timestamp))
                )
            )
        )
        == 16
    )


def test_wire_headers(benchmark: Any) -> None:
    from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header

    plan = RequestPlan("POST", "http://127.0.0.1:9/hook", tyk_header({"X-A": "1"}, JSON, False))
    assert benchmark(plan.wire_headers, 300)[2] == ("Content-Length", "300")


if __name__ == "__main__":
    main()
