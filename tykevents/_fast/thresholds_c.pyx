# cython: language_level=3
"""Quota-threshold evaluator, compiled twin of thresholds_py.py (read that file for the rules).

State lives in the slot table of _slot_table.pxi (16-byte slots, open addressing, 24 bytes
per key when full, prefetching batches); _thresholds_rule.pxi, shared with
shared_thresholds_c.pyx, gives it its slot and holds the rule. A slot holds the key hash, the
period as uint32 and the fired level as float32. A period of 0xFFFFFFFF marks an empty slot;
real periods are clamped to 2**32-2. Batch columns are indexed below n after their lengths
were checked against n (boundscheck is off).
"""
from tykevents._fast._common cimport SlotTable

ctypedef TSlot Slot

include "_thresholds_rule.pxi"


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

    cdef int _step(self, uint64_t key, int64_t qmax, int64_t renews, double now, double top,
                   double usage, bint renewing) noexcept:
        # Returns 1 if `top` fires. Callers computed `top`/`usage` only when qmax > 0.
        cdef int64_t period = step_period(qmax, renews, now, renewing)
        if period < 0:
            return 0
        cdef Py_ssize_t i = table_find(&self._t, key)
        if i < 0:
            if top > 0.0:
                self._insert(key, <uint32_t>period, f32_up(top), now)
                return 1
            return 0
        cdef TSlot* s = table_slot(&self._t, i)
        cdef int64_t p = s.period
        cdef float fired = s.fired
        cdef int r = next_level(&p, &fired, <uint32_t>period, top, usage)
        if r < 0:
            return 0  # a record from an earlier period
        s.period = <uint32_t>p
        s.fired = fired
        return r

    # -- API -------------------------------------------------------------------------------

    def evaluate(self, key_hash, quota_max, quota_remaining, quota_renews, double now,
                 double global_limit, trigger_limits, bint renewing):
        """(limit, usage) of the level that fires now for this key, or None."""
        cdef uint64_t key = 0
        cdef int64_t qmax = 0, renews = 0
        cdef double usage = 0.0
        cdef double top = _one(key_hash, quota_max, quota_remaining, quota_renews, now,
                               global_limit, trigger_limits, &key, &qmax, &renews, &usage)
        self._last_now = now
        if self._step(key, qmax, renews, now, top, usage, renewing):
            return (top, usage)
        return None

    def evaluate_many(self, key_hashes, quota_max, quota_remaining, quota_renews, double now,
                      double global_limit, trigger_limits, renewing=True, limit_offsets=None):
        """`evaluate` for n records in order, the loop in C; returns (index, limit, usage)
        for each record that fired (see thresholds_py.ThresholdTable.evaluate_many)."""
        cdef _Batch b = _Batch(key_hashes, quota_max, quota_remaining, quota_renews, now,
                               trigger_limits, renewing, limit_offsets)
        self._last_now = now
        cdef list out = []
        cdef Py_ssize_t i, n = b.n
        cdef double usage, top
        table_prefetch_first(&self._t, b.words, 8, n)
        for i in range(n):  # every column has n items (checked by _Batch)
            table_prefetch_next(&self._t, b.words, 8, i, n)
            top = b.top(i, global_limit, &usage)
            if self._step(b.keys[i], b.qmax[i], b.renews[i], now, top, usage, b.flags[i]):
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
        cdef uint32_t p
        _check_state(period, fired_level, &p)
        cdef Py_ssize_t i = table_find(&self._t, key)
        cdef TSlot* s
        if i < 0:
            self._insert(key, p, f32_up(fired_level), self._last_now)
        else:
            s = table_slot(&self._t, i)
            s.period = p
            s.fired = f32_up(fired_level)

    def purge(self, double now):
        """Drop states that carry nothing (see thresholds_py); returns how many."""
        _check_now(now)
        self._last_now = now
        return table_purge(&self._t, now)
