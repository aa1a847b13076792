# The cooldown time rules (cooldown_py.py's), once for both compiled tables: cooldown_c.pyx
# (private) and shared_cooldown_c.pyx (shared memory). Include it after
# `ctypedef <struct of hi, lo, exp> Slot`: it gives _slot_table.pxi its slot callbacks,
# includes it, then adds the argument checks, the tick arithmetic and the single-process
# acquire.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport ceil, floor
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE

from tykevents._fast.cooldown_py import MAX_TTL, NOW_LIMIT

cdef double TICKS = 16.0
cdef long long HEADROOM = 1 << 30
cdef double TICK_MAX = 4294967295.0
cdef double C_MAX_TTL = MAX_TTL
cdef double C_NOW_LIMIT = NOW_LIMIT


# -- the slot, as _slot_table.pxi asks for it ----------------------------------------------

cdef struct Key:  # the first 96 bits of a digest
    uint64_t hi
    uint32_t lo

cdef enum:
    SLOT_FILL = 0  # exp 0: empty


cdef inline Key digest_key(const uint8_t* d) noexcept nogil:
    cdef Key k
    memcpy(&k.hi, d, 8)
    memcpy(&k.lo, d + 8, 4)
    return k


cdef inline bint slot_empty(const Slot* s) noexcept nogil:
    return s.exp == 0


cdef inline bint slot_holds(const Slot* s, Key k) noexcept nogil:
    return s.hi == k.hi and s.lo == k.lo


cdef inline uint64_t slot_word(const Slot* s) noexcept nogil:
    return s.hi


cdef inline uint64_t key_word(Key k) noexcept nogil:
    return k.hi


cdef inline bint slot_dead(const Slot* s, double now_t) noexcept nogil:
    return <double>s.exp <= now_t  # expired


cdef inline int64_t slot_rank(const Slot* s) noexcept nogil:
    return s.exp  # the soonest expiry goes first


include "_slot_table.pxi"


# -- checks --------------------------------------------------------------------------------

cdef inline double _check_now(double now) except? -1.0:
    if not (-C_NOW_LIMIT <= now <= C_NOW_LIMIT):
        raise ValueError(f"now must be finite and within +-2**40 s, got {now!r}")
    return now


cdef inline double _check_ttl(double ttl) except? -1.0:
    if ttl != ttl:
        raise ValueError("ttl must not be NaN")
    return ttl if ttl <= C_MAX_TTL else C_MAX_TTL


cdef inline const uint8_t* _digest_ptr(object digest) except NULL:
    if not PyBytes_Check(digest):
        raise TypeError(f"digest must be bytes, not {type(digest).__name__}")
    if PyBytes_GET_SIZE(digest) != 16:
        raise ValueError(f"digest must be 16 bytes (an md5), got {PyBytes_GET_SIZE(digest)}")
    return <const uint8_t*>PyBytes_AS_STRING(digest)


cdef class _Batch:
    # acquire_many()'s arguments, all checked before any digest is acquired: n digests
    # at p (kept alive by `digests`/`view`) and their ttls.
    cdef object digests
    cdef const uint8_t[::1] view
    cdef const uint8_t* p
    cdef Py_ssize_t n
    cdef bint scalar
    cdef double one
    cdef const double[::1] per

    def __cinit__(self, digests, double now, ttls):
        cdef Py_ssize_t size
        self.digests = digests
        if PyBytes_Check(digests):
            self.p = <const uint8_t*>PyBytes_AS_STRING(digests)
            size = PyBytes_GET_SIZE(digests)
        else:
            self.view = _args.byte_buffer(digests, "digests")
            size = self.view.shape[0]
            self.p = &self.view[0] if size else NULL
        if size % 16:
            raise ValueError(f"digests length {size} is not a multiple of 16")
        self.n = size // 16
        _check_now(now)
        self.scalar = isinstance(ttls, (int, float))
        cdef Py_ssize_t i
        if self.scalar:
            self.one = _check_ttl(ttls)
        else:
            self.per = _args.typed_array(ttls, "d", self.n, "ttls")
            for i in range(self.n):  # i < n == per.shape[0] (checked by typed_array)
                _check_ttl(self.per[i])

    cdef inline double ttl(self, Py_ssize_t i) noexcept:
        # Digest i's ttl, capped as _check_ttl does (checked above: nothing raises here).
        return self.one if self.scalar else min(self.per[i], C_MAX_TTL)


# -- time ----------------------------------------------------------------------------------

cdef inline uint32_t expiry_tick(double base, double now, double ttl) noexcept nogil:
    # The tick until which an acquire at `now` arms the key: now+ttl rounded up, at least
    # one tick past now. 0 when it does not fit in 32 bits: the table must rebase first.
    cdef double t = ceil((now - base + ttl) * TICKS)
    if t > TICK_MAX:
        return 0
    cdef double lo = floor((now - base) * TICKS) + 1.0
    if t < lo:
        t = lo
    if t < 1.0:
        t = 1.0
    return <uint32_t>t  # t <= 2**31 + 1 after a rebase: now_t <= 2**30, ttl <= 2**30 ticks


cdef inline double rebase(SlotTable* t, double base, double now) noexcept nogil:
    # Moves the time base so that `now` is HEADROOM ticks past it, shifting every stored
    # expiry (expired ones may clamp to 1, still expired); returns the new base.
    cdef long long delta = <long long>floor((now - base) * TICKS) - HEADROOM
    cdef Py_ssize_t i
    cdef Slot* s
    for i in range(t.nslots):
        s = table_slot(t, i)
        if s.exp != 0:
            s.exp = <uint32_t>(s.exp - delta) if s.exp > delta else 1
    return base + <double>delta / TICKS


# -- the single-process acquire ------------------------------------------------------------

cdef inline int acquire_in(SlotTable* t, Py_ssize_t capacity, Key k, double base, double now,
                           double ttl) noexcept nogil:
    # 1 fire (the key is armed until now+ttl), 0 suppressed. ttl > 0, and `base` fits
    # now+ttl (expiry_tick is not 0).
    cdef double now_t = (now - base) * TICKS
    cdef Py_ssize_t i = table_probe(t, k)
    cdef Slot* s = table_slot(t, i)
    if not slot_empty(s):
        if <double>s.exp > now_t:
            return 0
        s.exp = expiry_tick(base, now, ttl)  # re-arm in place
        return 1
    cdef uint32_t exp = expiry_tick(base, now, ttl)
    if t.count >= capacity:
        table_evict(t, k.hi, now_t)
        i = table_empty_slot(t, k.hi)  # the eviction may have shifted this run
    s = table_slot(t, i)
    s.hi = k.hi
    s.lo = k.lo
    s.exp = exp
    t.count += 1
    return 1
