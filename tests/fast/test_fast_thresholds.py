"""evaluate_tyk and ThresholdTable, on both twins (`thresholds_mod` is parametrized py / c)."""

from __future__ import annotations

import struct
from array import array

import pytest

NOW = 1_767_000_000.0
HOUR = 3600
RENEWS = int(NOW) + HOUR  # "renews now + 1 h" of the table in docs/monitor.md
NAN = float("nan")
INF = float("inf")


def f32_up(x: float) -> float:
    """Reference: the smallest float32 >= x, for x > 0."""
    f = struct.unpack("<f", struct.pack("<f", x))[0]
    if f < x:
        (bits,) = struct.unpack("<I", struct.pack("<f", f))
        f = struct.unpack("<f", struct.pack("<I", bits + 1))[0]
    assert f >= x
    return f


# -- evaluate_tyk: every row of docs/monitor.md, "Differences from Tyk" (the Tyk column) ----

TYK_ROWS = [
    # (G, trigger_limits, quota_max, remaining, renews, expected)
    (80, [], 10, 2, RENEWS, (80, 80)),
    (80, [], 10, 3, RENEWS, None),
    (0, [60], 10, 3, RENEWS, (60, 70)),
    (0, [50, 80], 10, 1, RENEWS, (50, 90)),  # first match in array order, not the highest
    (0, [80, 50], 10, 1, RENEWS, (80, 90)),
    (80, [80], 10, 1, RENEWS, (80, 90)),  # the global rule (the session's 80 is skipped)
    (95, [80, 95], 10, 0, RENEWS, (95, 100)),
    (95, [80, 95], 10, 2, RENEWS, (80, 80)),
    (0, [], 10, 0, RENEWS, None),
    (80, [], 10, 0, int(NOW) - 1, None),  # renewal in the past
    (80, [], -1, 0, RENEWS, None),  # unlimited root quota
    (80, [], 0, 0, RENEWS, None),  # no root quota
    (80, [], 10, 15, RENEWS, None),  # remaining > max: usage -50
]


@pytest.mark.parametrize("g, limits, qmax, rem, renews, want", TYK_ROWS)
def test_evaluate_tyk_rows(thresholds_mod, g, limits, qmax, rem, renews, want) -> None:
    got = thresholds_mod.evaluate_tyk(qmax, rem, renews, NOW, g, limits)
    assert got == want
    if got is not None:
        assert all(type(x) is float for x in got)


def test_evaluate_tyk_access_rights_row(thresholds_mod) -> None:
    # Root quota_max 0 does not fire, then access_rights.a1.limit is checked with the
    # session's trigger limits: {quota_max 100, remaining 20, renews now+1h} -> Fire(75, 80).
    ev = thresholds_mod.evaluate_tyk
    assert ev(0, 0, 0, NOW, 0, [75]) is None
    assert ev(100, 20, RENEWS, NOW, 0, [75]) == (75, 80)


def test_evaluate_tyk_truncation_row(thresholds_mod) -> None:
    limit, usage = thresholds_mod.evaluate_tyk(3, 2, RENEWS, NOW, 0, [33.3])
    assert (limit, usage) == (33.3, 1.0 / 3.0 * 100.0)  # Go: float64(3-2) / float64(3) * 100
    assert (int(limit), int(usage)) == (33, 33)  # the payload's int64() truncation


def test_evaluate_tyk_renewal_boundary(thresholds_mod) -> None:
    ev = thresholds_mod.evaluate_tyk
    assert ev(10, 2, 1000, 1000.0, 80, []) == (80, 80)  # now == renews: not after
    assert ev(10, 2, 1000, 1000.5, 80, []) is None  # second granularity: 1000.5 is after
    assert ev(10, 2, 0, NOW, 80, []) is None  # non-renewing quotas never fire in Tyk (K9)


