# cython: language_level=3
"""Quota-threshold evaluator, compiled twin of thresholds_py.py (read that file for the rules).

State lives in one malloc'd array of 16-byte slots (key hash, period as uint32, fired level
as float32), open addressing with linear probing and backward-shift deletion, load at most
2/3 (24 bytes per key when full). A period of 0xFFFFFFFF marks an empty slot; real periods
are clamped to 2**32-2. Home slot = fastrange(mix64(key ^ random seed)); as in cooldown_c,
large arrays ask for huge pages and evaluate_many prefetches slots 16 records ahead.

Index safety (boundscheck is off for the package): slot indexes come from fastrange
(< _nslots) or i+1 wrapped at _nslots, and an empty slot always exists (_count <= capacity <
_nslots), so probe loops end. Batch columns are indexed below n after their lengths were
checked against n.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t, uint8_t
from libc.stdlib cimport free
from libc.string cimport memset
from libc.math cimport INFINITY, nextafterf
from cpython.long cimport PyLong_Check
from cpython.number cimport PyNumber_Index

import os

from tykevents._fast cimport _common
from tykevents._fast import _args
from tykevents._fast.thresholds_py import FLOAT32_MAX

cdef uint32_t EMPTY = 0xFFFFFFFF
cdef int64_t PERIOD_MAX = 0xFFFFFFFE
cdef double LEVEL_MAX = 100.0
cdef Py_ssize_t WINDOW = 32
cdef Py_ssize_t AHEAD = 16  # evaluate_many prefetches the home slot this many records ahead


cdef inline float f32_up(double x) noexcept nogil:
    cdef float f = <float>x
    if <double>f < x:
        f = nextafterf(f, INFINITY)
    return f


cdef inline int64_t _i64(object x) except? -1:
    # Strict, as the pure twin: an int (or __index__), never a float.
    if not PyLong_Check(x):
        x = PyNumber_Index(x)
    return <int64_t>x


cdef inline uint64_t _u64(object x) except? 0xFFFFFFFFFFFFFFFF:
    if not PyLong_Check(x):
        x = PyNumber_Index(x)
    return <uint64_t>x


cdef inline double _usage(int64_t qmax, int64_t rem) noexcept nogil:
    # float(qmax - rem) with the exact difference: for rem < 0 it can pass INT64_MAX, but
    # qmax + |rem| <= 2**64 - 1 fits in uint64. Only called with qmax > 0.
    cdef double diff
    if rem >= 0:
        diff = <double>(qmax - rem)
    else:
        diff = <double>(<uint64_t>qmax + <uint64_t>(-(rem + 1)) + 1)
    return diff / <double>qmax * 100.0


cdef inline double _top_level(object limits, double g, double usage, bint use) except? -1.0:
    # Converts every limit (so a bad one raises before any state changes) and returns the
    # highest crossed level, 0 if none. `use` is false when usage is meaningless.
    cdef double top = 0.0
    cdef double t
    if use and g > 0.0 and usage >= g:
        top = g
    for item in limits:
        t = item
        if use and 0.0 < t <= LEVEL_MAX and t != g and usage >= t and t > top:
            top = t
    return top


def evaluate_tyk(quota_max, quota_remaining, quota_renews, double now, double global_limit,
                 trigger_limits):
    """Tyk's checkLimit: (limit, usage) of the trigger that fires, or None."""
    cdef int64_t qmax = _i64(quota_max)
    cdef int64_t rem = _i64(quota_remaining)
    cdef int64_t renews = _i64(quota_renews)
    if now != now:
        raise ValueError("now must not be NaN")
    cdef object limits = trigger_limits
    if type(limits) is not list and type(limits) is not tuple:
        limits = tuple(limits)  # iterated twice below
    cdef double t
    for item in limits:  # every limit must be a number, even past the first match
        t = item
    if qmax <= 0:
        return None
    cdef double usage = _usage(qmax, rem)
    if now > <double>renews:
        return None
    if global_limit > 0.0 and usage >= global_limit:
        return (global_limit, usage)
    for item in limits:
        t = item
        if usage >= t and t != global_limit:
            return (t, usage)
    return None


