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
from libc.stdint cimport int64_t, uint32_t, uint64_t, uint8_t
from libc.string cimport memcpy, memset
from libc.math cimport INFINITY, nextafterf
from cpython.long cimport PyLong_Check
from cpython.number cimport PyNumber_Index

from tykevents._fast._common cimport SlotTable
from tykevents._fast.shared_atomic cimport (atomic_add, cas64, cas128, gate_lock, gate_unlock,
                                           load64, load64_relaxed, read_enter, read_leave)

from tykevents._fast import _args
from tykevents._fast.thresholds_py import FLOAT32_MAX

cdef uint32_t EMPTY = 0xFFFFFFFF
cdef uint64_t EMPTY_WORD = 0xFFFFFFFFFFFFFFFF
cdef int64_t PERIOD_MAX = 0xFFFFFFFE
cdef double LEVEL_MAX = 100.0


cdef struct SSlot:
    uint64_t key
    uint32_t period  # quota_renews of the period, 0 = non-renewing; EMPTY = empty slot
    float fired      # highest level passed (float32, rounded up); 0 = none

ctypedef SSlot Slot
ctypedef uint64_t Key

cdef enum:
    SLOT_FILL = 0xFF


cdef inline bint slot_empty(const Slot* s) noexcept nogil:
    return s.period == EMPTY


cdef inline bint slot_holds(const Slot* s, Key k) noexcept nogil:
    return s.key == k


cdef inline uint64_t slot_word(const Slot* s) noexcept nogil:
    return s.key


cdef inline uint64_t key_word(Key k) noexcept nogil:
    return k


cdef inline bint slot_dead(const Slot* s, double now) noexcept nogil:
    return s.fired == 0.0 or (s.period != 0 and <double>s.period + 1.0 < now)


cdef inline int64_t slot_rank(const Slot* s) noexcept nogil:
    return s.period if s.period != 0 else (<int64_t>1 << 32)


include "_slot_table.pxi"
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


cdef inline float f32_up(double x) noexcept nogil:
    cdef float f = <float>x
    if <double>f < x:
        f = nextafterf(f, INFINITY)
    return f


cdef inline int64_t _i64(object x) except? -1:
    if not PyLong_Check(x):
        x = PyNumber_Index(x)
    return <int64_t>x


cdef inline uint64_t _u64(object x) except? 0xFFFFFFFFFFFFFFFF:
    if not PyLong_Check(x):
        x = PyNumber_Index(x)
    return <uint64_t>x


cdef inline double _usage(int64_t qmax, int64_t rem) noexcept nogil:
    cdef double diff
    if rem >= 0:
        diff = <double>(qmax - rem)
    else:
        diff = <double>(<uint64_t>qmax + <uint64_t>(-(rem + 1)) + 1)
    return diff / <double>qmax * 100.0


cdef inline double _top_level(object limits, double g, double usage, bint use) except? -1.0:
    cdef double top = 0.0
    cdef double t
    if use and g > 0.0 and usage >= g:
        top = g
    for item in limits:
        t = item
        if use and 0.0 < t <= LEVEL_MAX and t != g and usage >= t and t > top:
            top = t
    return top


cdef inline int next_state(uint64_t w, uint32_t period, bint renewing, double top, double usage,
                           uint64_t* out) noexcept nogil:
    # The rule of thresholds_py for a stored state `w`: 1 if `top` fires, 0 if not, -1 for a
    # record of an earlier period (state unchanged). *out receives the new state.
    cdef int64_t p = <uint32_t>w
    cdef float fired = fired_of(w)
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
        return -1
    if top > fired:
        out[0] = pack(<uint32_t>p, f32_up(top))
        return 1
    out[0] = pack(<uint32_t>p, fired)
    return 0


