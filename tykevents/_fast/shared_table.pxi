# The shared-memory part of the compiled shared tables (shared_cooldown_c.pyx,
# shared_thresholds_c.pyx), included after _slot_table.pxi.
#
# One anonymous MAP_SHARED mapping holds a header (the gate of shared_atomic.pxd, the slot
# table's state, the time base) and then the slots. A fork inherits the mapping at the same
# address, so the SlotTable's `slots` pointer is valid in every forked process. The
# operations that only fill empty slots or change a slot's value in place run on the read
# side of the gate, lock-free (CAS on the slot); those that move slots (deletion with backward
# shift, eviction, purge, rebase) take the gate exclusively and then run the single-process
# code of _slot_table.pxi unchanged.
from libc.stdint cimport int32_t, uint32_t, uint64_t
from posix.mman cimport munmap

import weakref

from tykevents._fast.shared_atomic cimport (atomic_add, gate_lock, gate_unlock, map_shared,
                                           read_enter, read_leave, reader_slot, tyk_gate_t)

cdef double LOCK_TIMEOUT = 5.0  # seconds a slot-moving operation waits for the gate


cdef struct Shared:
    tyk_gate_t gate
    SlotTable t          # count is updated atomically on the read side
    Py_ssize_t capacity
    uint32_t base_state  # the cooldown's time base: 0 unset, 1 being set, 2 set
    double base
    double last_now      # the thresholds' latest `now` (load_state's eviction)


cdef Shared* shared_alloc(object capacity, int fill, size_t* size) except NULL:
    cdef Py_ssize_t cap = _args.capacity(capacity)
    cdef Py_ssize_t nslots = cap + cap // 2 + 1
    cdef size_t header = (sizeof(Shared) + 63) & ~(<size_t>63)
    cdef size_t nbytes = header + <size_t>nslots * sizeof(Slot)
    cdef void* p = map_shared(nbytes)  # zero-filled
    if p == NULL:
        raise MemoryError(f"cannot map a shared table of {nslots} slots")
    cdef Shared* sh = <Shared*>p
    sh.t.slots = <char*>p + header
    if fill:
        memset(sh.t.slots, fill, <size_t>nslots * sizeof(Slot))
    sh.t.nslots = nslots
    sh.t.count = 0
    sh.t.seed = int.from_bytes(os.urandom(8), "little")
    sh.capacity = cap
    size[0] = nbytes
    return sh


cdef inline void shared_free(Shared* sh, size_t size) noexcept nogil:
    if sh != NULL:
        munmap(sh, size)  # this process's view only; the other processes keep theirs


cdef inline int shared_enter(Shared* sh, int* idx) except -3:
    # Enters the read side; returns the reader slot. -2 (every reader slot belongs to a live
    # process): the gate is held exclusively instead, and the caller runs the locked code.
    cdef int slot = reader_slot(&sh.gate, idx)
    if slot >= 0:
        read_enter(&sh.gate, slot)
    elif not gate_lock(&sh.gate, LOCK_TIMEOUT):
        raise TimeoutError("shared table: the gate stayed busy")
    return slot


cdef inline void shared_leave(Shared* sh, int slot) noexcept nogil:
    if slot >= 0:
        read_leave(&sh.gate, slot)
    else:
        gate_unlock(&sh.gate)


cdef inline int shared_lock(Shared* sh, str what) except -1:
    # Takes the gate exclusively for an operation that must not be skipped.
    if not gate_lock(&sh.gate, LOCK_TIMEOUT):
        raise TimeoutError(f"shared {what} table: the gate stayed busy")
    return 0


cdef bint shared_delete(Shared* sh, Key k, str what) except -1:
    # forget/release: True if the key was stored.
    shared_lock(sh, what)
    cdef Py_ssize_t i = table_find(&sh.t, k)
    if i >= 0:
        table_delete_at(&sh.t, i)
    gate_unlock(&sh.gate)
    return i >= 0


# Every shared table of this process: a forked child must claim its own reader slot.
_tables = weakref.WeakSet()


cdef class _SharedBase:
    # The mapping's life and the members both shared tables have alike; the module's table
    # subclasses it (SLOT_FILL and Slot are that module's).

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


def _after_fork():
    for t in list(_tables):
        t._forked()


os.register_at_fork(after_in_child=_after_fork)
