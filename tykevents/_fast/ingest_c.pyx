# cython: language_level=3
"""The ingest loop, compiled twin of ingest_py.py (read that file for the rules).

One call runs a whole recvmmsg batch or stream chunk: lines are found with memchr, the
blank and needs-checks tests are byte loops, the common record (an event for a known API
that no handler wants) costs one msgspec decode, three attribute reads and two dict lookups,
and the counters are added to Stats once per call. Everything rarer goes back to the sink.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem, PyDict_GetItemWithError
from cpython.object cimport PyObject, PyTypeObject, Py_TYPE
from cpython.ref cimport Py_DECREF
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_CheckExact, PyUnicode_GET_LENGTH
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcpy

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    int T_OBJECT_EX
    PyTypeObject PyMemberDescr_Type
    PyObject *PyObject_CallOneArg(PyObject *callable, PyObject *arg)  # NULL: an exception is set

cdef inline int raise_pending() except -1:
    """Propagate the exception already set (by a C API call that returned NULL)."""
    return -1


cdef list _NOT_PARKED = []  # never appended to: dispatch parks only when lossless


cdef inline bint _blank(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    """Only bytes.strip() whitespace (\\t \\n \\v \\f \\r and space)."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = s[i]
        if c != 32 and (c < 9 or c > 13):
            return False
    return True


cdef inline bint _needs_checks(const unsigned char *s, Py_ssize_t n, Py_ssize_t shallow) noexcept nogil:
    """decode.needs_checks: not ASCII, or over `shallow` bytes with 3 more per `[`."""
    if n > shallow:
        return True
    cdef Py_ssize_t i = 0, brackets = 0
    cdef uint64_t word, high = 0
    while i + 8 <= n:  # ASCII: no byte with its top bit set, 8 at a time
        memcpy(&word, s + i, 8)
        high |= word
        i += 8
    while i < n:
        high |= s[i]
        i += 1
    if high & 0x8080808080808080ULL:
        return True
    if memchr(s, 91, <size_t>n) == NULL:  # most events hold no array
        return False
    for i in range(n):
        brackets += s[i] == 91
    return n + 3 * brackets > shallow


cdef struct Call:  # one chunk() or datagrams() call: what it read once, what it counted
    PyObject *by_api  # the route table's dict when it may be read directly, else NULL
    PyObject *routes
    Py_ssize_t max_record
    Py_ssize_t records, events, no_handler