cdef class ThresholdTable:
    """Once-per-period quota thresholds per key, bounded by `capacity` keys."""

    def __cinit__(self, capacity=1_000_000):
        cdef object cap = _args.capacity(capacity)
        self.capacity = cap
        self._nslots = self.capacity + self.capacity // 2 + 1
        # Every byte 0xFF: period = EMPTY in every slot.
        self._slots = <TSlot*>_common.table_alloc(self._nslots * sizeof(TSlot), 0xFF)
        if self._slots == NULL:
            raise MemoryError(f"cannot allocate a threshold table of {self._nslots} slots")
        self._seed = int.from_bytes(os.urandom(8), "little")
        self._count = 0
        self._last_now = 0.0

    def __dealloc__(self):
        free(self._slots)

    def __len__(self):
        return self._count

    def memory_bytes(self):
        """Bytes of the slot array (the whole C storage)."""
        return self._nslots * <Py_ssize_t>sizeof(TSlot)

    # -- table ----------------------------------------------------------------------------

    cdef inline Py_ssize_t _home(self, uint64_t key) noexcept:
        return <Py_ssize_t>_common.fastrange(_common.mix64(key ^ self._seed), <size_t>self._nslots)

    cdef Py_ssize_t _find(self, uint64_t key) noexcept:
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t i = self._home(key)
        cdef TSlot* s
        while True:
            s = &self._slots[i]
            if s.period == EMPTY:
                return -1
            if s.key == key:
                return i
            i += 1
            if i == n:
                i = 0

    cdef void _insert(self, uint64_t key, uint32_t period, float fired, double now) noexcept:
        # `key` is not stored yet.
        if self._count >= self.capacity:
            self._evict(key, now)
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t i = self._home(key)
        while self._slots[i].period != EMPTY:
            i += 1
            if i == n:
                i = 0
        self._slots[i].key = key
        self._slots[i].period = period
        self._slots[i].fired = fired
        self._count += 1

    cdef void _evict(self, uint64_t key, double now) noexcept:
        # Full table (_count == capacity >= 1): some slot is occupied, so the scan ends.
        # Score: 0 = carries nothing (taken at once), else the period (ends first goes
        # first), non-renewing (period 0) last.
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t i = self._home(key)
        cdef Py_ssize_t victim = -1
        cdef Py_ssize_t scanned = 0
        cdef int64_t score
        cdef int64_t best = 0
        cdef TSlot* s
        while True:
            s = &self._slots[i]
            if s.period != EMPTY:
                if s.fired == 0.0 or (s.period != 0 and <double>s.period + 1.0 < now):
                    victim = i
                    break
                score = s.period if s.period != 0 else (<int64_t>1 << 32)
                if victim < 0 or score < best:
                    victim = i
                    best = score
            scanned += 1
            if scanned >= WINDOW and victim >= 0:
                break
            i += 1
            if i == n:
                i = 0
        self._delete_at(victim)

    cdef void _delete_at(self, Py_ssize_t j) noexcept:
        # Backward-shift deletion (see cooldown_c.pyx).
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t hole = j
        cdef Py_ssize_t k = j
        cdef Py_ssize_t h
        cdef TSlot* slots = self._slots
        while True:
            k += 1
            if k == n:
                k = 0
            if slots[k].period == EMPTY:
                break
            h = self._home(slots[k].key)
            if hole <= k:
                if hole < h <= k:
                    continue
            elif hole < h or h <= k:
                continue
            slots[hole] = slots[k]
            hole = k
        memset(&slots[hole], 0xFF, sizeof(TSlot))
        self._count -= 1

    cdef Py_ssize_t _purge(self, double now) noexcept:
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t start = 0
        while self._slots[start].period != EMPTY:
            start += 1
        cdef Py_ssize_t i = start + 1
        cdef Py_ssize_t steps = 0
        cdef Py_ssize_t removed = 0
        cdef TSlot* s
        if i == n:
            i = 0
        while steps < n:  # from just after an empty slot, as in cooldown_c.purge
            s = &self._slots[i]
            if s.period != EMPTY and (
                s.fired == 0.0 or (s.period != 0 and <double>s.period + 1.0 < now)
            ):
                self._delete_at(i)
                removed += 1
                continue
            i += 1
            if i == n:
                i = 0
            steps += 1
        return removed

    # -- the rule --------------------------------------------------------------------------

    cdef int _step(self, uint64_t key, int64_t qmax, int64_t rem, int64_t renews, double now,
                   double g, double top, double usage, bint renewing) noexcept:
        # Returns 1 if `top` fires. Callers computed `top`/`usage` only when qmax > 0.
        if qmax <= 0:
            return 0
        renewing = renewing and renews > 0
        if renewing and now > <double>renews:
            return 0
        cdef uint32_t period = 0
        if renewing:
            period = <uint32_t>(renews if renews <= PERIOD_MAX else PERIOD_MAX)
        cdef Py_ssize_t i = self._find(key)
        if i < 0:
            if top > 0.0:
                self._insert(key, period, f32_up(top), now)
                return 1
            return 0
        cdef TSlot* s = &self._slots[i]
        cdef int64_t p = s.period
        cdef float fired = s.fired
        if not renewing:
            if p != 0:
                p = 0
                fired = 0.0
            elif usage < fired and f32_up(usage) < fired:
                fired = 0.0
        elif p == 0 or <int64_t>period > p + 1:
            p = period
            fired = 0.0
        elif <int64_t>period + 1 < p:
            return 0  # a record from an earlier period
        s.period = <uint32_t>p
        if top > fired:
            s.fired = f32_up(top)
            return 1
        s.fired = fired
        return 0

    # -- API -------------------------------------------------------------------------------

    def evaluate(self, key_hash, quota_max, quota_remaining, quota_renews, double now,
                 double global_limit, trigger_limits, bint renewing):
        """(limit, usage) of the level that fires now for this key, or None."""
        cdef uint64_t key = _u64(key_hash)
        cdef int64_t qmax = _i64(quota_max)
        cdef int64_t rem = _i64(quota_remaining)
        cdef int64_t renews = _i64(quota_renews)
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        cdef double usage = _usage(qmax, rem) if qmax > 0 else 0.0
        cdef double top = _top_level(trigger_limits, global_limit, usage, qmax > 0)
        self._last_now = now
        if self._step(key, qmax, rem, renews, now, global_limit, top, usage, renewing):
            return (top, usage)
        return None

    def evaluate_many(self, key_hashes, quota_max, quota_remaining, quota_renews, double now,
                      double global_limit, trigger_limits, renewing=True, limit_offsets=None):
        """`evaluate` for n records in order, the loop in C; returns (index, limit, usage)
        for each record that fired (see thresholds_py.ThresholdTable.evaluate_many)."""
        cdef const uint64_t[::1] keys = _args.typed_array(key_hashes, "Q", None, "key_hashes")
        cdef Py_ssize_t n = keys.shape[0]
        cdef const int64_t[::1] qmax = _args.typed_array(quota_max, "q", n, "quota_max")
        cdef const int64_t[::1] rem = _args.typed_array(quota_remaining, "q", n, "quota_remaining")
        cdef const int64_t[::1] renews = _args.typed_array(quota_renews, "q", n, "quota_renews")
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        cdef const uint8_t[::1] flags = _args.flags(renewing, n, "renewing")
        cdef const double[::1] lv = _args.typed_array(trigger_limits, "d", None, "trigger_limits")
        cdef const int64_t[::1] offs
        cdef bint per_record = limit_offsets is not None
        if per_record:
            offs = _args.offsets(limit_offsets, n, lv.shape[0], "limit_offsets")
        self._last_now = now
        cdef list out = []
        cdef Py_ssize_t i, j, lo, hi
        cdef double usage, top, t
        cdef Py_ssize_t ahead = min(AHEAD, n)
        for i in range(ahead):
            _common.prefetch(&self._slots[self._home(keys[i])])
        for i in range(n):  # every column has n items (checked above)
            if i + ahead < n:
                _common.prefetch(&self._slots[self._home(keys[i + ahead])])
            if per_record:
                lo = offs[i]
                hi = offs[i + 1]  # 0 <= lo <= hi <= len(lv) (checked by _args.offsets)
            else:
                lo = 0
                hi = lv.shape[0]
            usage = 0.0
            top = 0.0
            if qmax[i] > 0:
                usage = _usage(qmax[i], rem[i])
                if global_limit > 0.0 and usage >= global_limit:
                    top = global_limit
                for j in range(lo, hi):
                    t = lv[j]
                    if 0.0 < t <= LEVEL_MAX and t != global_limit and usage >= t and t > top:
                        top = t
            if self._step(keys[i], qmax[i], rem[i], renews[i], now, global_limit, top, usage,
                          flags[i]):
                out.append((i, top, usage))
        return out

    def forget(self, key_hash):
        """Drop a key's state; True if there was one."""
        cdef Py_ssize_t i = self._find(_u64(key_hash))
        if i < 0:
            return False
        self._delete_at(i)
        return True

    def state(self, key_hash):
        """(period, fired level) of a key, or None. period 0 = non-renewing."""
        cdef Py_ssize_t i = self._find(_u64(key_hash))
        if i < 0:
            return None
        return (self._slots[i].period, <double>self._slots[i].fired)

    def load_state(self, key_hash, period, double fired_level):
        """Set a key's state, e.g. merged from Redis (replaces the local one)."""
        cdef uint64_t key = _u64(key_hash)
        cdef int64_t p = _i64(period)
        if p < 0:
            raise ValueError(f"period must be >= 0, got {p}")
        if not (0.0 <= fired_level <= FLOAT32_MAX):
            raise ValueError(f"fired_level must be finite and >= 0, got {fired_level!r}")
        if p > PERIOD_MAX:
            p = PERIOD_MAX
        cdef Py_ssize_t i = self._find(key)
        if i < 0:
            self._insert(key, <uint32_t>p, f32_up(fired_level), self._last_now)
        else:
            self._slots[i].period = <uint32_t>p
            self._slots[i].fired = f32_up(fired_level)

    def purge(self, double now):
        """Drop states that carry nothing (see thresholds_py); returns how many."""
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        self._last_now = now
        return self._purge(now)
