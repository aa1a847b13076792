from libc.stdint cimport int64_t, uint32_t, uint64_t

from tykevents._fast._common cimport SlotTable


cdef struct TSlot:
    uint64_t key     # the caller's 64-bit key hash
    uint32_t period  # quota_renews of the period, 0 = non-renewing; EMPTY = empty slot
    float fired      # highest level passed (float32, rounded up); 0 = none


cdef class ThresholdTable:
    cdef SlotTable _t  # of TSlot (_slot_table.pxi)
    cdef readonly Py_ssize_t capacity
    cdef double _last_now

    cdef void _insert(self, uint64_t key, uint32_t period, float fired, double now) noexcept
    cdef int _step(self, uint64_t key, int64_t qmax, int64_t renews, double now, double top,
                   double usage, bint renewing) noexcept
