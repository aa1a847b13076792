"""Cooldown table: ns per check-and-set, the compiled twin against the pure twin in one run.

    python -m pytest bench/bench_cooldown.py --benchmark-enable -q -p no:cacheprovider

For 10**3, 10**6 and 10**7 live keys (random 16-byte digests, as md5 gives) and each twin:
  fresh     acquire() of K digests not in the table, one Python call each: the webhook
            path's per-event cost (every call inserts; the keys are released between rounds,
            outside the timing, so the table stays at its size);
  hit       acquire() of K live digests (suppressed: the common case under a storm);
  batch     acquire_many() of the same K fresh digests in one call (the loop stays in C).
ns/op = median round time / K. At the end a table gives each twin's ns/op, the compiled/pure
speed-up measured in this run (targets: >= 3x per call at 10**6 keys, batch far more), and
memory per live key (the compiled twin's is its whole C storage; the pure twin's an
estimate of its dict). The tables are filled through acquire_many; the pure 10**7 table
takes a couple of GB and about 15 s to fill.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tykevents import _fast

SIZES = [10**3, 10**6, 10**7]
TWINS = ["py", "c"]
TTL = 3600.0
NOW = 1000.0
ROUNDS = {10**3: 200, 10**6: 7, 10**7: 5}

_results: dict[tuple[str, int, str], float] = {}
_memory: dict[tuple[str, int], float] = {}


def _k(n: int) -> int:
    return max(100, min(n // 10, 100_000))


class Loaded:
    """A table of one twin holding `n` live keys, plus K fresh and K live digests."""

    def __init__(self, twin: str, n: int) -> None:
        import importlib

        if twin == "c" and _fast.NO_EXTENSIONS:
            pytest.skip("TYKEVENTS_NO_EXTENSIONS is set")
        mod = importlib.import_module(f"tykevents._fast.cooldown_{twin}")
        k = _k(n)
        self.twin, self.n, self.k = twin, n, k
        self.table = mod.CooldownTable(n + k)
        fill = os.urandom(16 * n)
        t0 = time.perf_counter()
        chunk = 16 * 1_000_000
        for off in range(0, len(fill), chunk):
            self.table.acquire_many(fill[off : off + chunk], NOW, TTL)
        self.fill_s = time.perf_counter() - t0
        assert len(self.table) == n
        self.fresh_buf = os.urandom(16 * k)
        self.fresh = [self.fresh_buf[i : i + 16] for i in range(0, 16 * k, 16)]
        step = max(1, n // k)
        self.live = [fill[i : i + 16] for i in range(0, 16 * n, 16 * step)][:k]
        del fill

    def release_fresh(self) -> None:
        release = self.table.release
        for d in self.fresh:
            release(d)


@pytest.fixture(
    scope="module", params=[(t, n) for n in SIZES for t in TWINS], ids=lambda p: f"{p[0]}-{p[1]:.0e}"
)
def loaded(request: pytest.FixtureRequest) -> Iterator[Loaded]:
    twin, n = request.param
    data = Loaded(twin, n)
    _memory[(twin, n)] = data.table.memory_bytes() / n
    yield data
    del data


def _record(benchmark: Any, loaded: Loaded, what: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: a smoke run, nothing to report
        return
    ns = stats.stats.median / loaded.k * 1e9  # the median: vCPU stalls skew means
    _results[(loaded.twin, loaded.n, what)] = ns
    benchmark.extra_info.update(
        ns_per_op=round(ns, 1),
        keys=loaded.n,
        ops_per_round=loaded.k,
        bytes_per_key=round(_memory[(loaded.twin, loaded.n)], 1),
    )


def test_acquire_fresh(benchmark: Any, loaded: Loaded) -> None:
    benchmark.group = f"cooldown-fresh-{loaded.n:.0e}"
    acquire, fresh = loaded.table.acquire, loaded.fresh

    def run() -> int:
        fired = 0
        for d in fresh:
            fired += acquire(d, NOW, TTL)
        return fired

    benchmark.pedantic(run, setup=loaded.release_fresh, rounds=ROUNDS[loaded.n], iterations=1)
    assert all(loaded.table.contains(d, NOW) for d in fresh[:100])
    loaded.release_fresh()
    assert len(loaded.table) == loaded.n
    _record(benchmark, loaded, "fresh")


def test_acquire_hit(benchmark: Any, loaded: Loaded) -> None:
    benchmark.group = f"cooldown-hit-{loaded.n:.0e}"
    acquire, live = loaded.table.acquire, loaded.live

    def run() -> int:
        fired = 0
        for d in live:
            fired += acquire(d, NOW + 1.0, TTL)
        return fired

    assert benchmark.pedantic(run, rounds=ROUNDS[loaded.n], iterations=1) == 0
    _record(benchmark, loaded, "hit")


def test_acquire_many_fresh(benchmark: Any, loaded: Loaded) -> None:
    benchmark.group = f"cooldown-batch-{loaded.n:.0e}"
    many, buf = loaded.table.acquire_many, loaded.fresh_buf

    def run() -> bytes:
        return many(buf, NOW, TTL)

    out = benchmark.pedantic(run, setup=loaded.release_fresh, rounds=ROUNDS[loaded.n], iterations=1)
    assert out == b"\x01" * loaded.k
    loaded.release_fresh()
    _record(benchmark, loaded, "batch")


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not _results:
        return
    lines = [""]
    write = lines.append
    write("cooldown ns/op (compiled | pure | speed-up) and bytes per live key")
    write(f"{'keys':>6} {'op':>6} {'compiled':>9} {'pure':>9} {'x':>6}")
    for n in SIZES:
        for what in ("fresh", "hit", "batch"):
            c, p = _results.get(("c", n, what)), _results.get(("py", n, what))
            if c is None or p is None:
                continue
            write(f"{n:>6.0e} {what:>6} {c:>9.1f} {p:>9.1f} {p / c:>6.1f}")
        mc, mp = _memory.get(("c", n)), _memory.get(("py", n))
        if mc is not None and mp is not None:
            write(f"{n:>6.0e} {'B/key':>6} {mc:>9.1f} {mp:>9.1f}")
    _emit(request, lines)


def _emit(request: pytest.FixtureRequest, lines: list[str]) -> None:
    """Print past pytest's output capture (module teardown runs inside it)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    tr = request.config.pluginmanager.getplugin("terminalreporter")
    with capman.global_and_fixture_disabled():
        for line in lines:
            tr.write_line(line) if tr else print(line)
