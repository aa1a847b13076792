# cython: language_level=3
"""Cooldown table shared by forked processes, compiled twin of shared_cooldown_py.py (read
that file for the rules; the time rules are cooldown_py.py's).

The slot is cooldown_c's (96-bit key, 32-bit expiry tick, expiry 0 = empty), in shared
memory (shared_table.pxi). On the read side of the gate, acquire() claims an empty slot with
one 16-byte CAS (key and expiry together) and re-arms an expired one with a CAS on its expiry
word: of two processes acquiring one digest at once, exactly one CAS succeeds and the other
sees its result. A full table, a release, purge and a rebase take the gate exclusively.
"""
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libc.math cimport ceil, floor
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)

from tykevents._fast._common cimport SlotTable
from tykevents._fast.shared_atomic cimport (atomic_add, cas32, cas128, gate_lock, gate_unlock,
                                           load32, load32_relaxed, load64_relaxed, pause,
                                           read_enter, read_leave, store32)

from tykevents._fast import _args
from tykevents._fast.cooldown_py import MAX_TTL, NOW_LIMIT

cdef double TICKS = 16.0
cdef long long HEADROOM = 1 << 30
cdef double TICK_MAX = 4294967295.0
cdef double C_MAX_TTL = MAX_TTL
cdef double C_NOW_LIMIT = NOW_LIMIT


cdef struct SSlot:
    uint64_t hi   # digest bytes 0..7
    uint32_t lo   # digest bytes 8..11
    uint32_t exp  # expiry tick; 0 = empty slot

ctypedef SSlot Slot

cdef struct Key:
    uint64_t hi
    uint32_t lo

cdef enum:
    SLOT_FILL = 0


cdef inline Key digest_key(const uint8_t* d) noexcept nogil:
    cdef Key k
    memcpy(&k.hi, d, 8)
    memcpy(&k.lo, d + 8, 4)
    return k


cdef inline bint slot_empty(const Slot* s) noexcept nogil:
    return s.exp == 0


cdef inline bint slot_holds(const Slot* s, Key k) noexcept nogil:
    return s.hi == k.hi and s.lo == k.lo


cdef inline uint64_t slot_word(const Slot* s) noexcept nogil:
    return s.hi


cdef inline uint64_t key_word(Key k) noexcept nogil:
    return k.hi


cdef inline bint slot_dead(const Slot* s, double now_t) noexcept nogil:
    return <double>s.exp <= now_t


cdef inline int64_t slot_rank(const Slot* s) noexcept nogil:
    return s.exp


include "_slot_table.pxi"
include "shared_table.pxi"


cdef inline double _check_now(double now) except? -1.0:
    if not (-C_NOW_LIMIT <= now <= C_NOW_LIMIT):
        raise ValueError(f"now must be finite and within +-2**40 s, got {now!r}")
    return now


cdef inline double _check_ttl(double ttl) except? -1.0:
    if ttl != ttl:
        raise ValueError("ttl must not be NaN")
    return ttl if ttl <= C_MAX_TTL else C_MAX_TTL


cdef inline const uint8_t* _digest_ptr(object digest) except NULL:
    if not PyBytes_Check(digest):
        raise TypeError(f"digest must be bytes, not {type(digest).__name__}")
    if PyBytes_GET_SIZE(digest) != 16:
        raise ValueError(f"digest must be 16 bytes (an md5), got {PyBytes_GET_SIZE(digest)}")
    return <const uint8_t*>PyBytes_AS_STRING(digest)


