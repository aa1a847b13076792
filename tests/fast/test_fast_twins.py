"""Property tests: the pure and the compiled twin give the same answers to the same
operation sequences (below capacity, where eviction choices cannot differ), and each twin
keeps its capacity bound under random load."""

from __future__ import annotations

import hashlib
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# -- cooldown ------------------------------------------------------------------------------

_base = [hashlib.md5(bytes([i])).digest() for i in range(6)]
DIGESTS = (
    _base
    + [
        _base[0][:12] + b"\xff\xff\xff\xff",  # same 96-bit key as _base[0]: the same entry
        _base[1][:8] + b"\x00" * 8,  # shares only the first 64 bits with _base[1]
        _base[1][:8] + b"\x01" + b"\x00" * 7,
    ]
)
TTLS = st.one_of(
    st.sampled_from([0.0, -1.0, 0.001, 1 / 16, 1.0, 2.5, 10.0, 3600.0, 2.0**26, 2.0**27, math.inf]),
    st.floats(-5, 1e4, allow_nan=False),
)
STEPS = st.one_of(
    st.sampled_from([0.0, 0.01, 1 / 16, 0.5, 1.0, 10.0, 2.0**26, 2.0**26 - 7, 2.0**27, 2.0**28]),
    st.floats(-20, 200, allow_nan=False),
)
KEY = st.integers(0, len(DIGESTS) - 1)
PROBES = (-1e-3, 0.0, 1 / 32, 1 / 16)  # around an expiry instant: the tick grids must agree
COOLDOWN_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), KEY, STEPS, TTLS),
        st.tuples(
            st.just("many"),
            st.lists(KEY, max_size=8),
            STEPS,
            st.one_of(TTLS, st.lists(TTLS, min_size=8, max_size=8)),
        ),
        st.tuples(st.just("contains"), KEY, STEPS),
        st.tuples(st.just("release"), KEY),
        st.tuples(st.just("purge"), STEPS),
    ),
    min_size=5,
    max_size=50,
)


def _run_cooldown(table, start: float, ops) -> list:
    out = []
    ends: dict[int, float] = {}
    now = start
    for op in ops:
        kind = op[0]
        if kind == "acquire":
            now += op[2]
            fired = table.acquire(DIGESTS[op[1]], now, op[3])
            out.append(fired)
            if fired and op[3] > 0:  # probe around the expiry instant: the tick grids must agree
                end = ends[op[1]] = now + min(op[3], 2.0**26)
                out.append([table.contains(DIGESTS[op[1]], end + x) for x in PROBES])
        elif kind == "many":
            now += op[2]
            ttls = op[3] if isinstance(op[3], float) else op[3][: len(op[1])]
            out.append(table.acquire_many(b"".join(DIGESTS[k] for k in op[1]), now, ttls))
        elif kind == "contains":
            now += op[2]
            out.append(table.contains(DIGESTS[op[1]], now))
        elif kind == "release":
            out.append(table.release(DIGESTS[op[1]]))
        else:
            now += op[1]
            out.append(table.purge(now))
        out.append(len(table))
    out.append([table.contains(d, now) for d in DIGESTS])
    # Where the last arming of each key ends, even across a later rebase of the time base.
    for k, end in sorted(ends.items()):
        out.append([table.contains(DIGESTS[k], end + x) for x in PROBES])
    out.append(table.purge(now))
    out.append(len(table))
    return out


@SETTINGS
@given(start=st.floats(-1e6, 2e9, allow_nan=False), ops=COOLDOWN_OPS)
def test_cooldown_twins_agree(cooldown_twins, start: float, ops) -> None:
    py, c = cooldown_twins
    want = _run_cooldown(py.CooldownTable(1000), start, ops)
    assert _run_cooldown(c.CooldownTable(1000), start, ops) == want


@SETTINGS
@given(
    cap=st.integers(1, 40),
    ops=st.lists(st.tuples(st.integers(0, 200), st.floats(0, 5, allow_nan=False), TTLS), max_size=150),
)
def test_cooldown_capacity_bound(cooldown_mod, cap: int, ops) -> None:
    t = cooldown_mod.CooldownTable(cap)
    now = 0.0
    for k, dt, ttl in ops:
        now += dt
        d = hashlib.md5(str(k).encode()).digest()
        was_live = t.contains(d, now)
        assert t.acquire(d, now, ttl) is (not was_live or ttl <= 0)
        assert len(t) <= cap
        if ttl > 0:
            assert t.contains(d, now)


# -- thresholds ----------------------------------------------------------------------------

