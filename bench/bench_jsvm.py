"""JS event handler calls per second, against raw QuickJS calls measured in the same run.

    python bench/bench_jsvm.py [--count 100000] [--rounds 3]
    python -m pytest bench/bench_jsvm.py --benchmark-enable -p no:cacheprovider

Measured, each the median of `rounds`:
  raw trivial     quickjs: a trivial JS function called from Python in a loop (the reference)
  raw dispatch    quickjs: the same per-event work JSRuntime does (JSON.parse of the event and
                  context, DoProcessEvent of a trivial handler), called directly in a loop
  runtime c=N     JSRuntime.call_handler from N concurrent asyncio tasks (uvloop): the queue
                  to the pool's VM threads (--vms, the daemon's default tykevents.js.vms),
                  the time limit, the result back on the loop
  handler c=N     JSHandler.handle(Event): the above plus the EventMessage JSON
for a trivial handler and for the sample logging handler (tests/data/js), whose log() lines
go to a logger with only a NullHandler. Ratios are against "raw trivial".
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import quickjs  # noqa: E402

from tykevents.config import JSSettings  # noqa: E402
from tykevents.deliver.jsvm.handler import JSHandler, JSVMConf  # noqa: E402
from tykevents.deliver.jsvm.runtime import JSRuntime  # noqa: E402
from tykevents.model import Event  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "js" / "sample_event_handler.js"
TRIVIAL = (
    "var trivialHandler = new TykJS.TykEventHandlers.NewEventHandler({});\n"
    "trivialHandler.NewHandler(function (event, context) { return; });\n"
)
META = {
    "Message": "Key not authorised",
    "Path": "/api/v1/orders?page=2",
    "Origin": "10.1.2.3",
    "Key": "5e9d9544a1dcd60001d0ed20c0ffee",
}
STAMP = "2024-03-05 14:07:09.123456789 +0000 UTC"
EVENT_JSON = Event("AuthFailure", orjson.dumps(META), STAMP, "api-1", "org-1").message_json().decode()
CONTEXT_JSON = '{"APIID":"api-1","OrgID":"org-1"}'


def quiet_logs() -> None:
    lg = logging.getLogger("tykevents")
    lg.handlers[:] = [logging.NullHandler()]
    lg.propagate = False
    lg.setLevel(logging.INFO)  # log() lines are formatted and handled, then dropped


def raw_trivial(n: int) -> float:
    ctx = quickjs.Context()
    f = ctx.eval("(function () { return; })")
    t = time.perf_counter()
    for _ in range(n):
        f()
    return n / (time.perf_counter() - t)


def raw_dispatch(n: int) -> float:
    ctx = quickjs.Context()
    ctx.eval("var h = {DoProcessEvent: function (e, c) { this.Handle(e, c); }, Handle: function () {}};")
    f = ctx.eval("(function (e, c) { h.DoProcessEvent(JSON.parse(e), JSON.parse(c)); })")
    t = time.perf_counter()
    for _ in range(n):
        f(EVENT_JSON, CONTEXT_JSON)
    return n / (time.perf_counter() - t)


def make_runtime(vms: int) -> tuple[JSRuntime, dict[str, int]]:
    rt = JSRuntime({}, None, call_time_limit=5.0, vms=vms)
    rt.load_source(TRIVIAL, "trivial.js")
    rt.load_file(str(SAMPLE))
    return rt, {
        "trivial": rt.register_handler("trivialHandler"),
        "sample": rt.register_handler("sampleHandler"),
    }


async def through_runtime(rt: JSRuntime, hid: int, n: int, conc: int) -> float:
    async def worker(k: int) -> None:
        for _ in range(k):
            await rt.call_handler(hid, EVENT_JSON, CONTEXT_JSON)

    t = time.perf_counter()
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return (n // conc * conc) / (time.perf_counter() - t)


async def through_handler(h: JSHandler, n: int, conc: int) -> float:
    async def worker(k: int) -> None:
        for _ in range(k):
            # A fresh Event each time, as the pipeline delivers them (message_json not cached).
            await h.handle(
                Event(
                    "AuthFailure",
                    b'{"Message":"Key not authorised","Path":"/x","Origin":"10.1.2.3","Key":"abc"}',
                    STAMP,
                    "api-1",
                    "org-1",
                )
            )

    t = time.perf_counter()
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return (n // conc * conc) / (time.perf_counter() - t)


def median(fn: Callable[[], float], rounds: int) -> float:
    return statistics.median(fn() for _ in range(rounds))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 64])
    ap.add_argument("--vms", type=int, default=JSSettings().vms, help="VMs in the runtime's pool")
    args = ap.parse_args()
    quiet_logs()
    import uvloop

    n, rounds = args.count, args.rounds
    ref = median(lambda: raw_trivial(n * 5), rounds)
    rows: list[tuple[str, float]] = [
        ("raw trivial (reference)", ref),
        ("raw dispatch", median(lambda: raw_dispatch(n), rounds)),
    ]
    rt, hids = make_runtime(args.vms)
    print(f"runtime: {rt.vms} VMs")

    async def run() -> None:
        for name, hid in hids.items():
            for c in args.concurrency:
                vals = [await through_runtime(rt, hid, n, c) for _ in range(rounds)]
                rows.append((f"runtime {name} c={c}", statistics.median(vals)))
        for name, hid in hids.items():
            h = JSHandler(JSVMConf(name=name), "bench", rt, hid, "api-1", "org-1")
            for c in args.concurrency:
                vals = [await through_handler(h, n, c) for _ in range(rounds)]
                rows.append((f"handler {name} c={c}", statistics.median(vals)))
        await rt.aclose()

    uvloop.run(run())
    print(f"{'path':32} {'calls/s':>12} {'us/call':>9} {'vs raw':>8}")
    for name, rate in rows:
        print(f"{name:32} {rate:12,.0f} {1e6 / rate:9.2f} {rate / ref:8.3f}")


# -- pytest-benchmark: one call per round, CPU paths only -------------------------------------


def test_raw_quickjs_dispatch(benchmark: Any) -> None:
    ctx = quickjs.Context()
    ctx.eval("var h = {DoProcessEvent: function (e, c) {}};")
    f = ctx.eval("(function (e, c) { h.DoProcessEvent(JSON.parse(e), JSON.parse(c)); })")
    benchmark(f, EVENT_JSON, CONTEXT_JSON)


def test_runtime_call_handler(benchmark: Any) -> None:
    quiet_logs()
    rt, hids = make_runtime(JSSettings().vms)
    loop = asyncio.new_event_loop()
    try:
        benchmark(lambda: loop.run_until_complete(rt.call_handler(hids["trivial"], EVENT_JSON, CONTEXT_JSON)))
    finally:
        loop.run_until_complete(rt.aclose())
        loop.close()


if __name__ == "__main__":
    main()
