from libc.stdint cimport uint32_t, uint64_t, uint8_t

from tykevents._fast._common cimport SlotTable


cdef struct CSlot:
    uint64_t hi   # digest bytes 0..7
    uint32_t lo   # digest bytes 8..11
    uint32_t exp  # expiry tick (1/16 s from _base); 0 = empty slot


cdef class CooldownTable:
    cdef SlotTable _t  # of CSlot (_slot_table.pxi)
    cdef readonly Py_ssize_t capacity
    cdef double _base
    cdef bint _has_base

    cdef double _now_ticks(self, double now) noexcept
    cdef int _acquire(self, const uint8_t* d, double now, double ttl) noexcept
