"""CooldownTable, on both twins (the `cooldown_mod` fixture is parametrized py / c)."""

from __future__ import annotations

import hashlib
from array import array

import pytest

MAX_TTL = float(1 << 26)
TICK = 1.0 / 16


def md5(i: int | str) -> bytes:
    return hashlib.md5(str(i).encode()).digest()


def test_fire_suppress_expire_rearm(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    d = md5("hook")
    assert t.acquire(d, 1000.0, 10) is True
    assert t.acquire(d, 1005.0, 10) is False
    assert t.contains(d, 1009.9) is True
    # Expiry is exclusive at now+ttl, as a Redis key with EX: gone at exactly 1010.
    assert t.contains(d, 1010.0) is False
    assert t.acquire(d, 1010.0, 10) is True  # re-armed in the same call
    assert t.acquire(d, 1019.0, 10) is False
    assert t.acquire(d, 1020.0, 10) is True
    assert len(t) == 1


def test_short_ttl_is_rounded_up_to_a_tick_never_down(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    d = md5("short")
    assert t.acquire(d, 0.0, 0.001)
    assert t.acquire(d, 0.06, 0.001) is False  # still inside the first 1/16 s
    assert t.acquire(d, TICK, 0.001) is True
    e = md5("frac")
    assert t.acquire(e, 0.3, 2.5)
    assert t.contains(e, 0.3 + 2.5 - 1e-9)  # never ends early
    assert not t.contains(e, 0.3 + 2.5 + TICK)  # at most one tick late


@pytest.mark.parametrize("ttl", [0, 0.0, -1, -5.5, float("-inf")])
def test_ttl_not_positive_means_no_cooldown(cooldown_mod, ttl: float) -> None:
    t = cooldown_mod.CooldownTable(100)
    d = md5("x")
    assert all(t.acquire(d, 10.0, ttl) for _ in range(3))
    assert len(t) == 0 and not t.contains(d, 10.0)
    # Even a key armed by another handler with a real ttl does not hold back a ttl-0 caller.
    assert t.acquire(d, 10.0, 60)
    assert t.acquire(d, 11.0, ttl) is True
    assert t.acquire(d, 11.0, 60) is False


def test_huge_ttl_is_capped(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    d = md5("forever")
    assert t.acquire(d, 0.0, float("inf"))
    assert t.contains(d, MAX_TTL - 1)
    assert not t.contains(d, MAX_TTL)


def test_time_base_moves_after_years_and_keeps_live_keys(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    t0 = 1_700_000_000.0
    old = md5("old")
    assert t.acquire(old, t0, 5)
    # base = t0 - 2**26 s; ticks are 32-bit, 1/16 s: an expiry past t0 + 2**28 - 2**26 s
    # does not fit, so the base has to move (once every ~4 years of uptime).
    t1 = t0 + 2**27 - 5 + 0.3  # off the tick grid: expiries are rounded up to it
    live = md5("live")
    assert t.acquire(live, t1, MAX_TTL)  # fits, just
    fresh = md5("fresh")
    assert t.acquire(fresh, t1 + 10, MAX_TTL)  # does not fit: rebase
    assert t.contains(live, t1 + 20) and t.contains(fresh, t1 + 20)
    assert t.contains(live, t1 + MAX_TTL - 1)
    assert not t.contains(live, t1 + MAX_TTL + TICK)
    assert t.acquire(old, t1 + 30, 5)  # the long-expired entry re-arms normally
    assert not t.acquire(old, t1 + 31, 5)
    assert len(t) == 3
    # Years later again: re-arming an expired key is what triggers the second rebase.
    t3 = t1 + 2**28
    assert t.acquire(fresh, t3, 100)
    assert not t.acquire(fresh, t3 + 99.9, 100)
    assert t.acquire(fresh, t3 + 100 + TICK, 100)  # off-grid: up to one tick late
    assert len(t) == 3 and t.purge(t3 + 100 + TICK) == 2


def test_clock_stepping_back(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    d = md5("back")
    assert t.acquire(d, 5000.0, 10)
    assert not t.acquire(d, 4000.0, 10)  # still armed until 5010 on this clock
    e = md5("back2")
    assert t.acquire(e, 4000.0, 10)
    assert t.contains(e, 4009.0) and not t.contains(e, 4010.0)


def test_bad_inputs_raise_and_change_nothing(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    d = md5("ok")
    assert t.acquire(d, 1.0, 10)
    with pytest.raises(ValueError):
        t.acquire(d[:15], 1.0, 10)
    with pytest.raises(ValueError):
        t.acquire(d + b"\0", 1.0, 10)
    for bad in (bytearray(d), d.hex(), None, memoryview(d)):
        with pytest.raises(TypeError):
            t.acquire(bad, 1.0, 10)
    with pytest.raises(ValueError):
        t.acquire(md5("n"), float("nan"), 10)
    with pytest.raises(ValueError):
        t.acquire(md5("n"), float("inf"), 10)
    with pytest.raises(ValueError):
        t.acquire(md5("n"), 2.0**41, 10)
    with pytest.raises(ValueError):
        t.acquire(md5("n"), 1.0, float("nan"))
    for bad_num in ("1", None, b"1"):
        with pytest.raises(TypeError):
            t.acquire(md5("n"), bad_num, 10)
        with pytest.raises(TypeError):
            t.acquire(md5("n"), 1.0, bad_num)
    with pytest.raises(ValueError):
        t.contains(d, float("nan"))
    with pytest.raises(ValueError):
        t.purge(float("-inf"))
    assert len(t) == 1 and t.contains(d, 2.0) and not t.contains(md5("n"), 2.0)
    for cap in (0, -1, 2**32 + 1):
        with pytest.raises(ValueError):
            cooldown_mod.CooldownTable(cap)
    with pytest.raises(TypeError):
        cooldown_mod.CooldownTable(10.0)
    with pytest.raises(AttributeError):
        t.capacity = 5


def test_acquire_many_matches_one_by_one(cooldown_mod) -> None:
    a = cooldown_mod.CooldownTable(1000)
    b = cooldown_mod.CooldownTable(1000)
    keys = [md5(i % 7) for i in range(20)]  # repeats inside one batch
    ttls = [float(i % 3) for i in range(20)]  # includes ttl 0
    got = a.acquire_many(b"".join(keys), 50.0, ttls)
    want = bytes(b.acquire(k, 50.0, ttl) for k, ttl in zip(keys, ttls, strict=True))
    assert isinstance(got, bytes) and got == want
    assert len(a) == len(b)
    # One ttl for all, other buffer types, per-item ttls as array('d').
    assert a.acquire_many(bytearray(b"".join(keys[:3])), 51.5, 5) == bytes(
        b.acquire(k, 51.5, 5) for k in keys[:3]
    )
    assert a.acquire_many(memoryview(b"".join(keys[3:6])), 60.0, array("d", [1, 2, 3])) == bytes(
        b.acquire(k, 60.0, x) for k, x in zip(keys[3:6], (1, 2, 3), strict=True)
    )
    assert a.acquire_many(b"", 70.0, 5) == b""
    assert a.acquire_many(b"", 70.0, []) == b""


def test_acquire_many_checks_everything_first(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    buf = b"".join(md5(i) for i in range(4))
    with pytest.raises(ValueError):
        t.acquire_many(buf[:-1], 1.0, 5)
    with pytest.raises(ValueError):
        t.acquire_many(buf, 1.0, [5, 5, 5])  # one ttl short
    with pytest.raises(ValueError):
        t.acquire_many(buf, 1.0, [5, 5, float("nan"), 5])
    with pytest.raises(TypeError):
        t.acquire_many(buf, 1.0, [5, 5, "5", 5])
    with pytest.raises(TypeError):
        t.acquire_many(list(buf), 1.0, 5)
    with pytest.raises(ValueError):
        t.acquire_many(array("d", [1.0, 2.0]), 1.0, 5)
    with pytest.raises(BufferError):
        t.acquire_many(memoryview(buf + buf)[::2], 1.0, 5)
    with pytest.raises(ValueError):
        t.acquire_many(buf, float("nan"), 5)
    assert len(t) == 0


def test_release_contains_purge(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(100)
    for i in range(10):
        assert t.acquire(md5(i), 100.0, 1 + i)
    assert len(t) == 10
    assert t.release(md5(0)) is True and t.release(md5(0)) is False
    assert t.acquire(md5(0), 100.5, 1)  # released: fires again
    assert t.purge(100.0) == 0
    # At 105 the keys armed with ttl 1..5 are expired (i = 0..4, key 0 re-armed to 101.5).
    assert [t.contains(md5(i), 105.0) for i in range(10)] == [False] * 5 + [True] * 5
    assert len(t) == 10  # expired entries stay until purged
    assert t.purge(105.0) == 5
    assert len(t) == 5
    assert t.purge(105.0) == 0
    assert t.release(md5(9)) is True and len(t) == 4
    assert t.purge(1e6) == 4 and len(t) == 0


def test_capacity_is_a_hard_bound(cooldown_mod) -> None:
    cap = 200
    t = cooldown_mod.CooldownTable(cap)
    for i in range(5000):
        d = md5(i)
        assert t.acquire(d, 10.0 + i * 1e-3, 3600)  # all distinct, all live
        assert len(t) <= cap
        assert t.contains(d, 10.0 + i * 1e-3)  # the key just armed is never the victim
    assert len(t) >= cap - max(1, cap // 64)
    # Every key still stored suppresses; a key that was evicted fires (a possible duplicate,
    # never a lost webhook).
    kept = sum(t.contains(md5(i), 20.0) for i in range(5000))
    assert kept == len(t)


def test_eviction_takes_expired_entries_first(cooldown_mod) -> None:
    # capacity 10 -> 16 slots: the compiled twin's 32-slot neighbourhood is the whole table,
    # so both twins' choices are exact here.
    t = cooldown_mod.CooldownTable(10)
    for i in range(5):
        t.acquire(md5(("dead", i)), 0.0, 1)
    for i in range(5):
        t.acquire(md5(("live", i)), 0.0, 1000)
    for i in range(5):
        assert t.acquire(md5(("new", i)), 10.0, 1000)
    assert len(t) <= 10
    assert all(t.contains(md5((w, i)), 11.0) for w in ("live", "new") for i in range(5))


def test_eviction_of_live_entries_takes_the_soonest_expiring(cooldown_mod) -> None:
    t = cooldown_mod.CooldownTable(10)
    for i in range(10):  # armed in order of expiry: oldest armed == soonest expiring
        t.acquire(md5(i), 0.0, 100 + i)
    assert t.acquire(md5("new"), 1.0, 1000)
    assert len(t) == 10
    assert not t.contains(md5(0), 2.0)
    assert all(t.contains(md5(i), 2.0) for i in range(1, 10))


def test_compiled_eviction_ignores_arming_order(load_twin) -> None:
    t = load_twin("cooldown", "c").CooldownTable(10)
    for i in range(10):  # the soonest expiry is armed last
        t.acquire(md5(i), 0.0, 200 - i)
    t.acquire(md5("new"), 1.0, 1000)
    assert not t.contains(md5(9), 2.0)
    assert all(t.contains(md5(i), 2.0) for i in range(9))


def test_pure_eviction_is_batched_fifo(load_twin) -> None:
    t = load_twin("cooldown", "py").CooldownTable(640)
    for i in range(640):
        t.acquire(md5(i), 0.0, 1000)
    t.acquire(md5("new"), 1.0, 1000)
    assert len(t) == 640 - 10 + 1  # capacity/64 freed at once, the oldest armed
    assert [t.contains(md5(i), 2.0) for i in range(12)] == [False] * 10 + [True] * 2


def test_compiled_memory_per_live_key_at_capacity(load_twin) -> None:
    cap = 100_000
    t = load_twin("cooldown", "c").CooldownTable(cap)
    buf = b"".join(md5(i) for i in range(cap))
    assert t.acquire_many(buf, 0.0, 60) == b"\x01" * cap
    assert len(t) == cap
    per_key = t.memory_bytes() / len(t)
    assert per_key <= 32, per_key
    assert t.acquire_many(buf, 1.0, 60) == b"\x00" * cap  # all still there


def test_pure_memory_estimate_is_sane(load_twin) -> None:
    t = load_twin("cooldown", "py").CooldownTable(1000)
    empty = t.memory_bytes()
    for i in range(500):
        t.acquire(md5(i), 0.0, 60)
    assert t.memory_bytes() > empty + 500 * 40  # dict entry + 12-byte key object + int