NAN = math.nan
# Usages that quota_max 3 produces, as levels: they sit between float32 values.
THIRDS = [float(k) / 3.0 * 100.0 for k in (1, 2)]
LEVELS = st.sampled_from([NAN, -1.0, 0.0, 10.0, 33.3, *THIRDS, 50.0, 80.0, 95.0, 100.0, 100.5, math.inf])
G = st.sampled_from([0.0, -1.0, 50.0, 80.0, 95.0, 100.0, 120.0, NAN, math.inf])
QMAX = st.sampled_from([3, 3, 10, 10, 7, 1, 100, 2**63 - 1, 0, -1])
REM = st.one_of(st.integers(0, 3), st.integers(-2, 12), st.sampled_from([-(2**63), 2**63 - 1, 1000]))
RENEWS = st.one_of(
    st.tuples(st.just("rel"), st.sampled_from([0, 1, 2, 3, 3600, -1, 2**33])),
    st.tuples(st.just("abs"), st.sampled_from([0, -5, 1])),
)
TKEYS = [0, 1, 2**64 - 1]
TSTEPS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3600.0, -1.0])
# Each key keeps its quota and levels through an example (as a session does), so records
# interact: repeated levels, resets, periods moving by a second or an hour.
KEYCONF = st.tuples(QMAX, st.lists(LEVELS, max_size=4), st.booleans())
RECORD = st.tuples(
    st.integers(0, len(TKEYS) - 1),
    REM,
    RENEWS,
    st.sampled_from([None, None, None, None, True, False]),  # mostly the key's own setting
)
THRESHOLD_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("eval"), RECORD, TSTEPS),
        st.tuples(st.just("eval"), RECORD, TSTEPS),
        st.tuples(st.just("many"), st.lists(RECORD, max_size=6), TSTEPS),
        st.tuples(st.just("forget"), st.sampled_from(TKEYS)),
        st.tuples(
            st.just("load"),
            st.sampled_from(TKEYS),
            st.sampled_from([0, 1, 2**31, 2**40]),
            st.sampled_from([0.0, 33.3, THIRDS[0], 50.0, 80.0]),
        ),
        st.tuples(st.just("purge"), TSTEPS),
    ),
    min_size=5,
    max_size=50,
)


def _renews(spec, now: float) -> int:
    kind, v = spec
    return int(now) + v if kind == "rel" else v


def _run_thresholds(table, start: float, g: float, confs, ops) -> list:
    out = []
    now = start

    def record(rec):  # -> (key, qmax, rem, renews, limits, renewing)
        k, rem, renews, flip = rec
        qmax, limits, renewing = confs[k]
        return TKEYS[k], qmax, rem, _renews(renews, now), limits, renewing if flip is None else flip

    for op in ops:
        kind = op[0]
        if kind == "eval":
            now += op[2]
            key, qmax, rem, renews, limits, renewing = record(op[1])
            out.append(table.evaluate(key, qmax, rem, renews, now, g, limits, renewing))
        elif kind == "many":
            now += op[2]
            recs = [record(r) for r in op[1]]
            flat = [x for r in recs for x in r[4]]
            offs = [0]
            for r in recs:
                offs.append(offs[-1] + len(r[4]))
            cols = [[r[i] for r in recs] for i in range(4)]
            out.append(table.evaluate_many(*cols, now, g, flat, [r[5] for r in recs], offs))
        elif kind == "forget":
            out.append(table.forget(op[1]))
        elif kind == "load":
            out.append(table.load_state(op[1], op[2], op[3]))
        else:
            now += op[1]
            out.append(table.purge(now))
        out.append([table.state(k) for k in TKEYS])
        out.append(len(table))
    return out


@SETTINGS
@given(
    start=st.floats(1e9, 2e9, allow_nan=False),
    g=G,
    confs=st.lists(KEYCONF, min_size=len(TKEYS), max_size=len(TKEYS)),
    ops=THRESHOLD_OPS,
)
def test_threshold_twins_agree(thresholds_twins, start: float, g: float, confs, ops) -> None:
    py, c = thresholds_twins
    want = _run_thresholds(py.ThresholdTable(100), start, g, confs, ops)
    assert _run_thresholds(c.ThresholdTable(100), start, g, confs, ops) == want


I64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@SETTINGS
@given(
    qmax=st.one_of(I64, QMAX),
    rem=st.one_of(I64, REM),
    renews=st.one_of(I64, st.integers(0, 2**32)),
    now=st.one_of(FLOATS.filter(lambda x: x == x), st.floats(0, 2**32)),
    g=st.one_of(FLOATS, G),
    limits=st.lists(st.one_of(FLOATS, LEVELS), max_size=5),
)
def test_evaluate_tyk_twins_agree(thresholds_twins, qmax, rem, renews, now, g, limits) -> None:
    py, c = thresholds_twins
    want = py.evaluate_tyk(qmax, rem, renews, now, g, limits)
    assert c.evaluate_tyk(qmax, rem, renews, now, g, limits) == want


@SETTINGS
@given(
    cap=st.integers(1, 30),
    recs=st.lists(
        st.tuples(st.integers(0, 100), st.integers(0, 10), st.booleans(), st.integers(0, 3)),
        max_size=150,
    ),
)
def test_threshold_capacity_bound(thresholds_mod, cap: int, recs) -> None:
    t = thresholds_mod.ThresholdTable(cap)
    now = 1e9
    for key, rem, renewing, hours in recs:
        now += 60
        renews = int(now) + 3600 * hours + 1
        r = t.evaluate(key, 10, rem, renews, now, 0.0, [50.0, 80.0], renewing)
        assert len(t) <= cap
        if r is not None:
            assert t.state(key) is not None  # the key that just fired is never the victim
