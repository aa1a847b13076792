"""Quota-threshold evaluator, pure-Python twin. This file is the specification; the compiled
twin (thresholds_c.pyx) must behave the same through this API.

Two evaluators:

`evaluate_tyk` is Tyk's checkLimit (docs/monitor.md, "The rule" and "Differences from
Tyk"), stateless: no fire when quota_max <= 0 or
the renewal time has passed (also for non-renewing quotas, which Tyk therefore never
monitors); else the global limit if it is > 0 and reached, else the first trigger limit in
array order that is reached and differs from the global one. Limits are not validated.

`ThresholdTable.evaluate` is what tykevents does instead (docs/monitor.md, "The rule"): each
level fires once per key per quota period, the highest crossed level first.
  - usage = float(max - remaining) / float(max) * 100 (exact integer difference, as Go
    with int64 when nothing overflows); quota_max <= 0 never fires. remaining > max gives a
    negative usage (no fire); remaining < 0 gives usage > 100 (fires the top levels).
  - A quota renews when `renewing` is true and quota_renews > 0. A renewing record whose
    renewal time has passed (now > quota_renews) is stale and ignored, as in Tyk.
    Non-renewing quotas are monitored (Tyk never fires for them: its K9).
  - Levels: global_limit if > 0 (no upper bound, as in Tyk), plus every trigger limit that
    is finite, 0 < t <= 100 and != global_limit. Other entries (NaN, <= 0, > 100) are
    ignored, not errors: they come from session data that an operator typed.
  - State per key: (period, fired). `fired` is the highest level passed in this period;
    every level <= fired counts as passed. A record fires the highest crossed level L
    (usage >= L) if L > fired, and then fired = L. This equals "fire the highest crossed
    level not yet fired, mark the lower ones passed", with a few bytes per key.
  - `fired` is kept as a float32, rounded up: levels closer together than float32
    resolution (about 1e-7 relative) count as one level. The comparisons stay exact in
    the sense that a level never re-fires by rounding.
  - Period of a renewing quota: quota_renews (clamped to 2**32-2, the year 2106). Tyk
    derives quota_renews from the quota key's TTL at second granularity, so one period can
    show two neighbouring values; a record starts a new period only when its quota_renews
    is more than 1 s after the stored one (so 1-second quota periods are not told apart).
    A record whose quota_renews is more than 1 s before the stored one belongs to an
    earlier period (late or reordered) and is ignored.
  - Non-renewing quotas have period 0 forever; their state resets when usage drops below
    the fired level (an admin reset the quota), compared at float32 resolution, so the
    levels re-arm. Switching between renewing and non-renewing resets the state.
  - Only a fire creates state; a reset that leaves nothing fired keeps the entry (it still
    holds the period) until purge() or eviction removes it.

Capacity. At most `capacity` keys are kept. When a new key must be stored in a full table,
states that carry nothing are dropped first (nothing fired, or a renewing period that ended
more than 1 s ago), then live ones. Dropping a live state can re-fire each of that key's
passed levels at most once more (the state is rebuilt on that fire), never lose a fire.
  - pure twin: purge(now); if that frees less than capacity/64 entries, drop the oldest
    created states (dict order) until capacity/64 are free (_dict_table.py).
  - compiled twin: drop one state from the probe neighbourhood (32 slots) of the new key:
    the first one that carries nothing, else the one whose period ends first, non-renewing
    ones last.
The `now` used by load_state's eviction is the `now` of the latest evaluate/purge call.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Sequence

from . import _args
from ._dict_table import DictTable

LEVEL_MAX = 100.0
PERIOD_MAX = (1 << 32) - 2
FLOAT32_MAX = 3.4028234663852886e38
MAX_CAPACITY = _args.MAX_CAPACITY

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")


def f32_up(x: float) -> float:
    """The smallest float32 >= x (|x| <= FLOAT32_MAX), as a float."""
    f: float = _F32.unpack(_F32.pack(x))[0]
    if f < x:
        bits = _U32.unpack(_F32.pack(f))[0]
        # f >= +0.0 steps away from zero, f < 0 towards it (f == -0.0 cannot be < x here).
        f = _F32.unpack(_U32.pack(bits + 1 if bits < 0x80000000 else bits - 1))[0]
    return f


def _usage(quota_max: int, quota_remaining: int) -> float:
    return float(quota_max - quota_remaining) / float(quota_max) * 100.0


def _limits(trigger_limits: Iterable[object]) -> list[float]:
    return [_args.real(t, "trigger limit") for t in trigger_limits]


def evaluate_tyk(
    quota_max: int,
    quota_remaining: int,
    quota_renews: int,
    now: float,
    global_limit: float,
    trigger_limits: Iterable[float],
) -> tuple[float, float] | None:
    """Tyk's checkLimit: (limit, usage) of the trigger that fires, or None."""
    now = _args.real(now, "now")
    g = _args.real(global_limit, "global_limit")
    qmax = _args.i64(quota_max, "quota_max")
    rem = _args.i64(quota_remaining, "quota_remaining")
    renews = _args.i64(quota_renews, "quota_renews")
    if now != now:
        raise ValueError("now must not be NaN")
    limits = _limits(trigger_limits)
    if qmax <= 0:
        return None
    usage = _usage(qmax, rem)
    if now > float(renews):
        return None
    if g > 0.0 and usage >= g:
        return (g, usage)
    for t in limits:
        if usage >= t and t != g:
            return (t, usage)
    return None


