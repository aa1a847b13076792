# cython: language_level=3
"""Webhook cooldown table, compiled twin of cooldown_py.py (read that file for the rules).

The storage is the slot table of _slot_table.pxi (16-byte slots, open addressing, 24 bytes
per key when full, prefetching batches); _cooldown_rule.pxi, shared with shared_cooldown_c.pyx,
gives it its slot and holds the time rules. A slot holds the first 96 bits of the md5 and a
32-bit expiry tick; an expiry of 0 marks an empty slot. md5 is uniform, so its first 8 bytes
are the home word as they are.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize

from tykevents._fast._common cimport SlotTable

ctypedef CSlot Slot

include "_cooldown_rule.pxi"


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

    cdef int _acquire(self, const uint8_t* d, double now, double ttl) noexcept:
        self._now_ticks(now)
        if ttl <= 0.0:
            return 1
        if expiry_tick(self._base, now, ttl) == 0:
            self._base = rebase(&self._t, self._base, now)
        return acquire_in(&self._t, self.capacity, digest_key(d), self._base, now, ttl)

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
        cdef _Batch b = _Batch(digests, now, ttls)
        cdef Py_ssize_t i, n = b.n
        self._now_ticks(now)  # fixes the time base even for an empty batch
        out = PyBytes_FromStringAndSize(NULL, n)
        cdef char* o = PyBytes_AS_STRING(out)
        table_prefetch_first(&self._t, b.p, 16, n)  # p has n*16 bytes; every index is < n
        for i in range(n):
            table_prefetch_next(&self._t, b.p, 16, i, n)
            o[i] = self._acquire(b.p + 16 * i, now, b.ttl(i))
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
