# cython: language_level=3
"""Cooldown table shared by forked processes, compiled twin of shared_cooldown_py.py (read
that file for the rules; the time rules are cooldown_py.py's).

The slot is cooldown_c's (96-bit key, 32-bit expiry tick, expiry 0 = empty), in shared
memory (shared_table.pxi). On the read side of the gate, acquire() claims an empty slot with
one 16-byte CAS (key and expiry together) and re-arms an expired one with a CAS on its expiry
word: of two processes acquiring one digest at once, exactly one CAS succeeds and the other
sees its result. A full table, a release, purge and a rebase take the gate exclusively.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memset
from cpython.bytes cimport PyBytes_FromStringAndSize

from tykevents._fast._common cimport SlotTable
from tykevents._fast.shared_atomic cimport (atomic_add, cas32, cas128, gate_lock, gate_unlock,
                                           load32, load32_relaxed, load64_relaxed, pause,
                                           read_enter, read_leave, store32)


cdef struct SSlot:
    uint64_t hi   # digest bytes 0..7
    uint32_t lo   # digest bytes 8..11
    uint32_t exp  # expiry tick; 0 = empty slot

ctypedef SSlot Slot

include "_cooldown_rule.pxi"
include "shared_table.pxi"


cdef class SharedCooldownTable(_SharedBase):
    """CooldownTable in shared memory: one table for this process and every process it forks
    after creating it."""

    # -- time ---------------------------------------------------------------------------

    cdef double _now_ticks(self, double now) noexcept:
        cdef Shared* sh = self._sh
        cdef uint32_t state = load32(&sh.base_state)
        cdef unsigned spins = 0
        if state != 2:
            state = 0
            if cas32(&sh.base_state, &state, 1):  # the first `now` of any process sets it
                sh.base = now - HEADROOM / TICKS
                store32(&sh.base_state, 2)
            else:
                while load32(&sh.base_state) != 2:
                    pause(spins)
                    spins += 1
        return (now - sh.base) * TICKS

    # -- operations -----------------------------------------------------------------------

    cdef int _try(self, Key k, double now, double ttl) noexcept:
        # Read side. 1 fire, 0 suppressed, -1: needs the gate exclusively (full, rebase).
        cdef SlotTable* t = &self._sh.t
        cdef double now_t = (now - self._sh.base) * TICKS
        cdef Py_ssize_t n = t.nslots
        cdef Py_ssize_t i = table_home(t, k.hi)
        cdef Slot* s
        cdef uint32_t e, exp
        cdef unsigned spins = 0
        while True:
            s = table_slot(t, i)
            e = load32(&s.exp)
            if e == 0:
                exp = expiry_tick(self._sh.base, now, ttl)
                if exp == 0:
                    return -1
                if atomic_add(&t.count, 1) >= self.capacity:
                    atomic_add(&t.count, -1)
                    return -1
                if cas128(s, 0, 0, k.hi, <uint64_t>k.lo | (<uint64_t>exp << 32)):
                    return 1
                atomic_add(&t.count, -1)
                continue  # claimed by another process meanwhile: look at it again
            if load64_relaxed(&s.hi) == k.hi and load32_relaxed(&s.lo) == k.lo:
                while True:
                    if <double>e > now_t:
                        return 0
                    exp = expiry_tick(self._sh.base, now, ttl)
                    if exp == 0:
                        return -1
                    if cas32(&s.exp, &e, exp):  # re-arm; on failure e is the new expiry
                        return 1
            i += 1
            if i == n:
                i = 0

    cdef int _locked(self, Key k, double now, double ttl) noexcept:
        # Exclusive: the single-process acquire (after a rebase if now+ttl needs one).
        cdef Shared* sh = self._sh
        if expiry_tick(sh.base, now, ttl) == 0:
            sh.base = rebase(&sh.t, sh.base, now)
        return acquire_in(&sh.t, self.capacity, k, sh.base, now, ttl)

    cdef int _acquire(self, const uint8_t* d, double now, double ttl, int slot) noexcept:
        # The caller holds the read side (slot >= 0) or the gate (slot -2: no reader slot),
        # and fixed the time base.
        if ttl <= 0.0:
            return 1
        cdef Key k = digest_key(d)
        if slot < 0:
            return self._locked(k, now, ttl)
        cdef int r = self._try(k, now, ttl)
        if r >= 0:
            return r
        cdef Shared* sh = self._sh
        read_leave(&sh.gate, slot)  # a full table or a rebase: with the gate held
        if gate_lock(&sh.gate, LOCK_TIMEOUT):
            r = self._locked(k, now, ttl)
            gate_unlock(&sh.gate)
        else:
            r = 1  # a process is stuck inside an operation: fire, store nothing
        read_enter(&sh.gate, slot)
        return r

    def acquire(self, digest, double now, double ttl):
        """True if the caller may fire: the key is absent or expired. With ttl > 0 the key
        is then armed until now+ttl in the same call; with ttl <= 0 nothing is recorded."""
        cdef const uint8_t* d = _digest_ptr(digest)
        _check_now(now)
        ttl = _check_ttl(ttl)
        self._now_ticks(now)
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)
        cdef int r = self._acquire(d, now, ttl, slot)
        shared_leave(sh, slot)
        return r == 1

    def acquire_many(self, digests, double now, ttls):
        """`acquire` for concatenated 16-byte digests, in order; returns one byte per digest
        (1 = fire). `ttls`: one ttl for all, or one per digest. Inputs are checked first."""
        cdef _Batch b = _Batch(digests, now, ttls)
        cdef Py_ssize_t i, n = b.n
        self._now_ticks(now)
        out = PyBytes_FromStringAndSize(NULL, n)
        cdef char* o = PyBytes_AS_STRING(out)
        cdef Shared* sh = self._sh
        table_prefetch_first(&sh.t, b.p, 16, n)
        cdef int slot = shared_enter(sh, &self._reader)  # for the whole batch
        for i in range(n):  # the ttls were checked by _Batch: nothing raises in this loop
            table_prefetch_next(&sh.t, b.p, 16, i, n)
            o[i] = self._acquire(b.p + 16 * i, now, b.ttl(i), slot)
        shared_leave(sh, slot)
        return out

    def contains(self, digest, double now):
        """True if the key is armed and not expired at `now`."""
        cdef const uint8_t* d = _digest_ptr(digest)
        _check_now(now)
        self._now_ticks(now)
        cdef Shared* sh = self._sh
        cdef int slot = shared_enter(sh, &self._reader)
        cdef double now_t = (now - sh.base) * TICKS  # the base as of the read side
        cdef Py_ssize_t i = table_find(&sh.t, digest_key(d))
        cdef bint live = i >= 0 and <double>load32(&table_slot(&sh.t, i).exp) > now_t
        shared_leave(sh, slot)
        return live

    def release(self, digest):
        """Forget a key (live or expired); True if an entry was stored."""
        return shared_delete(self._sh, digest_key(_digest_ptr(digest)), "cooldown")

    def purge(self, double now):
        """Remove every entry expired at `now`; returns how many were removed (0 when another
        process kept the table busy past the timeout: the next purge does it)."""
        _check_now(now)
        self._now_ticks(now)
        cdef Shared* sh = self._sh
        if not gate_lock(&sh.gate, LOCK_TIMEOUT):
            return 0
        cdef Py_ssize_t removed = table_purge(&sh.t, (now - sh.base) * TICKS)
        gate_unlock(&sh.gate)
        return removed
