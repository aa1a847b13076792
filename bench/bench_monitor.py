"""The quota-threshold evaluator: ns per record for both twins, and the monitor's inline path.

    python bench/bench_monitor.py [--records 60000] [--keys 200] [--repeat 7]
    python -m pytest bench/bench_monitor.py --benchmark-enable -p no:cacheprovider

Workload: `records` quota records over `keys` keys, usage climbing from 0 to 100 % so that
each key crosses the levels [50, 80, 90] once (3 fires per key: 1 % of the records by
default), renewing quotas.
Measured in one run, best of `repeat` (the machine is noisy: compare ratios, not absolutes):
  per call   ThresholdTable.evaluate() once per record, from Python (the daemon's hot path)
  batch      ThresholdTable.evaluate_many() over the whole column set (the loop in the twin)
  inline     MonitorService.sink() per record: decode the Session JSON, check it, hash the
             key, evaluate, queue the fire (what a record with an embedded session costs)
  reference  decoding the same records' wire JSON into model.Record (stage 2 alone)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fast.conftest import load_twin  # noqa: E402
from tykevents.config import Lanes as LaneSettings  # noqa: E402
from tykevents.config import load_config  # noqa: E402
from tykevents.decode import decode  # noqa: E402
from tykevents.deliver.webhook.service import WebhookService  # noqa: E402
from tykevents.monitor.service import MonitorService, build_monitor_webhook  # noqa: E402
from tykevents.runtime.metrics import Stats  # noqa: E402
from tykevents.work import Lanes  # noqa: E402

LIMITS = [50.0, 80.0, 90.0]
QMAX = 1000


class Workload:
    def __init__(self, records: int, keys: int) -> None:
        self.now = time.time()
        renews = int(self.now) + 3600
        rng = random.Random(1)
        hashes = [rng.getrandbits(64) for _ in range(keys)]
        self.n = records
        self.cols = [(hashes[i % keys], QMAX, QMAX - (i * QMAX // records), renews) for i in range(records)]
        self.key_hashes = array("Q", [c[0] for c in self.cols])
        self.qmax = array("q", [c[1] for c in self.cols])
        self.rem = array("q", [c[2] for c in self.cols])
        self.renews = array("q", [c[3] for c in self.cols])
        self.wire = [
            orjson.dumps(
                {
                    "Kind": "quota",
                    "Key": f"key-{i % keys:08d}-9f3a1c",
                    "Session": {
                        "org_id": "5e9d9544a1dcd60001d0ed20",
                        "quota_max": QMAX,
                        "quota_remaining": c[2],
                        "quota_renews": renews,
                        "quota_renewal_rate": 3600,
                        "monitor": {"trigger_limits": LIMITS},
                    },
                }
            )
            for i, c in enumerate(self.cols)
        ]
        self.records = [decode(w, _never)[0] for w in self.wire]


def _never(reason: str, detail: str) -> None:
    raise AssertionError(f"{reason}: {detail}")


def per_call(table: Any, w: Workload) -> int:
    ev, now, fired = table.evaluate, w.now, 0
    for k, qmax, rem, renews in w.cols:
        if ev(k, qmax, rem, renews, now, 0.0, LIMITS, True) is not None:
            fired += 1
    return fired


def batch(table: Any, w: Workload) -> int:
    return len(table.evaluate_many(w.key_hashes, w.qmax, w.rem, w.renews, w.now, 0.0, LIMITS, True))


def monitor(table: Any) -> MonitorService:
    """A MonitorService configured from a real tyk.conf, with a monitor lane that is not
    served: fires queue there, so only the inline path is measured."""
    env = {
        "TYK_GW_MONITOR_ENABLETRIGGERMONITORS": "true",
        "TYK_GW_MONITOR_MONITORUSERKEYS": "true",
        "TYK_GW_MONITOR_CONFIG_METHOD": "POST",
        "TYK_GW_MONITOR_CONFIG_TARGETPATH": "http://127.0.0.1:9/",
        "TYK_GW_TEMPLATEPATH": str(ROOT / "templates"),
    }
    svc = MonitorService(table=table, webhooks=WebhookService())
    cfg = load_config(None, env)
    svc.configure(cfg, build_monitor_webhook(cfg, svc.webhooks))
    assert svc.handler is not None
    svc.attach(Lanes(LaneSettings(monitor_queue=1 << 22), Stats()))
    return svc


def inline(svc: MonitorService, w: Workload) -> int:
    sink = svc.sink
    for rec in w.records:
        sink(rec)
    return svc.stats.fired


def reference(w: Workload) -> int:
    n = 0
    for data in w.wire:
        n += len(decode(data, _never))
    return n


def best_ns(fn: Callable[[], Any], setup: Callable[[], Any], n: int, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        arg = setup()
        t = time.perf_counter()
        out = fn(arg) if arg is not None else fn()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e9, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=60000)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    w = Workload(a.records, a.keys)
    want = 3 * a.keys
    rows: dict[str, float] = {}
    for twin in ("py", "c"):
        cls = load_twin("thresholds", twin).ThresholdTable
        for name, fn in (("per call", per_call), ("batch", batch)):
            ns, fired = best_ns(lambda t, fn=fn: fn(t, w), lambda cls=cls: cls(4 * a.keys), w.n, a.repeat)
            assert fired == want, (twin, name, fired)
            rows[f"{name} {twin}"] = ns
        ns, fired = best_ns(lambda s: inline(s, w), lambda cls=cls: monitor(cls(4 * a.keys)), w.n, a.repeat)
        assert fired == want, (twin, "inline", fired)
        rows[f"inline {twin}"] = ns
    rows["reference"], _ = best_ns(lambda: reference(w), lambda: None, w.n, a.repeat)
    print(f"{w.n} records, {a.keys} keys, {want} fires; ns per record (best of {a.repeat}):")
    for k, v in rows.items():
        print(f"  {k:<14}{v:>9.0f}")
    print(f"compiled / pure, per call: {rows['per call py'] / rows['per call c']:.1f}x faster")
    print(f"compiled / pure, batch:    {rows['batch py'] / rows['batch c']:.1f}x faster")
    print(f"compiled batch / pure per call: {rows['per call py'] / rows['batch c']:.1f}x faster")
    print(f"inline path (compiled) / record decode: {rows['inline c'] / rows['reference']:.2f}")


# -- pytest-benchmark ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload(5000, 500)


@pytest.mark.parametrize("twin", ["py", "c"])
@pytest.mark.benchmark(group="monitor-evaluate-per-call")
def test_evaluate_per_call(benchmark: Any, workload: Workload, twin: str) -> None:
    cls = load_twin("thresholds", twin).ThresholdTable
    fired = benchmark.pedantic(per_call, setup=lambda: ((cls(2000), workload), {}), rounds=20)
    assert fired == 1500


@pytest.mark.parametrize("twin", ["py", "c"])
@pytest.mark.benchmark(group="monitor-evaluate-batch")
def test_evaluate_many(benchmark: Any, workload: Workload, twin: str) -> None:
    cls = load_twin("thresholds", twin).ThresholdTable
    fired = benchmark.pedantic(batch, setup=lambda: ((cls(2000), workload), {}), rounds=20)
    assert fired == 1500


@pytest.mark.parametrize("twin", ["py", "c"])
@pytest.mark.benchmark(group="monitor-inline")
def test_inline_sink(benchmark: Any, workload: Workload, twin: str) -> None:
    cls = load_twin("thresholds", twin).ThresholdTable
    fired = benchmark.pedantic(inline, setup=lambda: ((monitor(cls(2000)), workload), {}), rounds=10)
    assert fired == 1500


@pytest.mark.benchmark(group="monitor-inline")
def test_reference_record_decode(benchmark: Any, workload: Workload) -> None:
    assert benchmark(reference, workload) == workload.n


if __name__ == "__main__":
    main()
