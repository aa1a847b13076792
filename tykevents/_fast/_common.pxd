# Small C helpers shared by the compiled twins (inline, no module of their own).
from libc.stdint cimport uint64_t

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