cdef class SharedCooldownTable:
    """CooldownTable in shared memory: one table for this process and every process it forks
    after creating it."""

    cdef Shared* _sh
    cdef size_t _size
    cdef int _reader  # this process's reader slot in the gate; -1 = not claimed yet
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

    cdef uint32_t _expiry(self, double now, double ttl) noexcept:
        # 0 when the expiry does not fit in 32 bits: the caller must rebase (exclusively).
        cdef double base = self._sh.base
        cdef double t = ceil((now - base + ttl) * TICKS)
        if t > TICK_MAX:
            return 0
        cdef double lo = floor((now - base) * TICKS) + 1.0
        if t < lo:
            t = lo
        if t < 1.0:
            t = 1.0
        return <uint32_t>t

    cdef void _rebase_if_needed(self, double now, double ttl) noexcept:
        # Exclusive. As CooldownTable._rebase, over the shared slots and base.
        cdef Shared* sh = self._sh
        if ceil((now - sh.base + ttl) * TICKS) <= TICK_MAX:
            return
        cdef long long delta = <long long>floor((now - sh.base) * TICKS) - HEADROOM
        cdef Py_ssize_t i
        cdef Slot* s
        for i in range(sh.t.nslots):
            s = table_slot(&sh.t, i)
            if s.exp != 0:
                s.exp = <uint32_t>(s.exp - delta) if s.exp > delta else 1
        sh.base += <double>delta / TICKS

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
                exp = self._expiry(now, ttl)
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
                    exp = self._expiry(now, ttl)
                    if exp == 0:
                        return -1
                    if cas32(&s.exp, &e, exp):  # re-arm; on failure e is the new expiry
                        return 1
            i += 1
            if i == n:
                i = 0

    cdef int _locked(self, Key k, double now, double ttl) noexcept:
        # Exclusive: the single-process CooldownTable._acquire.
        cdef Shared* sh = self._sh
        self._rebase_if_needed(now, ttl)
        cdef double now_t = (now - sh.base) * TICKS
        cdef Py_ssize_t i = table_probe(&sh.t, k)
        cdef Slot* s = table_slot(&sh.t, i)
        if not slot_empty(s):
            if <double>s.exp > now_t:
                return 0
            s.exp = self._expiry(now, ttl)
            return 1
        cdef uint32_t exp = self._expiry(now, ttl)
        if sh.t.count >= self.capacity:
            table_evict(&sh.t, k.hi, now_t)
            i = table_empty_slot(&sh.t, k.hi)
        s = table_slot(&sh.t, i)
        s.hi = k.hi
        s.lo = k.lo
        s.exp = exp
        sh.t.count += 1
        return 1

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
        cdef const uint8_t[::1] view
        cdef const uint8_t* p
        cdef Py_ssize_t size
        if PyBytes_Check(digests):
            p = <const uint8_t*>PyBytes_AS_STRING(digests)
            size = PyBytes_GET_SIZE(digests)
        else:
            view = _args.byte_buffer(digests, "digests")
            size = view.shape[0]
            p = &view[0] if size else NULL
        if size % 16:
            raise ValueError(f"digests length {size} is not a multiple of 16")
        cdef Py_ssize_t n = size // 16
        _check_now(now)
        cdef double one = 0.0
        cdef const double[::1] per
        cdef bint scalar = isinstance(ttls, (int, float))
        cdef Py_ssize_t i
        if scalar:
            one = _check_ttl(ttls)
        else:
            per = _args.typed_array(ttls, "d", n, "ttls")
            for i in range(n):
                _check_ttl(per[i])
        self._now_ticks(now)
        out = PyBytes_FromStringAndSize(NULL, n)
        cdef char* o = PyBytes_AS_STRING(out)
        cdef Shared* sh = self._sh
        table_prefetch_first(&sh.t, p, 16, n)
        cdef int slot = shared_enter(sh, &self._reader)  # for the whole batch
        for i in range(n):  # the ttls were checked above: nothing raises in this loop
            table_prefetch_next(&sh.t, p, 16, i, n)
            o[i] = self._acquire(p + 16 * i, now, one if scalar else min(per[i], C_MAX_TTL), slot)
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
        cdef Key k = digest_key(_digest_ptr(digest))
        cdef Shared* sh = self._sh
        if not gate_lock(&sh.gate, LOCK_TIMEOUT):
            raise TimeoutError("shared cooldown table: the gate stayed busy")
        cdef Py_ssize_t i = table_find(&sh.t, k)
        if i >= 0:
            table_delete_at(&sh.t, i)
        gate_unlock(&sh.gate)
        return i >= 0

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
