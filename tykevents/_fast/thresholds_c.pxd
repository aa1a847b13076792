from libc.stdint cimport int64_t, uint32_t, uint64_t


cdef struct TSlot:
    uint64_t key     # the caller's 64-bit key hash
    uint32_t period  # quota_renews of the period, 0 = non-renewing; EMPTY = empty slot
    float fired      # highest level passed (float32, rounded up); 0 = none


cdef class ThresholdTable:
    cdef TSlot* _slots
    cdef Py_ssize_t _nslots
    cdef Py_ssize_t _count
    cdef readonly Py_ssize_t capacity
    cdef uint64_t _seed
    cdef double _last_now

    cdef Py_ssize_t _home(self, uint64_t key) noexcept
    cdef Py_ssize_t _find(self, uint64_t key) noexcept
    cdef void _insert(self, uint64_t key, uint32_t period, float fired, double now) noexcept
    cdef int _step(self, uint64_t key, int64_t qmax, int64_t rem, int64_t renews, double now,
                   double g, double top, double usage, bint renewing) noexcept
    cdef void _evict(self, uint64_t key, double now) noexcept
    cdef void _delete_at(self, Py_ssize_t j) noexcept
    cdef Py_ssize_t _purge(self, double now) noexcept
