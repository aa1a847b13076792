"""Quota-threshold evaluator: ns per record, the compiled twin against the pure twin in one run.

    python -m pytest bench/bench_thresholds.py --benchmark-enable -q -p no:cacheprovider

Records: 100,000 per round over 10,000 keys (random 64-bit key hashes), quota_max 1000,
renewing quotas, trigger limits [50, 80, 90], no global limit. Two workloads:
  steady   every key already fired 90 % this period and stays above it: each record is a
           lookup and a compare, no fire (the common case);
  climb    a fresh table each round, usage climbing 0 -> 100 % per key: every key fires
           50, 80 and 90 once (30,000 fires per round).
Each is run per call (evaluate() once per record from Python, as the daemon's hot path)
and as one batch (evaluate_many() over array columns, the loop in the twin); evaluate_tyk()
per call is measured too. ns/record = median round time / records. The final table gives
each twin's ns/record and the compiled/pure speed-up measured in this run (target >= 5x
per call), and the compiled table's bytes per key when full.

Shared tables (tykevents._fast.shared_thresholds, what forked workers use): the steady and
climb workloads again, per call and batch, on each twin's SharedThresholdTable in this one
process; the second table gives private | shared ns/record and the shared/private cost ratio
of the same twin, measured in this run.
"""

from __future__ import annotations

import importlib
import random
import time
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tykevents import _fast

RECORDS = 100_000
KEYS = 10_000
QMAX = 1000
LIMITS = [50.0, 80.0, 90.0]
ROUNDS = 7
TWINS = ["py", "c"]

_results: dict[tuple[str, str], float] = {}
_memory: dict[str, float] = {}


def _mod(twin: str) -> Any:
    if twin == "c" and _fast.NO_EXTENSIONS:
        pytest.skip("TYKEVENTS_NO_EXTENSIONS is set")
    return importlib.import_module(f"tykevents._fast.thresholds_{twin}")


class Workload:
    def __init__(self, climbing: bool) -> None:
        self.now = time.time()
        self.renews = int(self.now) + 3600
        rng = random.Random(7)
        hashes = [rng.getrandbits(64) for _ in range(KEYS)]
        per_key = RECORDS // KEYS
        keys, rem = [], []
        for step in range(per_key):  # round-robin over keys, each key's usage climbing
            used = (step + 1) * QMAX // per_key if climbing else 950 + step
            for h in hashes:
                keys.append(h)
                rem.append(QMAX - used)
        self.rows = [(k, QMAX, r, self.renews) for k, r in zip(keys, rem, strict=True)]
        self.keys = array("Q", keys)
        self.qmax = array("q", [QMAX] * len(keys))
        self.rem = array("q", rem)
        self.renews_col = array("q", [self.renews] * len(keys))
        self.hashes = hashes


STEADY = Workload(climbing=False)
CLIMB = Workload(climbing=True)


def _shared_mod(twin: str) -> Any:
    if twin == "c" and _fast.NO_EXTENSIONS:
        pytest.skip("TYKEVENTS_NO_EXTENSIONS is set")
    return importlib.import_module(f"tykevents._fast.shared_thresholds_{twin}")


def _steady_table(mod: Any, shared: bool = False) -> Any:
    t = mod.SharedThresholdTable.create(KEYS) if shared else mod.ThresholdTable(KEYS)
    for h in STEADY.hashes:
        assert t.evaluate(h, QMAX, 0, STEADY.renews, STEADY.now, 0.0, LIMITS, True) == (90.0, 100.0)
    return t


