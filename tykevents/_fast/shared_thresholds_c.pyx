# cython: language_level=3
"""Quota-threshold table shared by forked processes, compiled twin of shared_thresholds_py.py
(read that file; the rule is thresholds_py.py's).

The slot is thresholds_c's (64-bit key hash, then one 64-bit state word: period uint32 and
fired level float32; all bytes 0xFF = empty), in shared memory (shared_table.pxi). On the
read side of the gate, a key's first fire claims an empty slot with one 16-byte CAS, and every
later step is a CAS of the state word from the state it read to the state the rule gives: of
several processes that see a level crossed at once, exactly one CAS moves `fired` past it, so
that level fires once. Inserting into a full table, forget, load_state and purge take the
gate exclusively.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from tykevents._fast._common cimport SlotTable
from tykevents._fast.shared_atomic cimport (atomic_add, cas64, cas128, gate_lock, gate_unlock,
                                           load64, load64_relaxed, read_enter, read_leave)

cdef uint64_t EMPTY_WORD = 0xFFFFFFFFFFFFFFFF


cdef struct SSlot:
    uint64_t key
    uint32_t period  # quota_renews of the period, 0 = non-renewing; EMPTY = empty slot
    float fired      # highest level passed (float32, rounded up); 0 = none

ctypedef SSlot Slot

include "_thresholds_rule.pxi"
include "shared_table.pxi"


cdef inline uint64_t* state_word(Slot* s) noexcept nogil:
    return <uint64_t*>&s.period  # period and fired: bytes 8..15, 8-aligned


cdef inline uint64_t pack(uint32_t period, float fired) noexcept nogil:
    cdef uint32_t bits
    memcpy(&bits, &fired, 4)
    return <uint64_t>period | (<uint64_t>bits << 32)


cdef inline float fired_of(uint64_t w) noexcept nogil:
    cdef uint32_t bits = <uint32_t>(w >> 32)
    cdef float f
    memcpy(&f, &bits, 4)
    return f


cdef inline int next_state(uint64_t w, uint32_t period, double top, double usage,
                           uint64_t* out) noexcept nogil:
    # next_level on a packed state word: *out receives the new state.
    cdef int64_t p = <uint32_t>w
    cdef float fired = fired_of(w)
    cdef int r = next_level(&p, &fired, period, top, usage)
    out[0] = pack(<uint32_t>p, fired)
    return r


cdef class SharedThresholdTable(_SharedBase):
    """ThresholdTable in shared memory: one table for this process and every process it
    forks after creating it."""

    # -- the rule --------------------------------------------------------------------------

    cdef int _try(self, uint64_t key, uint32_t period, double top, double usage) noexcept:
        # Read side. 1 fires, 0 not, -1: needs the gate exclusively (a full table).
        cdef SlotTable* t = &self._sh.t
        cdef Py_ssize_t n = t.nslots
        cdef Py_ssize_t i = table_home(t, key)
        cdef Slot* s
        cdef uint64_t w, nw
        cdef int r
        while True:
            s = table_slot(t, i)
            w = load64(state_word(s))
            if w == EMPTY_WORD:
                if top <= 0.0:
                    return 0  # only a fire creates state
                if atomic_add(&t.count, 1) >= self.capacity:
                    atomic_add(&t.count, -1)
                    return -1
                if cas128(s, EMPTY_WORD, EMPTY_WORD, key, pack(period, f32_up(top))):
                    return 1
                atomic_add(&t.count, -1)
                continue  # claimed by another process meanwhile: look at it again
            if load64_relaxed(&s.key) == key:
                while True:
                    r = next_state(w, period, top, usage, &nw)
                    if r < 0 or nw == w:
                        return 0 if r < 0 else r
                    if cas64(state_word(s), &w, nw):  # on failure w is the new state
                        return r
            i += 1
            if i == n:
                i = 0

    cdef int _locked(self, uint64_t key, uint32_t period, double top, double usage,
                     double now) noexcept:
        # Exclusive: the single-process ThresholdTable._step.
        cdef SlotTable* t = &self._sh.t
        cdef Py_ssize_t i = table_find(t, key)
        cdef uint64_t nw
        cdef int r
        if i < 0:
            if top <= 0.0:
                return 0
            self._insert(key, pack(period, f32_up(top)), now)
            return 1
        cdef Slot* s = table_slot(t, i)
        r = next_state(state_word(s)[0], period, top, usage, &nw)
        if r < 0:
            return 0
        state_word(s)[0] = nw
        return r

    cdef void _insert(self, uint64_t key, uint64_t state, double now) noexcept:
        # Exclusive; `key` is not stored yet.
        cdef SlotTable* t = &self._sh.t
        if t.count >= self.capacity:
            table_evict(t, key, now)
        cdef Slot* s = table_slot(t, table_empty_slot(t, key))
        s.key = key
        state_word(s)[0] = state
        t.count += 1

    cdef int _step(self, uint64_t key, int64_t qmax, int64_t renews, double now, double top,
                   double usage, bint renewing, int slot) noexcept:
        # The caller holds the read side (slot >= 0) or the gate (slot -2: no reader slot).
        cdef int64_t period = step_period(qmax, renews, now, renewing)
        if period < 0:
            return 0
        if slot < 0:
            return self._locked(key, <uint32_t>period, top, usage, now)
        cdef int r = self._try(key, <uint32_t>period, top, usage)
        if r >= 0:
            return r
        cdef Shared* sh = self._sh
        read_leave(&sh.gate, slot)  # a full table: insert with the gate held
        if gate_lock(&sh.gate, LOCK_TIMEOUT):
            r = self._locked(key, <uint32_t>period, top, usage, now)
            gate_unlock(&sh.gate)
        else:
            r = 1  # a process is stuck inside an operation: fire, store nothing
        read_enter(&sh.gate, slot)
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
        self._sh.last_now = now
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)
        cdef int r = self._step(key, qmax, renews, now, top, usage, renewing, slot)
        shared_leave(sh, slot)
        return (top, usage) if r else None

    def evaluate_many(self, key_hashes, quota_max, quota_remaining, quota_renews, double now,
                      double global_limit, trigger_limits, renewing=True, limit_offsets=None):
        """`evaluate` for n records in order, the loop in C; returns (index, limit, usage)
        for each record that fired (see thresholds_py.ThresholdTable.evaluate_many)."""
        cdef _Batch b = _Batch(key_hashes, quota_max, quota_remaining, quota_renews, now,
                               trigger_limits, renewing, limit_offsets)
        self._sh.last_now = now
        cdef list out = []
        table_prefetch_first(&self._sh.t, b.words, 8, b.n)
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)  # for the whole batch
        try:
            self._batch(b, now, global_limit, out, slot)
        finally:
            shared_leave(sh, slot)
        return out

    cdef int _batch(self, _Batch b, double now, double global_limit, list out,
                    int slot) except -1:
        cdef Py_ssize_t i, n = b.n
        cdef double usage, top
        for i in range(n):  # every column has n items (checked by _Batch)
            table_prefetch_next(&self._sh.t, b.words, 8, i, n)
            top = b.top(i, global_limit, &usage)
            if self._step(b.keys[i], b.qmax[i], b.renews[i], now, top, usage, b.flags[i], slot):
                out.append((i, top, usage))
        return 0

    def forget(self, key_hash):
        """Drop a key's state; True if there was one."""
        return shared_delete(self._sh, _u64(key_hash), "threshold")

    def state(self, key_hash):
        """(period, fired level) of a key, or None. period 0 = non-renewing."""
        cdef uint64_t key = _u64(key_hash)
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)
        cdef Py_ssize_t i = table_find(&sh.t, key)
        cdef uint64_t w = load64(state_word(table_slot(&sh.t, i))) if i >= 0 else EMPTY_WORD
        shared_leave(sh, slot)
        if w == EMPTY_WORD:
            return None
        return (<uint32_t>w, <double>fired_of(w))

    def load_state(self, key_hash, period, double fired_level):
        """Set a key's state, e.g. merged from Redis (replaces the stored one)."""
        cdef uint64_t key = _u64(key_hash)
        cdef uint32_t p
        _check_state(period, fired_level, &p)
        cdef uint64_t w = pack(<uint32_t>p, f32_up(fired_level))
        cdef Shared* sh = self._sh
        shared_lock(sh, "threshold")
        cdef Py_ssize_t i = table_find(&sh.t, key)
        if i < 0:
            self._insert(key, w, sh.last_now)
        else:
            state_word(table_slot(&sh.t, i))[0] = w
        gate_unlock(&sh.gate)

    def purge(self, double now):
        """Drop states that carry nothing (see thresholds_py); returns how many (0 when
        another process kept the table busy past the timeout: the next purge does it)."""
        _check_now(now)
        cdef Shared* sh = self._sh
        sh.last_now = now
        if not gate_lock(&sh.gate, LOCK_TIMEOUT):
            return 0
        cdef Py_ssize_t removed = table_purge(&sh.t, now)
        gate_unlock(&sh.gate)
        return removed
