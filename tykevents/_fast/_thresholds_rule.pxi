# The quota-threshold rule (thresholds_py.py's), once for both compiled tables:
# thresholds_c.pyx (private) and shared_thresholds_c.pyx (shared memory). Include it after
# `ctypedef <struct of key, period, fired> Slot`: it gives _slot_table.pxi its slot callbacks,
# includes it, then adds the argument checks, the level arithmetic and the per-key step.
from libc.stdint cimport int64_t, uint32_t, uint64_t, uint8_t
from libc.math cimport INFINITY, nextafterf
from cpython.long cimport PyLong_Check
from cpython.number cimport PyNumber_Index

from tykevents._fast import _args
from tykevents._fast.thresholds_py import FLOAT32_MAX

cdef uint32_t EMPTY = 0xFFFFFFFF
cdef int64_t PERIOD_MAX = 0xFFFFFFFE
cdef double LEVEL_MAX = 100.0


# -- the slot, as _slot_table.pxi asks for it ----------------------------------------------

ctypedef uint64_t Key

cdef enum:
    SLOT_FILL = 0xFF  # every byte 0xFF: period EMPTY


cdef inline bint slot_empty(const Slot* s) noexcept nogil:
    return s.period == EMPTY


cdef inline bint slot_holds(const Slot* s, Key k) noexcept nogil:
    return s.key == k


cdef inline uint64_t slot_word(const Slot* s) noexcept nogil:
    return s.key


cdef inline uint64_t key_word(Key k) noexcept nogil:
    return k


cdef inline bint slot_dead(const Slot* s, double now) noexcept nogil:
    # Carries nothing: nothing fired, or a renewing period that ended more than 1 s ago.
    return s.fired == 0.0 or (s.period != 0 and <double>s.period + 1.0 < now)


cdef inline int64_t slot_rank(const Slot* s) noexcept nogil:
    # The period that ends first goes first; non-renewing ones (period 0) last.
    return s.period if s.period != 0 else (<int64_t>1 << 32)


include "_slot_table.pxi"


# -- checks and arithmetic -----------------------------------------------------------------

cdef inline float f32_up(double x) noexcept nogil:
    cdef float f = <float>x
    if <double>f < x:
        f = nextafterf(f, INFINITY)
    return f


cdef inline int64_t _i64(object x) except? -1:
    # Strict, as the pure twin: an int (or __index__), never a float.
    if not PyLong_Check(x):
        x = PyNumber_Index(x)
    return <int64_t>x


cdef inline uint64_t _u64(object x) except? 0xFFFFFFFFFFFFFFFF:
    if not PyLong_Check(x):
        x = PyNumber_Index(x)
    return <uint64_t>x


cdef inline int _check_now(double now) except -1:
    if now - now != 0.0:
        raise ValueError(f"now must be finite, got {now!r}")
    return 0


cdef inline int _check_state(object period, double fired_level, uint32_t* p_out) except -1:
    # load_state's arguments; the period is clamped as the rule stores it.
    cdef int64_t p = _i64(period)
    if p < 0:
        raise ValueError(f"period must be >= 0, got {p}")
    if not (0.0 <= fired_level <= FLOAT32_MAX):
        raise ValueError(f"fired_level must be finite and >= 0, got {fired_level!r}")
    p_out[0] = <uint32_t>(p if p <= PERIOD_MAX else PERIOD_MAX)
    return 0


cdef inline double _usage(int64_t qmax, int64_t rem) noexcept nogil:
    # float(qmax - rem) with the exact difference: for rem < 0 it can pass INT64_MAX, but
    # qmax + |rem| <= 2**64 - 1 fits in uint64. Only called with qmax > 0.
    cdef double diff
    if rem >= 0:
        diff = <double>(qmax - rem)
    else:
        diff = <double>(<uint64_t>qmax + <uint64_t>(-(rem + 1)) + 1)
    return diff / <double>qmax * 100.0


cdef inline double _top_level(object limits, double g, double usage, bint use) except? -1.0:
    # Converts every limit (so a bad one raises before any state changes) and returns the
    # highest crossed level, 0 if none. `use` is false when usage is meaningless.
    cdef double top = 0.0
    cdef double t
    if use and g > 0.0 and usage >= g:
        top = g
    for item in limits:
        t = item
        if use and 0.0 < t <= LEVEL_MAX and t != g and usage >= t and t > top:
            top = t
    return top


