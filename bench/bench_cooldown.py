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

Shared tables (tykevents._fast.shared_cooldown, what forked workers use), at 10**5 keys:
fresh / hit / batch as above on each twin's private and shared table in one process, and
`2proc`: two forked processes doing the hit workload at once, on one shared table or each
on its own private table (ns per op of the two together, wall time). The last table gives
private | shared ns/op and the shared/private ratio of the same twin, measured in this run:

    python -m pytest bench/bench_cooldown.py --benchmark-enable -q -p no:cacheprovider -k shared
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

    def __init__(self, twin: str, n: int, shared: bool = False) -> None:
        import importlib

        if twin == "c" and _fast.NO_EXTENSIONS:
            pytest.skip("TYKEVENTS_NO_EXTENSIONS is set")
        k = _k(n)
        self.twin, self.n, self.k = twin, n, k
        if shared:
            mod = importlib.import_module(f"tykevents._fast.shared_cooldown_{twin}")
            self.table = mod.SharedCooldownTable.create(n + k)
        else:
            self.table = importlib.import_module(f"tykevents._fast.cooldown_{twin}").CooldownTable(n + k)
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


# -- shared vs private --------------------------------------------------------------------

SHARED_N = 10**5
SHARED_ROUNDS = 7
_shared: dict[tuple[str, str, str], float] = {}  # (twin, private|shared, op) -> ns/op


@pytest.fixture(
    scope="module",
    params=[(t, kind) for t in TWINS for kind in ("private", "shared")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def shared_pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, Loaded]]:
    twin, kind = request.param
    yield kind, Loaded(twin, SHARED_N, shared=kind == "shared")


def _record_shared(benchmark: Any, kind: str, loaded: Loaded, what: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _shared[(loaded.twin, kind, what)] = stats.stats.median / loaded.k * 1e9


def test_shared_fresh(benchmark: Any, shared_pair: tuple[str, Loaded]) -> None:
    kind, loaded = shared_pair
    benchmark.group = "cooldown-shared-fresh"
    acquire, fresh = loaded.table.acquire, loaded.fresh

    def run() -> int:
        return sum(acquire(d, NOW, TTL) for d in fresh)

    assert benchmark.pedantic(run, setup=loaded.release_fresh, rounds=SHARED_ROUNDS, iterations=1) == loaded.k
    loaded.release_fresh()
    _record_shared(benchmark, kind, loaded, "fresh")


def test_shared_hit(benchmark: Any, shared_pair: tuple[str, Loaded]) -> None:
    kind, loaded = shared_pair
    benchmark.group = "cooldown-shared-hit"
    acquire, live = loaded.table.acquire, loaded.live

    def run() -> int:
        return sum(acquire(d, NOW + 1.0, TTL) for d in live)

    assert benchmark.pedantic(run, rounds=SHARED_ROUNDS, iterations=1) == 0
    _record_shared(benchmark, kind, loaded, "hit")


def test_shared_batch(benchmark: Any, shared_pair: tuple[str, Loaded]) -> None:
    kind, loaded = shared_pair
    benchmark.group = "cooldown-shared-batch"
    many, buf = loaded.table.acquire_many, loaded.fresh_buf
    out = benchmark.pedantic(
        lambda: many(buf, NOW, TTL), setup=loaded.release_fresh, rounds=SHARED_ROUNDS, iterations=1
    )
    assert out == b"\x01" * loaded.k
    loaded.release_fresh()
    _record_shared(benchmark, kind, loaded, "batch")


def _two_processes(tables: list[Any], live: list[bytes]) -> float:
    """ns per hit acquire of two forked processes running at once (process i on tables[i])."""
    go_r, go_w = os.pipe()
    pipes = []
    for i in range(2):
        r, w = os.pipe()
        if os.fork() == 0:  # pragma: no cover - the child
            try:
                acquire = tables[i].acquire
                os.read(go_r, 1)
                for d in live:  # warm-up
                    acquire(d, NOW + 1.0, TTL)
                t0 = time.perf_counter()
                for _ in range(3):
                    for d in live:
                        acquire(d, NOW + 1.0, TTL)
                os.write(w, f"{t0!r} {time.perf_counter()!r}".encode())
            finally:
                os._exit(0)
        os.close(w)
        pipes.append(r)
    os.write(go_w, b"xx")
    spans = []
    for r in pipes:
        with os.fdopen(r, "rb") as f:
            spans.append([float(x) for x in f.read().split()])
        os.wait()
    os.close(go_r)
    os.close(go_w)
    wall = max(b for _, b in spans) - min(a for a, _ in spans)
    return wall / (2 * 3 * len(live)) * 1e9


@pytest.mark.parametrize("twin", TWINS)
def test_shared_two_processes(twin: str) -> None:
    private = [Loaded(twin, SHARED_N), Loaded(twin, SHARED_N)]
    shared = Loaded(twin, SHARED_N, shared=True)
    live = shared.live[: 20_000 if twin == "c" else 2_000]
    for t in private:  # the same live digests in each private table
        assert t.table.acquire_many(b"".join(live), NOW, TTL)
    runs: dict[str, list[float]] = {"private": [], "shared": []}
    for _ in range(3):  # alternated, the median of each
        runs["private"].append(_two_processes([t.table for t in private], live))
        runs["shared"].append(_two_processes([shared.table, shared.table], live))
    for kind, ns in runs.items():
        _shared[(twin, kind, "2proc")] = sorted(ns)[1]


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if _shared:
        lines = ["", "cooldown ns/op at 10**5 keys: private | shared table (shared/private), same run"]
        lines.append(
            f"{'op':>6} {'c priv':>9} {'c shared':>9} {'x':>6} {'py priv':>9} {'py shared':>9} {'x':>6}"
        )
        for what in ("fresh", "hit", "batch", "2proc"):
            cells = []
            for twin in ("c", "py"):
                a, b = _shared.get((twin, "private", what)), _shared.get((twin, "shared", what))
                cells.append(
                    f"{'-':>9} {'-':>9} {'-':>6}"
                    if a is None or b is None
                    else f"{a:>9.1f} {b:>9.1f} {b / a:>6.2f}"
                )
            lines.append(f"{what:>6} " + " ".join(cells))
        _emit(request, lines)
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