def test_evaluate_tyk_does_not_validate_limits(thresholds_mod) -> None:
    ev = thresholds_mod.evaluate_tyk
    assert ev(10, 9, RENEWS, NOW, 0, [-5]) == (-5, 10)  # Tyk fires a negative limit at once
    assert ev(10, 9, RENEWS, NOW, -1, [NAN, 0]) == (0, 10)
    assert ev(10, 9, RENEWS, NOW, 0, [NAN, 0]) is None  # a limit equal to G is skipped, even 0
    assert ev(10, 9, RENEWS, NOW, -1, []) is None
    with pytest.raises(TypeError):
        ev(10, 9, RENEWS, NOW, 0, ["80"])
    with pytest.raises(TypeError):
        ev(10.0, 9, RENEWS, NOW, 0, [])
    with pytest.raises(ValueError):
        ev(10, 9, RENEWS, NAN, 0, [])


# -- the stateful evaluator -------------------------------------------------------------------


def ev(t, key, rem, *, qmax=10, renews=RENEWS, now=NOW, g=0.0, limits=(50, 80), renewing=True):
    return t.evaluate(key, qmax, rem, renews, now, g, list(limits), renewing)


def test_each_level_fires_once_per_period(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    got = [ev(t, 1, rem) for rem in (9, 6, 5, 5, 4, 3, 2, 2, 1, 0, 0)]
    assert got == [None, None, (50, 50), None, None, None, (80, 80), None, None, None, None]
    assert t.state(1) == (RENEWS, 80.0)


def test_highest_crossed_level_first_and_lower_ones_passed(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 1, limits=(50, 80, 60)) == (80, 90)
    assert [ev(t, 1, rem, limits=(50, 80, 60)) for rem in (1, 0, 3)] == [None] * 3
    assert ev(t, 2, 4, limits=(80, 50, 60)) == (60, 60)  # highest crossed, any list order


def test_global_limit_is_a_level_and_duplicates_count_once(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 3, g=70, limits=(50, 70)) == (70, 70)
    assert ev(t, 1, 1, g=70, limits=(50, 70)) is None
    assert ev(t, 1, 0, g=70, limits=(50, 70, 95)) == (95, 100)


def test_invalid_trigger_limits_are_ignored(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    junk = (NAN, 0, -10, 100.5, INF, -INF)
    assert ev(t, 1, 9, limits=junk) is None
    assert ev(t, 1, -5, limits=junk) is None  # usage 150 crosses nothing valid
    assert ev(t, 1, 5, limits=junk + (50,)) == (50, 50)
    assert ev(t, 2, 0, limits=(100,)) == (100, 100)  # 100 itself is valid
    assert t.state(3) is None and len(t) == 2


def test_global_limit_has_no_upper_bound(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 0, g=120, limits=()) is None
    assert ev(t, 1, -3, g=120, limits=()) == (120, 130)  # remaining < 0: usage > 100
    assert ev(t, 2, 0, g=NAN, limits=(90,)) == (90, 100)  # a NaN global is no level


def test_new_period_rearms(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 1) == (80, 90)
    nxt = RENEWS + HOUR
    assert ev(t, 1, 9, renews=nxt, now=NOW + HOUR) is None
    assert t.state(1) == (nxt, 0.0)  # reset, nothing fired yet in the new period
    assert ev(t, 1, 5, renews=nxt, now=NOW + HOUR) == (50, 50)
    assert ev(t, 1, 0, renews=nxt + HOUR, now=NOW + 2 * HOUR) == (80, 100)


def test_renews_jitter_of_one_second_is_the_same_period(thresholds_mod) -> None:
    # Tyk computes quota_renews as now.Unix() + PTTL/1000: one period can show two values.
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 4, renews=RENEWS) == (50, 60)
    assert ev(t, 1, 4, renews=RENEWS - 1) is None
    assert ev(t, 1, 4, renews=RENEWS + 1) is None
    assert t.state(1) == (RENEWS, 50.0)
    assert ev(t, 1, 4, renews=RENEWS + 2, now=NOW + 1) == (50, 60)  # a new period


def test_late_record_of_an_earlier_period_is_ignored(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    nxt = RENEWS + HOUR
    assert ev(t, 1, 5, renews=nxt) == (50, 50)
    assert ev(t, 1, 0, renews=RENEWS) is None  # an old-period record, even above 80
    assert ev(t, 1, 0, renews=nxt - 2) is None  # more than 1 s before: an earlier period
    assert t.state(1) == (nxt, 50.0)
    assert ev(t, 1, 0, renews=nxt - 1) == (80, 100)  # 1 s: the same period


def test_stale_renewing_record_is_skipped_as_in_tyk(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 0, renews=int(NOW) - 1) is None
    assert ev(t, 1, 0, renews=int(NOW), now=NOW + 0.5) is None
    assert len(t) == 0
    assert ev(t, 1, 0, renews=int(NOW), now=NOW) == (80, 100)


@pytest.mark.parametrize("renewing, renews", [(False, RENEWS), (False, int(NOW) - 5), (True, 0), (True, -1)])
def test_non_renewing_quotas_are_monitored(thresholds_mod, renewing, renews) -> None:
    t = thresholds_mod.ThresholdTable(100)
    kw = {"renewing": renewing, "renews": renews}
    assert ev(t, 1, 5, **kw) == (50, 50)
    assert ev(t, 1, 5, now=NOW + 10, **kw) is None
    assert ev(t, 1, 1, now=NOW + 20, **kw) == (80, 90)
    assert t.state(1) == (0, 80.0)
    # An admin reset the quota: usage fell below the fired level, so the levels re-arm.
    assert ev(t, 1, 4, now=NOW + 30, **kw) == (50, 60)
    assert ev(t, 1, 9, now=NOW + 40, **kw) is None
    assert t.state(1) == (0, 0.0)
    assert ev(t, 1, 5, now=NOW + 50, **kw) == (50, 50)


def test_switching_between_renewing_and_not_resets(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 5) == (50, 50)
    assert ev(t, 1, 5, renewing=False) == (50, 50)
    assert t.state(1) == (0, 50.0)
    assert ev(t, 1, 5) == (50, 50)
    assert t.state(1) == (RENEWS, 50.0)


def test_fired_level_is_float32_rounded_up_and_never_refires(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    usage = 1.0 / 3.0 * 100.0  # max 3, remaining 2; not representable in float32
    for renewing in (True, False):
        key = 10 + renewing
        assert t.evaluate(key, 3, 2, RENEWS, NOW, 0.0, [usage], renewing) == (usage, usage)
        period, fired = t.state(key)
        assert fired == f32_up(usage) > usage
        # The same usage again: no re-fire, and (non-renewing) no reset either.
        for _ in range(3):
            assert t.evaluate(key, 3, 2, RENEWS, NOW, 0.0, [usage], renewing) is None
        assert t.state(key) == (period, fired)


def test_quota_max_not_positive_never_fires(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    for qmax in (0, -1, -(2**63)):
        assert ev(t, 1, 0, qmax=qmax, g=1, limits=(1,)) is None
    assert len(t) == 0


def test_extreme_counters_use_the_exact_difference(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    lo, hi = -(2**63), 2**63 - 1
    assert ev(t, 1, lo, qmax=hi, limits=(100,)) == (100, float(hi - lo) / float(hi) * 100.0)
    assert ev(t, 2, lo, qmax=1, g=1e20, limits=()) == (1e20, float(1 - lo) * 100.0)
    assert ev(t, 3, hi, qmax=hi, limits=(100,)) is None  # usage 0


def test_bad_inputs_raise_and_change_nothing(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 5) == (50, 50)
    before = (t.state(1), len(t))
    bad = [
        (OverflowError, dict(key=-1)),
        (OverflowError, dict(key=2**64)),
        (TypeError, dict(key=1.0)),
        (TypeError, dict(key="1")),
        (OverflowError, dict(qmax=2**63)),
        (TypeError, dict(qmax=10.0)),
        (OverflowError, dict(rem=-(2**63) - 1)),
        (TypeError, dict(renews=float(RENEWS))),
        (ValueError, dict(now=NAN)),
        (ValueError, dict(now=INF)),
        (TypeError, dict(now="1")),
        (TypeError, dict(g=None)),
        (TypeError, dict(limits=(90, "95"))),
        (TypeError, dict(limits=(90, None))),
    ]
    for exc, kw in bad:
        args = dict(key=1, rem=0, qmax=10, renews=RENEWS, now=NOW, g=0.0, limits=(50, 80, 95))
        args.update(kw)
        with pytest.raises(exc):
            t.evaluate(
                args["key"],
                args["qmax"],
                args["rem"],
                args["renews"],
                args["now"],
                args["g"],
                list(args["limits"]),
                True,
            )
        assert (t.state(1), len(t)) == before, kw
    with pytest.raises(TypeError):
        t.evaluate(1, 10, 0, RENEWS, NOW, 0.0, None, True)
    assert (t.state(1), len(t)) == before


def test_state_load_state_forget(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert t.state(7) is None
    t.load_state(7, RENEWS, 80)
    assert t.state(7) == (RENEWS, 80.0) and len(t) == 1
    assert ev(t, 7, 1) is None  # 80 already passed this period (e.g. fired by another node)
    assert ev(t, 7, 0, limits=(50, 80, 95)) == (95, 100)
    t.load_state(7, 0, 33.3)
    assert t.state(7) == (0, f32_up(33.3))
    t.load_state(8, 2**40, 0)
    assert t.state(8) == (2**32 - 2, 0.0)  # periods clamp at 2**32-2 (the year 2106)
    for bad in ((8, -1, 1.0), (8, 1, -1.0), (8, 1, NAN), (8, 1, INF), (8, 1, 1e39)):
        with pytest.raises(ValueError):
            t.load_state(*bad)
    with pytest.raises(TypeError):
        t.load_state(8, 1.5, 1.0)
    assert t.forget(7) is True and t.forget(7) is False and t.state(7) is None
    assert len(t) == 1
    with pytest.raises(OverflowError):
        t.forget(-1)


def test_purge_drops_states_that_carry_nothing(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    assert ev(t, 1, 5) == (50, 50)  # renewing, live period
    assert ev(t, 2, 5, renewing=False) == (50, 50)  # non-renewing: kept for ever
    assert ev(t, 3, 5, renews=int(NOW) + 10) == (50, 50)  # period ends soon
    t.load_state(4, RENEWS, 0)  # nothing fired
    assert t.purge(NOW) == 1 and t.state(4) is None
    assert t.purge(NOW + 11) == 0  # period 3 ended 1 s ago: a late record may still count
    assert t.purge(NOW + 11.5) == 1 and t.state(3) is None
    assert t.state(1) and t.state(2) and len(t) == 2
    with pytest.raises(ValueError):
        t.purge(NAN)


def test_evaluate_many_matches_one_by_one(thresholds_mod) -> None:
    a = thresholds_mod.ThresholdTable(1000)
    b = thresholds_mod.ThresholdTable(1000)
    keys = [i % 5 for i in range(40)]
    qmax = [10] * 40
    rem = [10 - (i // 4) for i in range(40)]
    renews = [RENEWS + (HOUR if i >= 30 else 0) for i in range(40)]
    flags = [i % 5 != 4 for i in range(40)]
    limits = [[50, 80], [30], [], [90, NAN, 10], [60, 70]]
    flat = array("d", [x for k in keys for x in limits[k]])
    offs = [0]
    for k in keys:
        offs.append(offs[-1] + len(limits[k]))
    got = a.evaluate_many(array("Q", keys), qmax, array("q", rem), renews, NOW + 1, 40.0, flat, flags, offs)
    want = []
    for i, k in enumerate(keys):
        r = b.evaluate(k, qmax[i], rem[i], renews[i], NOW + 1, 40.0, limits[k], flags[i])
        if r is not None:
            want.append((i, r[0], r[1]))
    assert got == want and len(got) > 5
    assert [a.state(k) for k in range(5)] == [b.state(k) for k in range(5)]
    # Shared limits and one renewing flag for all.
    got = a.evaluate_many([100, 101], [10, 10], [0, 5], [RENEWS, RENEWS], NOW, 0.0, [50.0], True)
    assert got == [(0, 50.0, 100.0), (1, 50.0, 50.0)]
    assert a.evaluate_many([], [], [], [], NOW, 0.0, []) == []


def test_evaluate_many_checks_everything_first(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(100)
    k, m, r, n = [1, 2], [10, 10], [0, 0], [RENEWS, RENEWS]
    cases = [
        (ValueError, (k, m, r, n[:1], NOW, 0.0, [50.0])),
        (ValueError, (k, m, [0], n, NOW, 0.0, [50.0])),
        (OverflowError, ([1, -2], m, r, n, NOW, 0.0, [50.0])),
        (TypeError, (k, [10.0, 10.0], r, n, NOW, 0.0, [50.0])),
        (ValueError, (k, m, r, n, NAN, 0.0, [50.0])),
        (TypeError, (k, m, r, n, NOW, 0.0, ["50"])),
        (ValueError, (k, m, r, n, NOW, 0.0, [50.0], [True])),
        (ValueError, (k, m, r, n, NOW, 0.0, [50.0], True, [0, 1])),  # offsets: n+1 needed
        (ValueError, (k, m, r, n, NOW, 0.0, [50.0], True, [0, 2, 1])),  # past the end
        (ValueError, (k, m, r, n, NOW, 0.0, [50.0, 60.0], True, [0, 2, 1])),  # decreasing
        (ValueError, (k, m, r, n, NOW, 0.0, [50.0], True, [1, 1, 1])),  # not from 0
    ]
    for exc, args in cases:
        with pytest.raises(exc):
            t.evaluate_many(*args)
    assert len(t) == 0


def test_capacity_bound_and_idle_states_go_first(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(10)  # 16 slots: the C neighbourhood is the whole table
    for key in range(5):
        assert ev(t, key, 5, renews=int(NOW) + 5) == (50, 50)  # periods about to end
    for key in range(5, 10):
        assert ev(t, key, 5, renewing=False) == (50, 50)
    later = NOW + 100
    for key in range(10, 15):
        assert ev(t, key, 5, renews=int(later) + HOUR, now=later) == (50, 50)
        assert len(t) <= 10
    assert all(t.state(k) == (0, 50.0) for k in range(5, 10))
    assert all(t.state(k) is not None for k in range(10, 15))
    for key in range(15, 1000):
        ev(t, key, 5, renews=int(later) + HOUR, now=later)
        assert len(t) <= 10 and t.state(key) is not None


def test_evicted_state_refires_at_most_once(thresholds_mod) -> None:
    t = thresholds_mod.ThresholdTable(1)
    assert ev(t, 1, 5) == (50, 50)
    assert ev(t, 2, 5) == (50, 50)  # evicts key 1
    assert t.state(1) is None
    assert ev(t, 1, 5) == (50, 50)  # one duplicate
    assert ev(t, 1, 5) is None


def test_compiled_memory_per_key_at_capacity(load_twin) -> None:
    cap = 100_000
    t = load_twin("thresholds", "c").ThresholdTable(cap)
    cols = (array("Q", range(cap)), [10] * cap, [0] * cap, [RENEWS] * cap)
    got = t.evaluate_many(*cols, NOW, 80.0, [])
    assert len(got) == cap == len(t)
    assert t.memory_bytes() / len(t) <= 32