cdef inline double _top_of(const double* lv, Py_ssize_t lo, Py_ssize_t hi, double g,
                           double usage) noexcept nogil:
    # _top_level over lv[lo:hi], converted already.
    cdef double top = g if g > 0.0 and usage >= g else 0.0
    cdef double t
    cdef Py_ssize_t j
    for j in range(lo, hi):
        t = lv[j]
        if 0.0 < t <= LEVEL_MAX and t != g and usage >= t and t > top:
            top = t
    return top


cdef inline double _one(object key_hash, object quota_max, object quota_remaining,
                        object quota_renews, double now, double g, object trigger_limits,
                        uint64_t* key, int64_t* qmax, int64_t* renews,
                        double* usage) except? -1.0:
    # evaluate()'s arguments, checked and converted; returns the highest crossed level.
    key[0] = _u64(key_hash)
    qmax[0] = _i64(quota_max)
    cdef int64_t rem = _i64(quota_remaining)
    renews[0] = _i64(quota_renews)
    _check_now(now)
    usage[0] = _usage(qmax[0], rem) if qmax[0] > 0 else 0.0
    return _top_level(trigger_limits, g, usage[0], qmax[0] > 0)


cdef class _Batch:
    # evaluate_many()'s columns, checked (every column has n items) and converted.
    cdef const uint64_t[::1] keys
    cdef const int64_t[::1] qmax
    cdef const int64_t[::1] rem
    cdef const int64_t[::1] renews
    cdef const uint8_t[::1] flags
    cdef const double[::1] lv
    cdef const int64_t[::1] offs
    cdef bint per_record
    cdef Py_ssize_t n
    cdef const uint8_t* words  # the keys as bytes, for the prefetch; NULL when n == 0

    def __cinit__(self, key_hashes, quota_max, quota_remaining, quota_renews, double now,
                  trigger_limits, renewing, limit_offsets):
        self.keys = _args.typed_array(key_hashes, "Q", None, "key_hashes")
        cdef Py_ssize_t n = self.keys.shape[0]
        self.n = n
        self.qmax = _args.typed_array(quota_max, "q", n, "quota_max")
        self.rem = _args.typed_array(quota_remaining, "q", n, "quota_remaining")
        self.renews = _args.typed_array(quota_renews, "q", n, "quota_renews")
        _check_now(now)
        self.flags = _args.flags(renewing, n, "renewing")
        self.lv = _args.typed_array(trigger_limits, "d", None, "trigger_limits")
        self.per_record = limit_offsets is not None
        if self.per_record:
            self.offs = _args.offsets(limit_offsets, n, self.lv.shape[0], "limit_offsets")
        self.words = <const uint8_t*>&self.keys[0] if n else NULL

    cdef inline double top(self, Py_ssize_t i, double g, double* usage) noexcept:
        # Record i's highest crossed level and its usage (both 0 when quota_max <= 0).
        usage[0] = 0.0
        if self.qmax[i] <= 0:
            return 0.0
        usage[0] = _usage(self.qmax[i], self.rem[i])
        cdef Py_ssize_t lo = 0
        cdef Py_ssize_t hi = self.lv.shape[0]
        if self.per_record:
            lo = self.offs[i]
            hi = self.offs[i + 1]  # 0 <= lo <= hi <= len(lv) (checked by _args.offsets)
        return _top_of(&self.lv[0] if hi > lo else NULL, lo, hi, g, usage[0])


# -- the rule ------------------------------------------------------------------------------

cdef inline int64_t step_period(int64_t qmax, int64_t renews, double now,
                                bint renewing) noexcept nogil:
    # The period a record counts in: 0 non-renewing, > 0 renewing; -1 when it cannot fire
    # (no quota, or a period already over).
    if qmax <= 0:
        return -1
    if not (renewing and renews > 0):
        return 0
    if now > <double>renews:
        return -1
    return renews if renews <= PERIOD_MAX else PERIOD_MAX


cdef inline int next_level(int64_t* p, float* fired, uint32_t period, double top,
                           double usage) noexcept nogil:
    # The rule for a stored state (*p, *fired), updated in place: 1 if `top` fires, 0 if not,
    # -1 for a record of an earlier period (state to be left unchanged).
    if period == 0:
        if p[0] != 0:
            p[0] = 0
            fired[0] = 0.0
        elif usage < fired[0] and f32_up(usage) < fired[0]:
            fired[0] = 0.0
    elif p[0] == 0 or <int64_t>period > p[0] + 1:
        p[0] = period
        fired[0] = 0.0
    elif <int64_t>period + 1 < p[0]:
        return -1
    if top > fired[0]:
        fired[0] = f32_up(top)
        return 1
    return 0
