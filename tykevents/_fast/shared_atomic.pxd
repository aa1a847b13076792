# Cross-process primitives of the shared tables (shared_cooldown_c.pyx,
# shared_thresholds_c.pyx), compiled into each module that cimports them (as _common.pxd):
# GCC __atomic builtins on words of a MAP_SHARED mapping, and the gate that lets many
# processes run the lock-free operations while one process at a time runs the operations
# that move slots (deletion, eviction, purge, rebase).
#
# The gate. Each process owns one reader slot (its pid, claimed by CAS; a slot whose pid no
# longer exists is taken over), on its own cache line, so entering and leaving the read side
# writes no line another process writes. A reader sets its `active` flag then reads
# `writer`; the writer sets `writer` then waits for every `active` flag to drop. Both sides
# use seq_cst, so (as in Dekker's algorithm) at least one of them sees the other. A flag left
# by a dead process (SIGKILL inside an operation) is cleared by the next writer, and a
# writer that died holding the gate is replaced: a crash costs nothing but the slot moves it
# interrupted.
from libc.stdint cimport int32_t, uint32_t, uint64_t


cdef extern from *:
    """
    #ifndef TYK_SHARED_ATOMIC_H
    #define TYK_SHARED_ATOMIC_H

    #include <errno.h>
    #include <sched.h>
    #include <signal.h>
    #include <stdint.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <sys/types.h>
    #include <time.h>
    #include <unistd.h>

    #define TYK_READERS 256

    typedef struct {
        int32_t pid;     /* owner, 0 = free */
        int32_t active;  /* 1 while the owner is inside a read-side operation */
        char pad[56];
    } __attribute__((aligned(64))) tyk_reader_t;

    typedef struct {
        int32_t writer;  /* pid holding the gate exclusively, 0 = none */
        int32_t used;    /* reader slots ever claimed: the writer scans only these */
        char pad[56];
        tyk_reader_t readers[TYK_READERS];
    } __attribute__((aligned(64))) tyk_gate_t;

    static inline void tyk_pause(unsigned spins) {
        if (spins < 64) {
    #if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
    #endif
        } else {
            sched_yield();
        }
    }

    static inline int tyk_pid_gone(int32_t pid) {
        return pid > 0 && kill((pid_t)pid, 0) == -1 && errno == ESRCH;
    }

    static inline double tyk_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }

    /* -- words ------------------------------------------------------------------------------ */

    static inline uint32_t tyk_load32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline uint64_t tyk_load64(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline uint64_t tyk_load64_relaxed(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
    static inline void tyk_store32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
    static inline uint32_t tyk_load32_relaxed(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

    /* CAS; on failure *expected receives the current value. */
    static inline int tyk_cas32(uint32_t* p, uint32_t* expected, uint32_t desired) {
        return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    static inline int tyk_cas64(uint64_t* p, uint64_t* expected, uint64_t desired) {
        return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }

    /* A 16-byte slot claimed in one step: (lo, hi) = its first and last 8 bytes (little endian).
       One CAS writes key and value together, so no reader ever sees half a slot and no crashed
       claimer can leave a slot half written. cmpxchg16b on x86-64 (every x86-64 CPU since 2008;
       the target attribute only allows GCC to emit it), casp/ldxp loops on arm64. */
    #if defined(__x86_64__)
    __attribute__((target("cx16")))
    #endif
    static inline int tyk_cas128(void* p, uint64_t old_lo, uint64_t old_hi, uint64_t new_lo, uint64_t new_hi) {
        unsigned __int128 o = ((unsigned __int128)old_hi << 64) | old_lo;
        unsigned __int128 n = ((unsigned __int128)new_hi << 64) | new_lo;
        return __sync_bool_compare_and_swap((unsigned __int128*)p, o, n);
    }

    static inline Py_ssize_t tyk_add(Py_ssize_t* p, Py_ssize_t v) {
        return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
    }

    /* -- the gate ----------------------------------------------------------------------------- */

    /* The caller's reader slot: *idx caches it (-1: not claimed yet in this process, reset after
       fork). -2: all slots belong to live processes; the caller then takes the gate exclusively
       for every operation. */
    static int tyk_reader_slot(tyk_gate_t* g, int* idx) {
        if (*idx != -1) return *idx;
        int32_t me = (int32_t)getpid();
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < TYK_READERS; i++) {
                int32_t cur = __atomic_load_n(&g->readers[i].pid, __ATOMIC_ACQUIRE);
                if (cur == me || (cur == 0 && pass == 0) || (pass == 1 && tyk_pid_gone(cur))) {
                    if (cur != me && !__atomic_compare_exchange_n(&g->readers[i].pid, &cur, me, 0,
                                                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                        continue;
                    __atomic_store_n(&g->readers[i].active, 0, __ATOMIC_RELEASE);
                    int32_t used = __atomic_load_n(&g->used, __ATOMIC_ACQUIRE);
                    while (used < i + 1 && !__atomic_compare_exchange_n(&g->used, &used, i + 1, 0,
                                                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
                    return *idx = i;
                }
            }
        }
        return *idx = -2;
    }

    static void tyk_wait_writer(tyk_gate_t* g) {
        unsigned spins = 0;
        int32_t w;
        while ((w = __atomic_load_n(&g->writer, __ATOMIC_SEQ_CST)) != 0) {
            if (spins > 1000 && (spins & 1023) == 0 && tyk_pid_gone(w))
                __atomic_compare_exchange_n(&g->writer, &w, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            tyk_pause(spins++);
        }
    }

    /* Enter the read side (slot >= 0). */
    static inline void tyk_read_enter(tyk_gate_t* g, int slot) {
        int32_t* a = &g->readers[slot].active;
        for (;;) {
            __atomic_store_n(a, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&g->writer, __ATOMIC_SEQ_CST) == 0) return;
            __atomic_store_n(a, 0, __ATOMIC_SEQ_CST);
            tyk_wait_writer(g);
        }
    }

    static inline void tyk_read_leave(tyk_gate_t* g, int slot) {
        __atomic_store_n(&g->readers[slot].active, 0, __ATOMIC_RELEASE);
    }

    /* Take the gate exclusively: 1, or 0 after `timeout` seconds (a live process stuck inside
       an operation, e.g. stopped by SIGSTOP). The caller must not be on the read side. */
    static int tyk_lock(tyk_gate_t* g, double timeout) {
        int32_t me = (int32_t)getpid();
        double deadline = tyk_mono() + timeout;
        unsigned spins = 0;
        for (;;) {
            int32_t w = 0;
            if (__atomic_compare_exchange_n(&g->writer, &w, me, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
            if (tyk_pid_gone(w))
                __atomic_compare_exchange_n(&g->writer, &w, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            if ((spins & 255) == 255 && tyk_mono() > deadline) return 0;
            tyk_pause(spins++);
        }
        int32_t used = __atomic_load_n(&g->used, __ATOMIC_SEQ_CST);
        for (int i = 0; i < used; i++) {
            tyk_reader_t* r = &g->readers[i];
            spins = 0;
            while (__atomic_load_n(&r->active, __ATOMIC_SEQ_CST)) {
                if ((spins & 255) == 255) {
                    if (tyk_pid_gone(__atomic_load_n(&r->pid, __ATOMIC_ACQUIRE))) {
                        __atomic_store_n(&r->active, 0, __ATOMIC_SEQ_CST);
                        break;
                    }
                    if (tyk_mono() > deadline) {
                        __atomic_store_n(&g->writer, 0, __ATOMIC_SEQ_CST);
                        return 0;
                    }
                }
                tyk_pause(spins++);
            }
        }
        return 1;
    }

    static inline void tyk_unlock(tyk_gate_t* g) {
        __atomic_store_n(&g->writer, 0, __ATOMIC_SEQ_CST);
    }

    /* The shared mapping: anonymous MAP_SHARED memory, zero-filled, inherited by fork at the
       same address. NULL when it cannot be had. */
    static void* tyk_map_shared(size_t bytes) {
        void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }

    #endif
    """
    ctypedef struct tyk_gate_t:
        int32_t writer

    uint32_t load32 "tyk_load32"(const uint32_t* p) noexcept nogil
    uint64_t load64 "tyk_load64"(const uint64_t* p) noexcept nogil
    void store32 "tyk_store32"(uint32_t* p, uint32_t v) noexcept nogil
    uint32_t load32_relaxed "tyk_load32_relaxed"(const uint32_t* p) noexcept nogil
    uint64_t load64_relaxed "tyk_load64_relaxed"(const uint64_t* p) noexcept nogil
    bint cas32 "tyk_cas32"(uint32_t* p, uint32_t* expected, uint32_t desired) noexcept nogil
    bint cas64 "tyk_cas64"(uint64_t* p, uint64_t* expected, uint64_t desired) noexcept nogil
    bint cas128 "tyk_cas128"(void* p, uint64_t old_lo, uint64_t old_hi, uint64_t new_lo,
                             uint64_t new_hi) noexcept nogil
    Py_ssize_t atomic_add "tyk_add"(Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    void pause "tyk_pause"(unsigned spins) noexcept nogil

    int reader_slot "tyk_reader_slot"(tyk_gate_t* g, int* idx) noexcept nogil
    void read_enter "tyk_read_enter"(tyk_gate_t* g, int slot) noexcept nogil
    void read_leave "tyk_read_leave"(tyk_gate_t* g, int slot) noexcept nogil
    bint gate_lock "tyk_lock"(tyk_gate_t* g, double timeout) noexcept nogil
    void gate_unlock "tyk_unlock"(tyk_gate_t* g) noexcept nogil
    void* map_shared "tyk_map_shared"(size_t nbytes) noexcept nogil
