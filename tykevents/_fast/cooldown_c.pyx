# cython: language_level=3
"""Webhook cooldown table, compiled twin of cooldown_py.py (read that file for the rules).

Storage is one malloc'd array of 16-byte slots, open addressing with linear probing and
backward-shift deletion (no tombstones). A slot holds the first 96 bits of the md5 and a
32-bit expiry tick; an expiry of 0 marks an empty slot. The array has capacity*3/2 + 1 slots
(load at most 2/3, about 5 probes for a miss), so a full table costs 24 bytes per key.
Home slot = fastrange(mix64(first 8 bytes ^ random seed)): md5 is uniform, the seed keeps
crafted payloads from piling into one probe run. Past a few MB every probe is a cache (and
TLB) miss, so large arrays ask for huge pages and acquire_many prefetches the home slot of
the digest 16 places ahead: the misses of a batch overlap instead of queueing.

Index safety (boundscheck is off for the package): every slot index comes from fastrange
(< _nslots) or from i+1 wrapped to 0 at _nslots; loops stop at an empty slot, and one always
exists because _count <= capacity < _nslots.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memcpy, memset
from libc.math cimport ceil, floor
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)

import os

from tykevents._fast cimport _common
from tykevents._fast import _args
from tykevents._fast.cooldown_py import MAX_TTL, NOW_LIMIT

cdef double TICKS = 16.0
cdef long long HEADROOM = 1 << 30
cdef double TICK_MAX = 4294967295.0
cdef double C_MAX_TTL = MAX_TTL
cdef double C_NOW_LIMIT = NOW_LIMIT
cdef Py_ssize_t WINDOW = 32  # eviction looks at this many slots from the home slot
cdef Py_ssize_t AHEAD = 16  # acquire_many prefetches the home slot this many digests ahead


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
        cdef object cap = _args.capacity(capacity)
        self.capacity = cap
        self._nslots = self.capacity + self.capacity // 2 + 1
        self._slots = <CSlot*>_common.table_alloc(self._nslots * sizeof(CSlot), 0)
        if self._slots == NULL:
            raise MemoryError(f"cannot allocate a cooldown table of {self._nslots} slots")
        self._seed = int.from_bytes(os.urandom(8), "little")
        self._count = 0
        self._has_base = False

    def __dealloc__(self):
        free(self._slots)

    def __len__(self):
        return self._count

    def memory_bytes(self):
        """Bytes of the slot array (the whole C storage)."""
        return self._nslots * <Py_ssize_t>sizeof(CSlot)

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
        for i in range(self._nslots):
            s = &self._slots[i]
            if s.exp != 0:
                s.exp = <uint32_t>(s.exp - delta) if s.exp > delta else 1
        self._base += <double>delta / TICKS

    # -- table ----------------------------------------------------------------------------

    cdef inline Py_ssize_t _home(self, uint64_t hi) noexcept:
        return <Py_ssize_t>_common.fastrange(_common.mix64(hi ^ self._seed), <size_t>self._nslots)

    cdef Py_ssize_t _find(self, const uint8_t* d) noexcept:
        cdef uint64_t hi
        cdef uint32_t lo
        memcpy(&hi, d, 8)
        memcpy(&lo, d + 8, 4)
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t i = self._home(hi)
        cdef CSlot* s
        while True:
            s = &self._slots[i]
            if s.exp == 0:
                return -1
            if s.hi == hi and s.lo == lo:
                return i
            i += 1
            if i == n:
                i = 0

    cdef void _prefetch(self, const uint8_t* d) noexcept:
        cdef uint64_t hi
        memcpy(&hi, d, 8)
        _common.prefetch(&self._slots[self._home(hi)])

    cdef int _acquire(self, const uint8_t* d, double now, double ttl) noexcept:
        cdef double now_t = self._now_ticks(now)
        if ttl <= 0.0:
            return 1
        cdef uint64_t hi
        cdef uint32_t lo
        memcpy(&hi, d, 8)
        memcpy(&lo, d + 8, 4)
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t i = self._home(hi)
        cdef CSlot* s
        while True:
            s = &self._slots[i]
            if s.exp == 0:
                break
            if s.hi == hi and s.lo == lo:
                if <double>s.exp > now_t:
                    return 0
                s.exp = self._expiry(now, ttl)  # re-arm in place (a rebase moves no slot)
                return 1
            i += 1
            if i == n:
                i = 0
        cdef uint32_t exp = self._expiry(now, ttl)
        if self._count >= self.capacity:
            self._evict(hi, self._now_ticks(now))
            i = self._home(hi)  # the eviction may have shifted this run: find a free slot again
            while self._slots[i].exp != 0:
                i += 1
                if i == n:
                    i = 0
        s = &self._slots[i]
        s.hi = hi
        s.lo = lo
        s.exp = exp
        self._count += 1
        return 1

    cdef void _evict(self, uint64_t hi, double now_t) noexcept:
        # The table is full (_count == capacity >= 1), so some slot is occupied and the scan
        # ends: the first expired entry wins, else the soonest expiry among >= WINDOW slots.
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t i = self._home(hi)
        cdef Py_ssize_t victim = -1
        cdef Py_ssize_t scanned = 0
        cdef uint32_t best = 0
        cdef CSlot* s
        while True:
            s = &self._slots[i]
            if s.exp != 0:
                if <double>s.exp <= now_t:
                    victim = i
                    break
                if victim < 0 or s.exp < best:
                    victim = i
                    best = s.exp
            scanned += 1
            if scanned >= WINDOW and victim >= 0:
                break
            i += 1
            if i == n:
                i = 0
        self._delete_at(victim)

    cdef void _delete_at(self, Py_ssize_t j) noexcept:
        # Backward-shift deletion: pull later entries of the run into the hole unless their
        # home lies cyclically in (hole, their slot], which would put them before their home.
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t hole = j
        cdef Py_ssize_t k = j
        cdef Py_ssize_t h
        cdef CSlot* slots = self._slots
        while True:
            k += 1
            if k == n:
                k = 0
            if slots[k].exp == 0:
                break
            h = self._home(slots[k].hi)
            if hole <= k:
                if hole < h <= k:
                    continue
            elif hole < h or h <= k:
                continue
            slots[hole] = slots[k]
            hole = k
        memset(&slots[hole], 0, sizeof(CSlot))
        self._count -= 1

    # -- operations -----------------------------------------------------------------------

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
        cdef Py_ssize_t ahead = min(AHEAD, n)
        for i in range(ahead):  # p has n*16 bytes; every index below is < n
            self._prefetch(p + 16 * i)
        for i in range(n):
            if i + ahead < n:
                self._prefetch(p + 16 * (i + ahead))
            o[i] = self._acquire(p + 16 * i, now, one if scalar else _check_ttl(per[i]))
        return out

    def contains(self, digest, double now):
        """True if the key is armed and not expired at `now`."""
        cdef const uint8_t* d = _digest_ptr(digest)
        _check_now(now)
        cdef double now_t = self._now_ticks(now)
        cdef Py_ssize_t i = self._find(d)
        return i >= 0 and <double>self._slots[i].exp > now_t

    def release(self, digest):
        """Forget a key (live or expired); True if an entry was stored."""
        cdef Py_ssize_t i = self._find(_digest_ptr(digest))
        if i < 0:
            return False
        self._delete_at(i)
        return True

    def purge(self, double now):
        """Remove every entry expired at `now`; returns how many were removed."""
        _check_now(now)
        cdef double now_t = self._now_ticks(now)
        cdef Py_ssize_t n = self._nslots
        cdef Py_ssize_t start = 0
        while self._slots[start].exp != 0:  # an empty slot exists (count < nslots)
            start += 1
        # Scan from just after an empty slot: no probe run crosses it, so the entries
        # that backward shifts pull into slot i always come from slots not yet scanned.
        cdef Py_ssize_t i = start + 1
        cdef Py_ssize_t steps = 0
        cdef Py_ssize_t removed = 0
        if i == n:
            i = 0
        while steps < n:
            if self._slots[i].exp != 0 and <double>self._slots[i].exp <= now_t:
                self._delete_at(i)
                removed += 1
                continue
            i += 1
            if i == n:
                i = 0
            steps += 1
        return removed
