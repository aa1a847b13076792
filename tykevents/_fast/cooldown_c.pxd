from libc.stdint cimport uint32_t, uint64_t, uint8_t


cdef struct CSlot:
    uint64_t hi   # digest bytes 0..7
    uint32_t lo   # digest bytes 8..11
    uint32_t exp  # expiry tick (1/16 s from _base); 0 = empty slot


cdef class CooldownTable:
    cdef CSlot* _slots
    cdef Py_ssize_t _nslots
    cdef Py_ssize_t _count
    cdef readonly Py_ssize_t capacity
    cdef uint64_t _seed
    cdef double _base
    cdef bint _has_base

    cdef double _now_ticks(self, double now) noexcept
    cdef uint32_t _expiry(self, double now, double ttl) noexcept
    cdef void _rebase(self, long long delta) noexcept
    cdef Py_ssize_t _home(self, uint64_t hi) noexcept
    cdef Py_ssize_t _find(self, const uint8_t* d) noexcept
    cdef void _prefetch(self, const uint8_t* d) noexcept
    cdef int _acquire(self, const uint8_t* d, double now, double ttl) noexcept
    cdef void _evict(self, uint64_t hi, double now_t) noexcept
    cdef void _delete_at(self, Py_ssize_t j) noexcept