cdef class IngestLoop:
    cdef readonly object sink
    cdef readonly object decode
    cdef readonly object decode_one
    cdef readonly object decode_checked
    cdef readonly object failure
    cdef readonly Py_ssize_t shallow
    cdef readonly object plain_lookup
    # The slots of Type and APIID in the record type last seen (msgspec Structs keep fields
    # in slots, read by member descriptors): read directly, as the descriptor would.
    cdef object rec_type
    cdef Py_ssize_t type_at, api_at

    def __init__(self, sink, decode, decode_one, decode_checked, failure, Py_ssize_t shallow, plain_lookup):
        self.sink = sink
        self.decode = decode
        self.decode_one = decode_one
        self.decode_checked = decode_checked
        self.failure = failure
        self.shallow = shallow
        self.plain_lookup = plain_lookup
        self.rec_type = None

    cdef int _learn(self, object rec) except -1:
        """Find the slots of Type and APIID in type(rec), or 0 (read them by name). A class
        that will not say (its __dict__ raises) is read by name: that costs no record."""
        cls = type(rec)
        self.rec_type = cls
        self.type_at = self.api_at = 0
        try:
            t = cls.__dict__.get("Type") if hasattr(cls, "__dict__") else None
            a = cls.__dict__.get("APIID") if hasattr(cls, "__dict__") else None
        except Exception:
            return 0
        if (
            t is not None and a is not None
            and Py_TYPE(t) == &PyMemberDescr_Type and Py_TYPE(a) == &PyMemberDescr_Type
            and (<PyMemberDescrObject *>t).d_member.type == T_OBJECT_EX
            and (<PyMemberDescrObject *>a).d_member.type == T_OBJECT_EX
        ):
            self.type_at = (<PyMemberDescrObject *>t).d_member.offset
            self.api_at = (<PyMemberDescrObject *>a).d_member.offset
        return 0

    cdef tuple _begin(self, Call *call):
        """Fill `call`; returns what it points to, which the caller keeps alive meanwhile."""
        sink = self.sink
        call.max_record = sink.max_record
        routes = sink.routes
        call.routes = <PyObject *>routes
        call.by_api = NULL
        by_api = None
        # RouteTable.lookup itself (not replaced on the instance): its dicts answer the same.
        if getattr(type(routes), "lookup", None) is self.plain_lookup and "lookup" not in getattr(
            routes, "__dict__", ()
        ):
            by_api = routes.by_api
            if PyDict_CheckExact(by_api):
                call.by_api = <PyObject *>by_api
        call.records = call.events = call.no_handler = 0
        return (routes, by_api)

    cdef _end(self, Call *call):
        if call.records or call.events or call.no_handler:
            stats = self.sink.stats
            stats.records += call.records
            stats.events += call.events
            stats.no_handler += call.no_handler

    def chunk(self, data, str transport, bint lossless=False, bint count=True):
        if not PyBytes_CheckExact(data):
            data = bytes(data)
        return self._chunk(b"", data, PyBytes_GET_SIZE(data), transport, lossless, count)

    def parts(self, head, data, Py_ssize_t end, str transport, bint lossless=False):
        if not PyBytes_CheckExact(head):
            head = bytes(head)
        if not PyBytes_CheckExact(data):
            data = bytes(data)
        if end < 0 or end > PyBytes_GET_SIZE(data):
            raise ValueError("end must be within data")
        return self._chunk(head, data, end, transport, lossless, True)

    cdef list _chunk(self, bytes head, bytes data, Py_ssize_t end, str transport, bint lossless, bint count):
        """The chunk head + data[:end], read in place (head holds no newline)."""
        cdef list parked = []
        cdef list into = parked if lossless else _NOT_PARKED
        cdef Call call
        cdef Py_ssize_t start = 0
        cdef const char *nl
        cdef const char *base = PyBytes_AS_STRING(data)
        if count:
            stats = self.sink.stats
            stats.datagrams[transport] += 1
            stats.bytes_in[transport] += PyBytes_GET_SIZE(head) + end
        held = self._begin(&call)
        try:
            if PyBytes_GET_SIZE(head):  # the line it starts ends in data, at its first newline
                nl = <const char *>memchr(base, 10, <size_t>end)
                start = end if nl == NULL else nl - base
                first = head + PyBytes_FromStringAndSize(base, start)
                self._lines(first, 0, PyBytes_GET_SIZE(first), transport, into, lossless, &call)
                start += 1
                if start > end:
                    return parked
            self._lines(data, start, end, transport, into, lossless, &call)
        finally:
            self._end(&call)
        return parked

    def datagrams(self, list batch, str transport):
        cdef Py_ssize_t total = 0
        cdef Call call
        for data in batch:
            total += len(data)
        stats = self.sink.stats
        stats.datagrams[transport] += len(batch)
        stats.bytes_in[transport] += total
        held = self._begin(&call)
        try:
            for data in batch:
                if not PyBytes_CheckExact(data):
                    data = bytes(data)
                self._lines(data, 0, PyBytes_GET_SIZE(data), transport, _NOT_PARKED, False, &call)
        finally:
            self._end(&call)

    cdef int _lines(
        self, bytes data, Py_ssize_t pos, Py_ssize_t stop, str transport, list parked, bint lossless, Call *call
    ) except -1:
        """Each line of data[pos:stop]."""
        cdef const unsigned char *base = <const unsigned char *>PyBytes_AS_STRING(data)
        cdef Py_ssize_t end, n
        cdef bint whole = pos == 0 and stop == PyBytes_GET_SIZE(data)
        cdef const unsigned char *nl
        cdef object line
        while pos <= stop:
            nl = <const unsigned char *>memchr(base + pos, 10, <size_t>(stop - pos))
            end = stop if nl == NULL else nl - base
            n = end - pos
            if n > call.max_record:
                self.sink.oversized(n, transport)
            elif n and not _blank(base + pos, n):
                line = data if whole and nl == NULL and pos == 0 else PyBytes_FromStringAndSize(
                    <const char *>base + pos, n
                )
                self._record(line, _needs_checks(base + pos, n, self.shallow), transport, parked, lossless, call)
            pos = end + 1
        return 0

    cdef int _record(
        self, bytes line, bint checks, str transport, list parked, bint lossless, Call *call
    ) except -1:
        # The common record (decodes, has a type, a known API, no handler) sets up no
        # exception frame: the decoder is called through the C API and only its failure, and
        # the sink calls that may raise, take the guarded paths.
        cdef object rec
        cdef PyObject *got
        cdef PyObject *found
        cdef PyObject *slot
        cdef PyObject *by_type
        if checks:
            rec = self.decode_checked(line, self.sink.reject)
            if rec is None:
                return 0
        else:
            got = PyObject_CallOneArg(<PyObject *>self.decode_one, <PyObject *>line)
            if got == NULL:
                return self._decode_failed(line)
            rec = <object>got
            Py_DECREF(rec)  # the call's own reference: rec holds one
        call.records += 1
        if <object>Py_TYPE(rec) is not self.rec_type:
            self._learn(rec)
        slot = NULL
        if self.type_at:
            slot = (<PyObject **>(<char *>(<PyObject *>rec) + self.type_at))[0]
        if slot == NULL or call.by_api == NULL or not PyUnicode_CheckExact(<object>slot):
            return self._route_slow(rec, transport, parked, lossless, call)
        typ = <object>slot
        if not PyUnicode_GET_LENGTH(typ):
            return self._route_slow(rec, transport, parked, lossless, call)
        slot = NULL
        if self.api_at:
            slot = (<PyObject **>(<char *>(<PyObject *>rec) + self.api_at))[0]
        if slot == NULL or not PyUnicode_CheckExact(<object>slot):
            return self._route_slow(rec, transport, parked, lossless, call)
        api_id = <object>slot
        # exact str keys in exact dicts: these lookups cannot raise
        found = PyDict_GetItem(<object>call.by_api, api_id)
        if found == NULL or not PyDict_CheckExact(<object>found):
            return self._route_slow(rec, transport, parked, lossless, call)
        by_type = PyDict_GetItem(<object>found, typ)
        if by_type == NULL or (PyTuple_CheckExact(<object>by_type) and PyTuple_GET_SIZE(<object>by_type) == 0):
            call.events += 1
            call.no_handler += 1
            return 0
        return self._route_slow(rec, transport, parked, lossless, call)

    cdef int _decode_failed(self, bytes line) except -1:
        """The decoder raised (its exception is set): reject the record, or re-raise what is
        not an Exception (KeyboardInterrupt, SystemExit), as `except Exception` would."""
        try:
            raise_pending()
        except Exception as e:
            why = self.failure(line, e)
            if why is not None:
                self.sink.reject(*why)
        return 0

    cdef int _route_slow(
        self, object rec, str transport, list parked, bint lossless, Call *call
    ) except -1:
        """Every record the fast path does not finish: untyped, unknown API, handlers to run,
        or a route table read through its own lookup()."""
        cdef PyObject *found
        try:
            typ = rec.Type
            if not typ:
                self.sink.untyped(rec, parked, lossless)
                return 0
            call.events += 1
            api_id = rec.APIID
            if call.by_api != NULL:
                # With error: an APIID or Type that cannot be hashed is the record's failure
                # (and an interrupt from its __hash__ goes through), as in the pure twin.
                found = PyDict_GetItemWithError(<object>call.by_api, api_id)
                if found == NULL:
                    self.sink.unknown_api(typ, api_id)
                    return 0
                by_type = <object>found
                if PyDict_CheckExact(by_type):
                    found = PyDict_GetItemWithError(by_type, typ)
                    handlers = () if found == NULL else <object>found
                else:
                    handlers = by_type.get(typ, ())
            else:
                handlers = (<object>call.routes).lookup(api_id, typ)
                if handlers is None:
                    self.sink.unknown_api(typ, api_id)
                    return 0
            if not handlers:
                call.no_handler += 1
                return 0
            self.sink.dispatch(handlers, typ, rec.Meta, rec.TimeStamp, api_id, rec.OrgID, parked, lossless)
        except Exception:
            self.sink.route_failed(transport)
        return 0