class ThresholdTable(DictTable[int, tuple[int, float]]):  # key hash -> (period, fired)
    """Once-per-period quota thresholds per key, bounded by `capacity` keys."""

    __slots__ = ("_last_now",)

    def __init__(self, capacity: int = 1_000_000) -> None:
        super().__init__(capacity)
        self._last_now = 0.0

    def memory_bytes(self) -> int:
        """An estimate: the dict plus its key and (period, fired) objects."""
        n = len(self._d)
        per = 0
        if n:
            k, v = next(iter(self._d.items()))
            per = sys.getsizeof(k) + sys.getsizeof(v) + sys.getsizeof(v[0]) + sys.getsizeof(v[1])
        return sys.getsizeof(self._d) + n * per

    # -- the rule --------------------------------------------------------------------------

    def _evaluate(
        self,
        key: int,
        qmax: int,
        rem: int,
        renews: int,
        now: float,
        g: float,
        limits: Sequence[float],
        renewing: bool,
    ) -> tuple[float, float] | None:
        if qmax <= 0:
            return None
        usage = _usage(qmax, rem)
        renewing = renewing and renews > 0
        if renewing and now > float(renews):
            return None
        top = 0.0  # the highest crossed level; 0 = none (every level is > 0)
        if g > 0.0 and usage >= g:
            top = g
        for t in limits:
            if 0.0 < t <= LEVEL_MAX and t != g and usage >= t and t > top:
                top = t
        period = (renews if renews <= PERIOD_MAX else PERIOD_MAX) if renewing else 0
        d = self._d
        st = d.get(key)
        if st is None:
            if top > 0.0:
                if len(d) >= self._capacity:
                    self._make_room(now)
                d[key] = (period, f32_up(top))
                return (top, usage)
            return None
        p, fired = st
        if not renewing:
            if p != 0:
                p, fired = 0, 0.0
            elif usage < fired and f32_up(usage) < fired:
                fired = 0.0
        elif p == 0 or period > p + 1:
            p, fired = period, 0.0
        elif period + 1 < p:
            return None  # a record from an earlier period
        if top > fired:
            d[key] = (p, f32_up(top))
            return (top, usage)
        if (p, fired) != st:
            d[key] = (p, fired)
        return None

    def _dead_keys(self, now: float) -> list[int]:
        # States that carry nothing: nothing fired, or a period that ended over 1 s ago.
        return [k for k, (p, fired) in self._d.items() if fired == 0.0 or (p != 0 and p + 1.0 < now)]

    # -- API -------------------------------------------------------------------------------

    def evaluate(
        self,
        key_hash: int,
        quota_max: int,
        quota_remaining: int,
        quota_renews: int,
        now: float,
        global_limit: float,
        trigger_limits: Iterable[float],
        renewing: bool,
    ) -> tuple[float, float] | None:
        """(limit, usage) of the level that fires now for this key, or None."""
        now = _args.real(now, "now")
        g = _args.real(global_limit, "global_limit")
        renewing = bool(renewing)
        key = _args.u64(key_hash, "key_hash")
        qmax = _args.i64(quota_max, "quota_max")
        rem = _args.i64(quota_remaining, "quota_remaining")
        renews = _args.i64(quota_renews, "quota_renews")
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        limits = _limits(trigger_limits)
        self._last_now = now
        return self._evaluate(key, qmax, rem, renews, now, g, limits, renewing)

    def evaluate_many(
        self,
        key_hashes: Sequence[int],
        quota_max: Sequence[int],
        quota_remaining: Sequence[int],
        quota_renews: Sequence[int],
        now: float,
        global_limit: float,
        trigger_limits: Sequence[float],
        renewing: bool | Sequence[bool] = True,
        limit_offsets: Sequence[int] | None = None,
    ) -> list[tuple[int, float, float]]:
        """`evaluate` for n records in order; returns (index, limit, usage) for each record
        that fired. Columns are arrays (array('Q') keys, array('q') quota fields; other
        sequences are converted). `renewing`: one bool for all or one per record.
        `trigger_limits`: one list for every record, or, with `limit_offsets` (n+1 offsets),
        a flat array where record i owns trigger_limits[off[i]:off[i+1]]. All inputs are
        checked before any record is evaluated."""
        now = _args.real(now, "now")
        g = _args.real(global_limit, "global_limit")
        keys = _args.typed_array(key_hashes, "Q", None, "key_hashes")
        n = len(keys)
        qmax = _args.typed_array(quota_max, "q", n, "quota_max")
        rem = _args.typed_array(quota_remaining, "q", n, "quota_remaining")
        renews = _args.typed_array(quota_renews, "q", n, "quota_renews")
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        flags = _args.flags(renewing, n, "renewing")
        lv = _args.typed_array(trigger_limits, "d", None, "trigger_limits")
        offs = None
        if limit_offsets is not None:
            offs = _args.offsets(limit_offsets, n, len(lv), "limit_offsets")
        self._last_now = now
        out = []
        ev = self._evaluate
        shared = lv.tolist()
        for i in range(n):
            limits = shared if offs is None else shared[offs[i] : offs[i + 1]]
            r = ev(keys[i], qmax[i], rem[i], renews[i], now, g, limits, flags[i] == 1)
            if r is not None:
                out.append((i, r[0], r[1]))
        return out

    def forget(self, key_hash: int) -> bool:
        """Drop a key's state; True if there was one."""
        return self._d.pop(_args.u64(key_hash, "key_hash"), None) is not None

    def state(self, key_hash: int) -> tuple[int, float] | None:
        """(period, fired level) of a key, or None. period 0 = non-renewing."""
        return self._d.get(_args.u64(key_hash, "key_hash"))

    def load_state(self, key_hash: int, period: int, fired_level: float) -> None:
        """Set a key's state, e.g. merged from Redis (it replaces the local one; merge by
        reading state() first). fired_level is rounded up to float32 as on a fire."""
        fired = _args.real(fired_level, "fired_level")
        key = _args.u64(key_hash, "key_hash")
        p = _args.i64(period, "period")
        if p < 0:
            raise ValueError(f"period must be >= 0, got {p}")
        if not 0.0 <= fired <= FLOAT32_MAX:
            raise ValueError(f"fired_level must be finite and >= 0, got {fired!r}")
        d = self._d
        if key not in d and len(d) >= self._capacity:
            self._make_room(self._last_now)
        d[key] = (p if p <= PERIOD_MAX else PERIOD_MAX, f32_up(fired))

    def purge(self, now: float) -> int:
        """Drop states that carry nothing (see the module doc); returns how many."""
        now = _args.real(now, "now")
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        self._last_now = now
        return self._purge(now)
