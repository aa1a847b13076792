# cython: language_level=3
"""Webhook cooldown table, compiled twin of cooldown_py.py (read that file for the rules).

The storage is the slot table of _slot_table.pxi (16-byte slots, open addressing, 24 bytes
per key when full, prefetching batches); this file gives it its slot and the time rules. A
slot holds the first 96 bits of the md5 and a 32-bit expiry tick; an expiry of 0 marks an
empty slot. md5 is uniform, so its first 8 bytes are the home word as they are.
"""
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport ceil, floor
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)

from tykevents._fast import _args
from tykevents._fast.cooldown_py import MAX_TTL, NOW_LIMIT

cdef double TICKS = 16.0
cdef long long HEADROOM = 1 << 30
cdef double TICK_MAX = 4294967295.0
cdef double C_MAX_TTL = MAX_TTL
cdef double C_NOW_LIMIT = NOW_LIMIT


# -- the slot, as _slot_table.pxi asks for it ----------------------------------------------

ctypedef CSlot Slot

cdef struct Key:  # the first 96 bits of a digest
    uint64_t hi
    uint32_t lo

cdef enum:
    SLOT_FILL = 0  # exp 0: empty


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
    return <double>s.exp <= now_t  # expired


cdef inline int64_t slot_rank(const Slot* s) noexcept nogil:
    return s.exp  # the soonest expiry goes first


include "_slot_table.pxi"


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


cdef class CooldownTable:
    """Check-and-set cooldowns keyed by md5 digests, bounded by `capacity` entries."""

    def __cinit__(self, capacity=1_000_000):
        self.capacity = table_init(&self._t, capacity, "cooldown")
        self._has_base = False

    def __dealloc__(self):
        table_dealloc(&self._t)

    def __len__(self):
        return self._t.count

    def memory_bytes(self):
        """Bytes of the slot array (the whole C storage)."""
        return table_bytes(&self._t)

    # -- time ---------------------------------------------------------------------------

    cdef double _now_ticks(self, double now) noexcept:
        if not self._has_base:
            self._base = now - HEADROOM / TICKS
            self._has_base = True
        return (now - self._base) * TICKS

    cdef uint32_t _expiry(self, double now, double ttl) noexcept:
        cdef double t = ceil((now - self._base + ttl) * TICKS)
        if t > TICK_MAX:
            self._rebase(<long long>floor((now - self._base) * TICKS) - HEADROOM)
            t = ceil((now - self._base + ttl) * TICKS)
        cdef double lo = floor((now - self._base) * TICKS) + 1.0
        if t < lo:
            t = lo
        if t < 1.0:
            t = 1.0
        return <uint32_t>t  # t <= 2**31 + 1 here: now_t <= 2**30 after a rebase, ttl <= 2**30 ticks

    cdef void _rebase(self, long long delta) noexcept:
        cdef Py_ssize_t i
        cdef CSlot* s
        for i in range(self._t.nslots):
            s = table_slot(&self._t, i)
            if s.exp != 0:
                s.exp = <uint32_t>(s.exp - delta) if s.exp > delta else 1
        self._base += <double>delta / TICKS

    # -- operations -----------------------------------------------------------------------

    cdef int _acquire(self, const uint8_t* d, double now, double ttl) noexcept:
        cdef double now_t = self._now_ticks(now)
        if ttl <= 0.0:
            return 1
        cdef Key k = digest_key(d)
        cdef Py_ssize_t i = table_probe(&self._t, k)
        cdef CSlot* s = table_slot(&self._t, i)
        if not slot_empty(s):
            if <double>s.exp > now_t:
                return 0
            s.exp = self._expiry(now, ttl)  # re-arm in place (a rebase moves no slot)
            return 1
        cdef uint32_t exp = self._expiry(now, ttl)
        if self._t.count >= self.capacity:
            table_evict(&self._t, k.hi, self._now_ticks(now))
            i = table_empty_slot(&self._t, k.hi)  # the eviction may have shifted this run
        s = table_slot(&self._t, i)
        s.hi = k.hi
        s.lo = k.lo
        s.exp = exp
        self._t.count += 1
        return 1

    def acquire(self, digest, double now, double ttl):
        """True if the caller may fire: the key is absent or expired. With ttl > 0 the key
        is then armed until now+ttl in the same call; with ttl <= 0 nothing is recorded."""
        cdef const uint8_t* d = _digest_ptr(digest)
        _check_now(now)
        ttl = _check_ttl(ttl)
        return self._acquire(d, now, ttl) == 1

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
            for i in range(n):  # i < n == per.shape[0] (checked by typed_array)
                _check_ttl(per[i])
        self._now_ticks(now)  # fixes the time base even for an empty batch
        out = PyBytes_FromStringAndSize(NULL, n)
        cdef char* o = PyBytes_AS_STRING(out)
        table_prefetch_first(&self._t, p, 16, n)  # p has n*16 bytes; every index is < n
        for i in range(n):
            table_prefetch_next(&self._t, p, 16, i, n)
            o[i] = self._acquire(p + 16 * i, now, one if scalar else _check_ttl(per[i]))
        return out

    def contains(self, digest, double now):
        """True if the key is armed and not expired at `now`."""
        cdef const uint8_t* d = _digest_ptr(digest)
        _check_now(now)
        cdef double now_t = self._now_ticks(now)
        cdef Py_ssize_t i = table_find(&self._t, digest_key(d))
        return i >= 0 and <double>table_slot(&self._t, i).exp > now_t

    def release(self, digest):
        """Forget a key (live or expired); True if an entry was stored."""
        cdef Py_ssize_t i = table_find(&self._t, digest_key(_digest_ptr(digest)))
        if i < 0:
            return False
        table_delete_at(&self._t, i)
        return True

    def purge(self, double now):
        """Remove every entry expired at `now`; returns how many were removed."""
        _check_now(now)
        return table_purge(&self._t, self._now_ticks(now))
