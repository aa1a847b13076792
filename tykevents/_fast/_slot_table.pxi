# The open-addressing slot table of both compiled twins (cooldown_c.pyx, thresholds_c.pyx),
# written once. `include "_slot_table.pxi"` compiles it into each module for that module's
# slot type, so every call below is a direct C call the compiler can inline, as it was when
# each module carried its own copy.
#
# Layout: one malloc'd array of 16-byte slots, capacity*3/2 + 1 of them (load at most 2/3,
# about 5 probes for a miss; 24 bytes per key when full). Linear probing from the home slot
# fastrange(mix64(64 bits of the key ^ random seed)): the seed keeps crafted keys from piling
# into one probe run. Backward-shift deletion, no tombstones. Past a few MB every probe is a
# cache (and TLB) miss, so large arrays ask for huge pages and batch loops prefetch the home
# slot AHEAD items ahead: the misses of a batch overlap instead of queueing.
#
# Index safety (boundscheck is off for the package): every slot index comes from fastrange
# (< nslots) or from i+1 wrapped to 0 at nslots; probe loops stop at an empty slot, and one
# always exists because count <= capacity < nslots.
#
# Before the include, the module defines for its slot:
#   Slot, Key                its 16-byte slot struct, and what a slot is looked up by
#   SLOT_FILL                the byte that every byte of an empty slot holds
#   slot_empty(s)            the slot holds nothing
#   slot_holds(s, k)         the occupied slot holds key k
#   slot_word(s), key_word(k)  the 64 bits of a stored / a looked-up key that pick its home
#   slot_dead(s, now)        the occupied slot carries nothing at `now` (the module's time
#                            unit): purge drops it, eviction takes the first one it meets
#   slot_rank(s)             else eviction takes the lowest rank among WINDOW slots
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

import os

from tykevents._fast cimport _common
from tykevents._fast._common cimport SlotTable
from tykevents._fast import _args

cdef enum:
    WINDOW = 32  # eviction looks at this many slots from the new key's home slot
    AHEAD = 16  # batch loops prefetch the home slot of the item this many places ahead


cdef Py_ssize_t table_init(SlotTable* t, object capacity, str what) except -1:
    # Checks `capacity` (as the pure twins do) and allocates its slots, all empty; returns it.
    cdef Py_ssize_t cap = _args.capacity(capacity)
    t.nslots = cap + cap // 2 + 1
    t.slots = _common.table_alloc(t.nslots * sizeof(Slot), SLOT_FILL)
    if t.slots == NULL:
        raise MemoryError(f"cannot allocate a {what} table of {t.nslots} slots")
    t.seed = int.from_bytes(os.urandom(8), "little")
    t.count = 0
    return cap


cdef inline void table_dealloc(SlotTable* t) noexcept nogil:
    free(t.slots)
    t.slots = NULL


cdef inline Py_ssize_t table_bytes(SlotTable* t) noexcept nogil:
    return t.nslots * <Py_ssize_t>sizeof(Slot)


cdef inline Slot* table_slot(SlotTable* t, Py_ssize_t i) noexcept nogil:
    return (<Slot*>t.slots) + i


cdef inline Py_ssize_t table_home(SlotTable* t, uint64_t word) noexcept nogil:
    return <Py_ssize_t>_common.fastrange(_common.mix64(word ^ t.seed), <size_t>t.nslots)


cdef inline Py_ssize_t table_probe(SlotTable* t, Key k) noexcept nogil:
    # The slot holding k, else the empty slot that ends k's probe run (where k would go).
    cdef Py_ssize_t n = t.nslots
    cdef Py_ssize_t i = table_home(t, key_word(k))
    cdef Slot* s
    while True:
        s = table_slot(t, i)
        if slot_empty(s) or slot_holds(s, k):
            return i
        i += 1
        if i == n:
            i = 0


cdef inline Py_ssize_t table_find(SlotTable* t, Key k) noexcept nogil:
    # The slot holding k, or -1.
    cdef Py_ssize_t i = table_probe(t, k)
    return -1 if slot_empty(table_slot(t, i)) else i


