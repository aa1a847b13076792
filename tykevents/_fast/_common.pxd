# Small C helpers shared by the compiled twins (inline, no module of their own), and the
# state of their slot table (its code is _slot_table.pxi).
from libc.stdint cimport uint64_t


# A cdef class embeds one. `slots` points to `nslots` slots of the including module's Slot.
cdef struct SlotTable:
    void* slots
    Py_ssize_t nslots  # capacity * 3/2 + 1: load at most 2/3
    Py_ssize_t count   # occupied slots
    uint64_t seed      # random per table (see mix64)

cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    /* splitmix64's finaliser: spreads a seeded key over all 64 bits. The seed is random per
       table, so keys chosen to collide in one process do not collide in another. */
    static inline uint64_t tyk_mix64(uint64_t x) {
        x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27; x *= 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    }
    /* Lemire's multiply-shift: maps a 64-bit hash onto [0, n) for any n, no power of two
       needed, so a table can be sized to exactly the load factor it wants. */
    static inline size_t tyk_fastrange(uint64_t h, size_t n) {
        return (size_t)(((unsigned __int128)h * (unsigned __int128)n) >> 64);
    }
    """
    uint64_t mix64 "tyk_mix64"(uint64_t x) noexcept nogil
    size_t fastrange "tyk_fastrange"(uint64_t h, size_t n) noexcept nogil

cdef extern from *:
    """
    /* A hint to start loading a slot's cache line (and its page walk) early: the batch
       loops issue it a few items ahead, so the DRAM misses of a large table overlap.
       GCC deems __builtin_prefetch free of side effects, so a function that only
       prefetches (table_prefetch_next in _slot_table.pxi) would count as pure and its
       calls be deleted: the empty volatile asm, no instruction, keeps them. */
    static inline __attribute__((always_inline)) void tyk_prefetch(const void* p) {
        __builtin_prefetch(p, 1, 1);
        __asm__ __volatile__("" : : "r"(p));
    }
    """
    void prefetch "tyk_prefetch"(const void* p) noexcept nogil

cdef extern from *:
    """
    #include <stdlib.h>
    #include <string.h>
    #include <sys/mman.h>
    /* A table's slot array, every byte set to `fill`; NULL when out of memory; free() it.
       Arrays of 2 MiB and more are 2 MiB-aligned and marked for transparent huge pages:
       random probes into a 10**7-key table then miss the TLB far less often. */
    static void* tyk_table_alloc(size_t bytes, int fill) {
        void* p = NULL;
        if (bytes >= ((size_t)2 << 20)) {
            if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
    #ifdef MADV_HUGEPAGE
            madvise(p, bytes, MADV_HUGEPAGE);  /* a hint; failure is harmless */
    #endif
        } else {
            p = malloc(bytes ? bytes : 1);
            if (p == NULL) return NULL;
        }
        memset(p, fill, bytes);
        return p;
    }
    """
    void* table_alloc "tyk_table_alloc"(size_t nbytes, int fill) noexcept nogil
