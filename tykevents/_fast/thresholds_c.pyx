# cython: language_level=3
"""Quota-threshold evaluator, compiled twin of thresholds_py.py (read that file for the rules).

State lives in the slot table of _slot_table.pxi (16-byte slots, open addressing, 24 bytes
per key when full, prefetching batches); this file gives it its slot and the rule. A slot
holds the key hash, the period as uint32 and the fired level as float32. A period of
0xFFFFFFFF marks an empty slot; real periods are clamped to 2**32-2. Batch columns are
indexed below n after their lengths were checked against n (boundscheck is off).
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t, uint8_t
from libc.math cimport INFINITY, nextafterf
from cpython.long cimport PyLong_Check
from cpython.number cimport PyNumber_Index

from tykevents._fast import _args
from tykevents._fast.thresholds_py import FLOAT32_MAX

cdef uint32_t EMPTY = 0xFFFFFFFF
cdef int64_t PERIOD_MAX = 0xFFFFFFFE
cdef double LEVEL_MAX = 100.0


# -- the slot, as _slot_table.pxi asks for it ----------------------------------------------

ctypedef TSlot Slot
ctypedef uint64_t Key

cdef enum:
    SLOT_FILL = 0xFF  # every byte 0xFF: period EMPTY


cdef inline bint slot_empty(const Slot* s) noexcept nogil:
    return s.period == EMPTY


cdef inline bint slot_holds(const Slot* s, Key k) noexcept nogil:
    return s.key == k


cdef inline uint64_t slot_word(const Slot* s) noexcept nogil:
    return s.key


cdef inline uint64_t key_word(Key k) noexcept nogil:
    return k


cdef inline bint slot_dead(const Slot* s, double now) noexcept nogil:
    # Carries nothing: nothing fired, or a renewing period that ended more than 1 s ago.
    return s.fired == 0.0 or (s.period != 0 and <double>s.period + 1.0 < now)


cdef inline int64_t slot_rank(const Slot* s) noexcept nogil:
    # The period that ends first goes first; non-renewing ones (period 0) last.
    return s.period if s.period != 0 else (<int64_t>1 << 32)


include "_slot_table.pxi"


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
        self.capacity = table_init(&self._t, capacity, "threshold")
        self._last_now = 0.0

    def __dealloc__(self):
        table_dealloc(&self._t)

    def __len__(self):
        return self._t.count

    def memory_bytes(self):
        """Bytes of the slot array (the whole C storage)."""
        return table_bytes(&self._t)

    # -- the rule --------------------------------------------------------------------------

    cdef void _insert(self, uint64_t key, uint32_t period, float fired, double now) noexcept:
        # `key` is not stored yet.
        if self._t.count >= self.capacity:
            table_evict(&self._t, key, now)
        cdef TSlot* s = table_slot(&self._t, table_empty_slot(&self._t, key))
        s.key = key
        s.period = period
        s.fired = fired
        self._t.count += 1

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
        cdef Py_ssize_t i = table_find(&self._t, key)
        if i < 0:
            if top > 0.0:
                self._insert(key, period, f32_up(top), now)
                return 1
            return 0
        cdef TSlot* s = table_slot(&self._t, i)
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
        cdef const uint8_t* words = NULL
        if n:
            words = <const uint8_t*>&keys[0]
        table_prefetch_first(&self._t, words, 8, n)
        for i in range(n):  # every column has n items (checked above)
            table_prefetch_next(&self._t, words, 8, i, n)
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
        cdef Py_ssize_t i = table_find(&self._t, _u64(key_hash))
        if i < 0:
            return False
        table_delete_at(&self._t, i)
        return True

    def state(self, key_hash):
        """(period, fired level) of a key, or None. period 0 = non-renewing."""
        cdef Py_ssize_t i = table_find(&self._t, _u64(key_hash))
        if i < 0:
            return None
        cdef TSlot* s = table_slot(&self._t, i)
        return (s.period, <double>s.fired)

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
        cdef Py_ssize_t i = table_find(&self._t, key)
        cdef TSlot* s
        if i < 0:
            self._insert(key, <uint32_t>p, f32_up(fired_level), self._last_now)
        else:
            s = table_slot(&self._t, i)
            s.period = <uint32_t>p
            s.fired = f32_up(fired_level)

    def purge(self, double now):
        """Drop states that carry nothing (see thresholds_py); returns how many."""
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        self._last_now = now
        return table_purge(&self._t, now)
