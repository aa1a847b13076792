"""Shared tables (tykevents._fast.shared_*), both twins, hammered by real forked processes.

Each test forks worker processes that start together (a pipe releases them) and send their
results back pickled; every child leaves with os._exit, so no child runs pytest's code.

In one process a shared table is the private table: the private tables' specification tests
(test_fast_cooldown.py, test_fast_thresholds.py) run here again as test_spec_*, with their
`cooldown_mod` / `thresholds_mod` fixtures answering the shared class.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import mmap
import os
import pickle
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.fast import test_fast_cooldown, test_fast_thresholds
from tests.fast.conftest import TWINS
from tykevents._fast import shared

WORKERS = 4
_SPEC_FIXTURES = {"cooldown_mod", "thresholds_mod", "cooldown_twins", "thresholds_twins"}


def _spec_tests() -> dict[str, Callable[..., None]]:
    """The specification tests that take a table through the fixtures overridden below."""
    out = {}
    for mod in (test_fast_cooldown, test_fast_thresholds):
        for name, fn in vars(mod).items():
            if name.startswith("test_") and _SPEC_FIXTURES & set(inspect.signature(fn).parameters):
                out["test_spec_" + name.removeprefix("test_")] = fn
    return out


globals().update(_spec_tests())


def _with(mod: ModuleType, **names: Any) -> SimpleNamespace:
    return SimpleNamespace(**{**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")}, **names})


@pytest.fixture(params=TWINS)
def cooldown_mod(
    request: pytest.FixtureRequest, load_twin: Callable[[str, str], ModuleType]
) -> SimpleNamespace:
    cls = load_twin("shared_cooldown", request.param).SharedCooldownTable
    return _with(load_twin("cooldown", request.param), CooldownTable=cls)


@pytest.fixture(params=TWINS)
def thresholds_mod(
    request: pytest.FixtureRequest, load_twin: Callable[[str, str], ModuleType]
) -> SimpleNamespace:
    cls = load_twin("shared_thresholds", request.param).SharedThresholdTable
    return _with(load_twin("thresholds", request.param), ThresholdTable=cls)


@pytest.fixture
def cooldown_twins(load_twin: Callable[[str, str], ModuleType]) -> tuple[SimpleNamespace, SimpleNamespace]:
    return tuple(  # type: ignore[return-value]
        SimpleNamespace(CooldownTable=load_twin("shared_cooldown", t).SharedCooldownTable)
        for t in ("py", "c")
    )


@pytest.fixture
def thresholds_twins(load_twin: Callable[[str, str], ModuleType]) -> tuple[SimpleNamespace, SimpleNamespace]:
    return tuple(  # type: ignore[return-value]
        SimpleNamespace(ThresholdTable=load_twin("shared_thresholds", t).SharedThresholdTable)
        for t in ("py", "c")
    )


@pytest.fixture(params=TWINS)
def cooldown_shared(request: pytest.FixtureRequest, load_twin: Callable[[str, str], ModuleType]) -> Any:
    return load_twin("shared_cooldown", request.param).SharedCooldownTable


@pytest.fixture(params=TWINS)
def thresholds_shared(request: pytest.FixtureRequest, load_twin: Callable[[str, str], ModuleType]) -> Any:
    return load_twin("shared_thresholds", request.param).SharedThresholdTable


def md5(i: object) -> bytes:
    return hashlib.md5(str(i).encode()).digest()


def forked(n: int, work: Callable[[int], Any], timeout: float = 20.0) -> list[Any]:
    """Runs work(i) in n forked processes released at once; their results, in order."""
    go_r, go_w = os.pipe()
    children = []
    for i in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(r)
                os.read(go_r, 1)
                data = pickle.dumps(work(i))
                with os.fdopen(w, "wb") as f:
                    f.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        children.append((pid, r))
    os.close(go_r)
    os.write(go_w, b"x" * n)
    os.close(go_w)
    deadline = time.monotonic() + timeout
    out = []
    for pid, r in children:
        with os.fdopen(r, "rb") as f:
            data = f.read()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"worker {pid} did not finish in {timeout} s")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
        out.append(pickle.loads(data))
    return out


def test_anonymous_mmap_is_shared_with_forked_children() -> None:
    m = mmap.mmap(-1, 4096)
    assert forked(2, lambda i: m.__setitem__(i, 7 + i)) == [None, None]
    assert m[0:2] == bytes([7, 8])


# -- cooldown ---------------------------------------------------------------------------


def test_cooldown_api_as_private_table(cooldown_shared: Any) -> None:
    t = cooldown_shared.create(100)
    d = md5("hook")
    assert t.acquire(d, 1000.0, 10) is True
    assert t.acquire(d, 1005.0, 10) is False
    assert t.contains(d, 1009.9) and not t.contains(d, 1010.0)
    assert t.acquire(d, 1010.0, 10) is True
    assert t.acquire_many(d + md5("b") + d, 1011.0, 10) == b"\x00\x01\x00"
    assert t.acquire(d, 1011.0, 0) is True  # ttl <= 0: no cooldown
    assert len(t) == 2 and t.capacity == 100 and t.memory_bytes() >= 150 * 16
    assert t.release(md5("b")) and not t.release(md5("b"))
    assert t.purge(1100.0) == 1 and len(t) == 0
    with pytest.raises(ValueError):
        t.acquire(b"short", 1.0, 1.0)


def test_cooldown_one_winner_per_digest_across_processes(cooldown_shared: Any) -> None:
    t = cooldown_shared.create(10_000)
    digests = [md5(i) for i in range(2000)]

    def work(i: int) -> list[int]:
        order = list(range(len(digests)))
        random.Random(i).shuffle(order)
        won = []
        for rnd, now in enumerate((1000.0, 1000.5, 1060.0)):  # the third round is past the ttl
            for j in order:
                if t.acquire(digests[j], now, 60.0):
                    won.append(rnd * 10_000 + j)
        return won

    wins = Counter(w for got in forked(WORKERS, work) for w in got)
    # Round 0 arms every digest once, round 1 (inside the ttl) fires none, round 2 re-arms.
    assert sorted(wins) == list(range(2000)) + [20_000 + j for j in range(2000)]
    assert set(wins.values()) == {1}
    assert len(t) == 2000


def test_cooldown_same_digest_hammered(cooldown_shared: Any) -> None:
    t = cooldown_shared.create(100)
    d = md5("storm")

    def work(i: int) -> list[int]:
        return [sum(t.acquire(d, now, 10.0) for _ in range(500)) for now in (5.0, 10.0, 15.0, 20.0)]

    per_window = [sum(col) for col in zip(*forked(WORKERS, work), strict=True)]
    assert per_window == [1, 0, 1, 0]  # armed at 5 until 15, then at 15 until 25


def test_cooldown_purge_while_others_acquire(cooldown_shared: Any) -> None:
    t = cooldown_shared.create(6000)
    assert t.acquire_many(b"".join(md5(f"old-{k}") for k in range(2000)), 900.0, 1.0) == b"\x01" * 2000

    def work(i: int) -> tuple[int, int]:
        if i == 0:  # purges the expired keys (and never a live one) while the others acquire
            return sum(t.purge(1000.0) for k in range(20)), 0
        fired = suppressed = 0
        for k in range(1000):
            d = md5(f"{i}-{k}")
            fired += t.acquire(d, 1000.0, 0.5 if k % 2 else 3600.0)  # fresh: always fires
            suppressed += not t.acquire(d, 1000.0, 3600.0)  # armed just now: never fires
        return fired, suppressed

    results = forked(WORKERS, work)
    assert results == [(2000, 0)] + [(1000, 1000)] * (WORKERS - 1)
    assert len(t) == 3000
    assert t.purge(1001.0) == 1500 and len(t) == 1500  # the 0.5 s ones, whoever armed them
    assert all(t.contains(md5(f"{i}-{k}"), 1001.0) for i in range(1, WORKERS) for k in range(0, 1000, 2))


def test_cooldown_one_winner_while_purge_moves_slots(cooldown_shared: Any) -> None:
    # Worker 0 keeps filling the table with keys that expire at once and purging them, so
    # purge deletes (and shifts the probe runs of) slots among the ones the others race on.
    t = cooldown_shared.create(8000)
    digests = [md5(i) for i in range(3000)]

    def work(i: int) -> list[int]:
        if i == 0:
            for rnd in range(20):
                junk = b"".join(md5(f"junk-{rnd}-{k}") for k in range(1000))
                t.acquire_many(junk, 1000.0, 0.001)
                t.purge(1001.0)
            return []
        order = list(range(len(digests)))
        random.Random(i).shuffle(order)
        return [j for j in order if t.acquire(digests[j], 1000.0, 60.0)]

    wins = Counter(w for got in forked(WORKERS, work) for w in got)
    assert sorted(wins) == list(range(3000)) and set(wins.values()) == {1}
    t.purge(1001.0)
    assert len(t) == 3000 and all(t.contains(d, 1001.0) for d in digests)


def test_cooldown_full_table(cooldown_shared: Any) -> None:
    t = cooldown_shared.create(128)

    def work(i: int) -> int:
        return sum(t.acquire(md5(f"{i}-{k}"), 1000.0, 3600.0) for k in range(150))

    assert forked(WORKERS, work) == [150] * WORKERS  # fresh keys fire; live ones are evicted
    assert 0 < len(t) <= 128
    # A table that never stopped being consistent: a fresh key fires once, then holds.
    assert t.acquire(md5("after"), 2000.0, 60) and not t.acquire(md5("after"), 2000.0, 60)


def test_cooldown_survives_a_killed_worker(cooldown_shared: Any) -> None:
    t = cooldown_shared.create(1000)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, killed while it hammers the table
        try:
            k = 0
            while True:
                t.acquire(md5(k % 2000), 1000.0 + k * 0.001, 0.01)
                k += 1
        finally:
            os._exit(0)
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    started = time.monotonic()
    t.purge(10_000.0)
    assert t.acquire(md5("x"), 10_000.0, 60) and not t.release(md5("y"))
    assert time.monotonic() - started < 2.0


class _Died(BaseException):
    """A process killed at this write."""


def test_a_writer_killed_at_any_write_never_leaves_the_count_below_the_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The pure twin's storage, its writes cut off at each point in turn as SIGKILL may cut
    # them: the count may run ahead of the slots held (a lost slot), never behind, or the
    # survivors' deletes would drive it below zero.
    from tykevents._fast.shared_cooldown_py import CooldownSlots
    from tykevents._fast.shared_map import Header, SlotMap

    keys = [md5(k)[:12] for k in range(40)]

    def occupied(m: CooldownSlots) -> int:
        return sum(1 for _ in m)

    def run(cut: int) -> int:
        """Deletes and inserts, the `cut`th write never made (0: none); the writes made."""
        m = CooldownSlots(64, 0)
        m._seed = 12345  # the same slots, hence the same writes, in every run
        writes = 0

        def counted(real: Callable[..., None]) -> Callable[..., None]:
            def write(*args: Any) -> None:
                nonlocal writes
                writes += 1
                if writes == cut:
                    raise _Died
                real(*args)

            return write

        for k in keys:  # a long run of neighbours, so deletes shift slots back
            m[k] = 1
        monkeypatch.setattr(m, "_put", counted(SlotMap._put.__get__(m)))
        monkeypatch.setattr(m.header, "set_u64", counted(Header.set_u64.__get__(m.header)))
        try:
            for k in keys[:20]:
                del m[k]
            for k in keys[:5]:
                m[k] = 2
        except _Died:
            monkeypatch.undo()
            assert len(m) >= occupied(m)
            for k in list(m):  # the survivors empty the table
                del m[k]
            assert len(m) >= occupied(m) == 0
        monkeypatch.undo()
        return writes

    total = run(0)
    assert total > 50  # the shifts of the deletes are among the cut points
    for cut in range(1, total + 1):
        assert run(cut) == cut


# -- thresholds -------------------------------------------------------------------------

LEVELS = [50.0, 80.0, 90.0, 100.0]


def test_thresholds_api_as_private_table(thresholds_shared: Any) -> None:
    t = thresholds_shared.create(100)
    assert t.evaluate(1, 100, 40, 5000, 10.0, 0.0, LEVELS, True) == (50.0, 60.0)
    assert t.evaluate(1, 100, 30, 5000, 10.0, 0.0, LEVELS, True) is None
    assert t.state(1) == (5000, 50.0)
    assert t.evaluate_many([1, 2], [100, 100], [5, 0], [5000, 5000], 10.0, 0.0, LEVELS) == [
        (0, 90.0, 95.0),
        (1, 100.0, 100.0),
    ]
    t.load_state(3, 0, 80.0)
    assert t.state(3) == (0, 80.0) and len(t) == 3
    assert t.forget(3) and not t.forget(3) and t.state(3) is None
    assert t.purge(6000.0) == 2 and len(t) == 0


def test_thresholds_each_level_fires_once_across_processes(thresholds_shared: Any) -> None:
    t = thresholds_shared.create(1000)
    keys = range(200)

    def work(i: int) -> list[tuple[int, float]]:
        fires = []
        for used in range(0, 101, 2):  # every process ascends: each level fires once in all
            for k in keys:
                r = t.evaluate(k, 100, 100 - used, 5000, 10.0, 0.0, LEVELS, True)
                if r is not None:
                    fires.append((k, r[0]))
        return fires

    fired = Counter(f for got in forked(WORKERS, work) for f in got)
    assert fired == Counter({(k, level): 1 for k in keys for level in LEVELS})
    assert all(t.state(k) == (5000, 100.0) for k in keys)


def test_thresholds_full_table(thresholds_shared: Any) -> None:
    t = thresholds_shared.create(64)

    def work(i: int) -> int:
        return sum(
            t.evaluate(i * 1000 + k, 100, 0, 5000, 10.0, 0.0, LEVELS, True) is not None for k in range(120)
        )

    assert forked(WORKERS, work) == [120] * WORKERS  # new keys always fire; the table evicts
    assert len(t) <= 64


# -- the hook ---------------------------------------------------------------------------


def test_installed_tables_are_used_by_the_stores() -> None:
    from tykevents.monitor.service import MonitorService
    from tykevents.store.cooldown import MemoryCooldown

    assert shared.shared_cooldown() is None
    assert type(MemoryCooldown().table).__name__ == "CooldownTable"
    cooldown, thresholds = shared.create_shared_tables(1000, 1000)
    try:
        assert MonitorService().table is thresholds

        def work(i: int) -> bool:
            store = MemoryCooldown()
            assert store.table is cooldown
            return asyncio.run(store.acquire(md5("hook"), 60.0))

        assert sorted(forked(WORKERS, work)) == [False] * (WORKERS - 1) + [True]
    finally:
        shared.use_shared_tables(None, None)
    assert MonitorService().table is not thresholds


@pytest.mark.parametrize(
    ("name", "cls"),
    [("shared_cooldown", "SharedCooldownTable"), ("shared_thresholds", "SharedThresholdTable")],
)
def test_compiled_surface_matches_pure(
    load_twin: Callable[[str, str], ModuleType], name: str, cls: str
) -> None:
    def public(k: type) -> set[str]:
        return {n for n in dir(k) if not n.startswith("_")}

    py, c = getattr(load_twin(name, "py"), cls), getattr(load_twin(name, "c"), cls)
    assert public(c) == public(py)
    private = load_twin(name.removeprefix("shared_"), "py")
    assert public(py) == public(getattr(private, cls.removeprefix("Shared"))) | {"create"}