cdef class SharedThresholdTable:
    """ThresholdTable in shared memory: one table for this process and every process it
    forks after creating it."""

    cdef Shared* _sh
    cdef size_t _size
    cdef int _reader
    cdef readonly Py_ssize_t capacity
    cdef object __weakref__

    def __cinit__(self, capacity=1_000_000):
        self._sh = shared_alloc(capacity, SLOT_FILL, &self._size)
        self.capacity = self._sh.capacity
        self._reader = -1
        _tables.add(self)

    @classmethod
    def create(cls, capacity=1_000_000):
        """A table in a new shared mapping; make it before forking the processes that share it."""
        return cls(capacity)

    def __dealloc__(self):
        shared_free(self._sh, self._size)

    def _forked(self):
        self._reader = -1

    def __len__(self):
        return atomic_add(&self._sh.t.count, 0)

    def memory_bytes(self):
        """Bytes of the shared mapping (header and slots)."""
        return self._size

    # -- the rule --------------------------------------------------------------------------

    cdef int _try(self, uint64_t key, uint32_t period, bint renewing, double top,
                  double usage) noexcept:
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
                    r = next_state(w, period, renewing, top, usage, &nw)
                    if r < 0 or nw == w:
                        return 0 if r < 0 else r
                    if cas64(state_word(s), &w, nw):  # on failure w is the new state
                        return r
            i += 1
            if i == n:
                i = 0

    cdef int _locked(self, uint64_t key, uint32_t period, bint renewing, double top,
                     double usage, double now) noexcept:
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
        r = next_state(state_word(s)[0], period, renewing, top, usage, &nw)
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

    cdef int _step(self, uint64_t key, int64_t qmax, int64_t rem, int64_t renews, double now,
                   double g, double top, double usage, bint renewing, int slot) noexcept:
        # The caller holds the read side (slot >= 0) or the gate (slot -2: no reader slot).
        if qmax <= 0:
            return 0
        renewing = renewing and renews > 0
        if renewing and now > <double>renews:
            return 0
        cdef uint32_t period = 0
        if renewing:
            period = <uint32_t>(renews if renews <= PERIOD_MAX else PERIOD_MAX)
        if slot < 0:
            return self._locked(key, period, renewing, top, usage, now)
        cdef int r = self._try(key, period, renewing, top, usage)
        if r >= 0:
            return r
        cdef Shared* sh = self._sh
        read_leave(&sh.gate, slot)  # a full table: insert with the gate held
        if gate_lock(&sh.gate, LOCK_TIMEOUT):
            r = self._locked(key, period, renewing, top, usage, now)
            gate_unlock(&sh.gate)
        else:
            r = 1  # a process is stuck inside an operation: fire, store nothing
        read_enter(&sh.gate, slot)
        return r

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
        self._sh.last_now = now
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)
        cdef int r = self._step(key, qmax, rem, renews, now, global_limit, top, usage, renewing, slot)
        shared_leave(sh, slot)
        return (top, usage) if r else None

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
        else:
            offs = None  # not read
        self._sh.last_now = now
        cdef list out = []
        cdef const uint8_t* words = NULL
        if n:
            words = <const uint8_t*>&keys[0]
        table_prefetch_first(&self._sh.t, words, 8, n)
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)  # for the whole batch
        try:
            self._batch(n, keys, qmax, rem, renews, now, global_limit, lv, offs, per_record,
                        flags, words, out, slot)
        finally:
            shared_leave(sh, slot)
        return out

    cdef int _batch(self, Py_ssize_t n, const uint64_t[::1] keys, const int64_t[::1] qmax,
                    const int64_t[::1] rem, const int64_t[::1] renews, double now,
                    double global_limit, const double[::1] lv, const int64_t[::1] offs,
                    bint per_record, const uint8_t[::1] flags, const uint8_t* words, list out,
                    int slot) except -1:
        cdef Py_ssize_t i, j, lo, hi
        cdef double usage, top, t
        for i in range(n):  # every column has n items (checked above)
            table_prefetch_next(&self._sh.t, words, 8, i, n)
            if per_record:
                lo = offs[i]
                hi = offs[i + 1]
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
                          flags[i], slot):
                out.append((i, top, usage))
        return 0

    def forget(self, key_hash):
        """Drop a key's state; True if there was one."""
        cdef uint64_t key = _u64(key_hash)
        cdef Shared* sh = self._sh
        if not gate_lock(&sh.gate, LOCK_TIMEOUT):
            raise TimeoutError("shared threshold table: the gate stayed busy")
        cdef Py_ssize_t i = table_find(&sh.t, key)
        if i >= 0:
            table_delete_at(&sh.t, i)
        gate_unlock(&sh.gate)
        return i >= 0

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
        cdef int64_t p = _i64(period)
        if p < 0:
            raise ValueError(f"period must be >= 0, got {p}")
        if not (0.0 <= fired_level <= FLOAT32_MAX):
            raise ValueError(f"fired_level must be finite and >= 0, got {fired_level!r}")
        if p > PERIOD_MAX:
            p = PERIOD_MAX
        cdef uint64_t w = pack(<uint32_t>p, f32_up(fired_level))
        cdef Shared* sh = self._sh
        if not gate_lock(&sh.gate, LOCK_TIMEOUT):
            raise TimeoutError("shared threshold table: the gate stayed busy")
        cdef Py_ssize_t i = table_find(&sh.t, key)
        if i < 0:
            self._insert(key, w, sh.last_now)
        else:
            state_word(table_slot(&sh.t, i))[0] = w
        gate_unlock(&sh.gate)

    def purge(self, double now):
        """Drop states that carry nothing (see thresholds_py); returns how many (0 when
        another process kept the table busy past the timeout: the next purge does it)."""
        if now - now != 0.0:
            raise ValueError(f"now must be finite, got {now!r}")
        cdef Shared* sh = self._sh
        sh.last_now = now
        if not gate_lock(&sh.gate, LOCK_TIMEOUT):
            return 0
        cdef Py_ssize_t removed = table_purge(&sh.t, now)
        gate_unlock(&sh.gate)
        return removed