def _record(benchmark: Any, twin: str, what: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: a smoke run
        return
    ns = stats.stats.median / RECORDS * 1e9  # the median: vCPU stalls skew means
    _results[(twin, what)] = ns
    benchmark.extra_info.update(ns_per_record=round(ns, 1), records=RECORDS, keys=KEYS)


def _per_call(table: Any, w: Workload) -> Callable[[], int]:
    ev, now, limits = table.evaluate, w.now, LIMITS

    def run() -> int:
        fired = 0
        for key, qmax, rem, renews in w.rows:
            if ev(key, qmax, rem, renews, now, 0.0, limits, True) is not None:
                fired += 1
        return fired

    return run


def _batch(table: Any, w: Workload) -> Callable[[], int]:
    def run() -> int:
        fired = table.evaluate_many(w.keys, w.qmax, w.rem, w.renews_col, w.now, 0.0, LIMITS, True)
        return len(fired)

    return run


@pytest.mark.parametrize("twin", TWINS)
def test_steady_per_call(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-steady-per-call"
    t = _steady_table(_mod(twin))
    _memory[twin] = t.memory_bytes() / len(t)
    assert benchmark.pedantic(_per_call(t, STEADY), rounds=ROUNDS, iterations=1) == 0
    _record(benchmark, twin, "steady call")


@pytest.mark.parametrize("twin", TWINS)
def test_steady_batch(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-steady-batch"
    t = _steady_table(_mod(twin))
    assert benchmark.pedantic(_batch(t, STEADY), rounds=ROUNDS, iterations=1) == 0
    _record(benchmark, twin, "steady batch")


def _climb(
    benchmark: Any, twin: str, make: Callable[[Any, Workload], Callable[[], int]], shared: bool = False
) -> None:
    cls = _shared_mod(twin).SharedThresholdTable.create if shared else _mod(twin).ThresholdTable
    holder: list[Callable[[], int]] = []

    def setup() -> None:  # a fresh table per round, outside the timing
        holder[:] = [make(cls(KEYS), CLIMB)]

    fired = benchmark.pedantic(lambda: holder[0](), setup=setup, rounds=ROUNDS, iterations=1)
    assert fired == 3 * KEYS


@pytest.mark.parametrize("twin", TWINS)
def test_climb_per_call(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-climb-per-call"
    _climb(benchmark, twin, _per_call)
    _record(benchmark, twin, "climb call")


@pytest.mark.parametrize("twin", TWINS)
def test_climb_batch(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-climb-batch"
    _climb(benchmark, twin, _batch)
    _record(benchmark, twin, "climb batch")


@pytest.mark.parametrize("twin", TWINS)
def test_evaluate_tyk_per_call(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-tyk-per-call"
    ev, now, rows = _mod(twin).evaluate_tyk, STEADY.now, STEADY.rows

    def run() -> int:
        fired = 0
        for _key, qmax, rem, renews in rows:
            if ev(qmax, rem, renews, now, 0.0, LIMITS) is not None:
                fired += 1
        return fired

    assert benchmark.pedantic(run, rounds=ROUNDS, iterations=1) == RECORDS
    _record(benchmark, twin, "tyk call")


@pytest.mark.parametrize("twin", TWINS)
def test_shared_steady_per_call(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-shared-steady-per-call"
    t = _steady_table(_shared_mod(twin), shared=True)
    assert benchmark.pedantic(_per_call(t, STEADY), rounds=ROUNDS, iterations=1) == 0
    _record(benchmark, twin, "shared steady call")


@pytest.mark.parametrize("twin", TWINS)
def test_shared_steady_batch(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-shared-steady-batch"
    t = _steady_table(_shared_mod(twin), shared=True)
    assert benchmark.pedantic(_batch(t, STEADY), rounds=ROUNDS, iterations=1) == 0
    _record(benchmark, twin, "shared steady batch")


@pytest.mark.parametrize("twin", TWINS)
def test_shared_climb_per_call(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-shared-climb-per-call"
    _climb(benchmark, twin, _per_call, shared=True)
    _record(benchmark, twin, "shared climb call")


@pytest.mark.parametrize("twin", TWINS)
def test_shared_climb_batch(benchmark: Any, twin: str) -> None:
    benchmark.group = "thresholds-shared-climb-batch"
    _climb(benchmark, twin, _batch, shared=True)
    _record(benchmark, twin, "shared climb batch")


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not _results:
        return
    lines = [
        "",
        "thresholds ns/record (compiled | pure | speed-up)",
        f"{'workload':>13} {'compiled':>9} {'pure':>9} {'x':>6}",
    ]
    for what in ("steady call", "steady batch", "climb call", "climb batch", "tyk call"):
        c, p = _results.get(("c", what)), _results.get(("py", what))
        if c is not None and p is not None:
            lines.append(f"{what:>13} {c:>9.1f} {p:>9.1f} {p / c:>6.1f}")
    if "c" in _memory and "py" in _memory:
        lines.append(f"{'bytes/key':>13} {_memory['c']:>9.1f} {_memory['py']:>9.1f}")
    lines.append("")
    lines.append("thresholds ns/record, one process: private | shared table (shared/private)")
    lines.append(
        f"{'workload':>13} {'c priv':>9} {'c shared':>9} {'x':>6} {'py priv':>9} {'py shared':>9} {'x':>6}"
    )
    for what in ("steady call", "steady batch", "climb call", "climb batch"):
        cells = []
        for twin in ("c", "py"):
            a, b = _results.get((twin, what)), _results.get((twin, "shared " + what))
            cells.append("" if a is None or b is None else f"{a:>9.1f} {b:>9.1f} {b / a:>6.2f}")
        lines.append(f"{what:>13} " + " ".join(c or f"{'-':>9} {'-':>9} {'-':>6}" for c in cells))
    capman = request.config.pluginmanager.getplugin("capturemanager")
    tr = request.config.pluginmanager.getplugin("terminalreporter")
    with capman.global_and_fixture_disabled():
        for line in lines:
            tr.write_line(line) if tr else print(line)