cdef inline Py_ssize_t table_empty_slot(SlotTable* t, uint64_t word) noexcept nogil:
    # The first empty slot from the home of `word`: where a key not stored yet goes.
    cdef Py_ssize_t n = t.nslots
    cdef Py_ssize_t i = table_home(t, word)
    while not slot_empty(table_slot(t, i)):
        i += 1
        if i == n:
            i = 0
    return i


cdef void table_delete_at(SlotTable* t, Py_ssize_t j) noexcept nogil:
    # Backward-shift deletion: pull later entries of the run into the hole unless their
    # home lies cyclically in (hole, their slot], which would put them before their home.
    cdef Py_ssize_t n = t.nslots
    cdef Py_ssize_t hole = j
    cdef Py_ssize_t k = j
    cdef Py_ssize_t h
    cdef Slot* slots = <Slot*>t.slots
    while True:
        k += 1
        if k == n:
            k = 0
        if slot_empty(&slots[k]):
            break
        h = table_home(t, slot_word(&slots[k]))
        if hole <= k:
            if hole < h <= k:
                continue
        elif hole < h or h <= k:
            continue
        slots[hole] = slots[k]
        hole = k
    memset(&slots[hole], SLOT_FILL, sizeof(Slot))
    t.count -= 1


cdef void table_evict(SlotTable* t, uint64_t word, double now) noexcept nogil:
    # Makes room for a new key whose home word is `word` in a full table (count == capacity
    # >= 1, so some slot is occupied and the scan ends): the first dead entry from its home
    # slot goes, else the lowest rank among at least WINDOW slots.
    cdef Py_ssize_t n = t.nslots
    cdef Py_ssize_t i = table_home(t, word)
    cdef Py_ssize_t victim = -1
    cdef Py_ssize_t scanned = 0
    cdef int64_t rank
    cdef int64_t best = 0
    cdef Slot* s
    while True:
        s = table_slot(t, i)
        if not slot_empty(s):
            if slot_dead(s, now):
                victim = i
                break
            rank = slot_rank(s)
            if victim < 0 or rank < best:
                victim = i
                best = rank
        scanned += 1
        if scanned >= WINDOW and victim >= 0:
            break
        i += 1
        if i == n:
            i = 0
    table_delete_at(t, victim)


cdef Py_ssize_t table_purge(SlotTable* t, double now) noexcept nogil:
    # Deletes every dead entry; returns how many. The scan starts just after an empty slot:
    # no probe run crosses it, so the entries that backward shifts pull into slot i always
    # come from slots not yet scanned.
    cdef Py_ssize_t n = t.nslots
    cdef Py_ssize_t start = 0
    while not slot_empty(table_slot(t, start)):  # an empty slot exists (count < nslots)
        start += 1
    cdef Py_ssize_t i = start + 1
    cdef Py_ssize_t steps = 0
    cdef Py_ssize_t removed = 0
    cdef Slot* s
    if i == n:
        i = 0
    while steps < n:
        s = table_slot(t, i)
        if not slot_empty(s) and slot_dead(s, now):
            table_delete_at(t, i)
            removed += 1
            continue
        i += 1
        if i == n:
            i = 0
        steps += 1
    return removed


# -- batches: prefetch the home slots ahead -------------------------------------------------
# A batch of n items whose home words lie `stride` bytes apart from `words` calls
# table_prefetch_first once, then table_prefetch_next before each item i, in order.

cdef inline void table_prefetch(SlotTable* t, const uint8_t* words, Py_ssize_t stride,
                                Py_ssize_t i) noexcept nogil:
    cdef uint64_t w
    memcpy(&w, words + stride * i, 8)
    _common.prefetch(table_slot(t, table_home(t, w)))


cdef inline void table_prefetch_first(SlotTable* t, const uint8_t* words, Py_ssize_t stride,
                                      Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(min(<Py_ssize_t>AHEAD, n)):
        table_prefetch(t, words, stride, i)


cdef inline void table_prefetch_next(SlotTable* t, const uint8_t* words, Py_ssize_t stride,
                                     Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    if i + AHEAD < n:
        table_prefetch(t, words, stride, i + AHEAD)
