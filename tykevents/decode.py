"""Stage 2: bytes -> typed records, with one reused msgspec decoder.

A datagram, a stream line batch or an HTTP body holds one or more JSON objects separated by
newlines (docs/protocol.md). Each record is decoded on its own, so one bad record costs only
itself: whatever goes wrong (bad JSON, wrong types, bad UTF-8, too deep, an unexpected
exception) is reported through `reject(reason, detail)` and the other records go on.

Before the decoder sees a record its nesting depth is checked (at most MAX_DEPTH levels)
without recursion: msgspec recurses on the C stack, guarded only by the interpreter's
recursion limit (RecursionError near 1,000 levels, fewer on a deep Python stack; before
Python 3.14 a thread with a small stack can overflow first), and orjson stops at 1,024 with
an error of its own. After it, the record's UTF-8 is checked. The common record (ASCII, short,
no `[`) is proved fine by three cheap tests (`needs_checks`) and pays for neither.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, repeat
from typing import Any

import msgspec
import orjson

from tykevents.model import Record

_decoder = msgspec.json.Decoder(Record)
decode_one = _decoder.decode
DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError

# Reasons a record is rejected; each has its own counter (tykevents_rejected_total{reason}),
# all listed in docs/protocol.md ("What happens to bad input").
MALFORMED = "malformed_json"
INVALID = "invalid_record"
OVERSIZED = "oversized"
MISSING_TYPE = "missing_type"
UNKNOWN_KIND = "unknown_kind"
META_TYPE = "meta_type"
TOO_DEEP = "too_deep"
BAD_UTF8 = "invalid_utf8"
INTERNAL = "internal_error"
REJECT_REASONS = (
    MALFORMED,
    INVALID,
    OVERSIZED,
    MISSING_TYPE,
    UNKNOWN_KIND,
    META_TYPE,
    TOO_DEEP,
    BAD_UTF8,
    INTERNAL,
)

# Objects and arrays nested deeper than this are rejected (TOO_DEEP). Tyk's deepest Meta
# (HostInfo.Headers) nests 4 levels; msgspec and orjson both stay far from their own limits.
MAX_DEPTH = 128
# A parser nests one level per `[` (1 byte) or per `{"":` (4 bytes: an object parses a key
# before its value), so n bytes holding a `[` characters nest at most (n + 3 + 3a) / 4 levels:
# a record of at most SHALLOW bytes without `[` cannot be too deep.
SHALLOW = 4 * MAX_DEPTH
NL = 10  # b"\n" as an int: `int in bytes` is a memchr, `bytes in bytes` first fails an int cast
OPEN_BRACKET = 91  # b"["

Reject = Callable[[str, str], None]

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 per opener, -1 per closer
_DEEP_RUN = b"\x01" * (MAX_DEPTH + 1)  # that many openers in a row: too deep, no need to add up
_SCAN_PART = 4096


def _steps(data: bytes) -> bytes:
    """The brackets of `data` outside strings, as _STEP bytes."""
    if 92 in data:  # a backslash: drop escape pairs first, so that \" does not end a string
        data = _ESCAPE.sub(b"", data)
    outside = b"".join(data.split(b'"')[::2])  # even pieces lie outside strings
    return outside.translate(_STEP, _NOT_BRACKET)


def _peak(steps: bytes, stop: int) -> int:
    """The highest running sum of `steps`, added up in parts so as to stop once past `stop`."""
    signed = array("b", steps)
    depth = peak = 0
    for i in range(0, len(signed), _SCAN_PART):
        part = signed[i : i + _SCAN_PART]
        peak = max(peak, max(accumulate(part, initial=depth)))
        if peak > stop:
            break
        depth += sum(part)
    return peak


def nesting_depth(data: bytes, stop: int = MAX_DEPTH) -> int:
    """How many objects and arrays are open at once at most in `data`, brackets inside strings
    not counted, computed without recursion. Stops early once the depth passes `stop`. On
    input that is not JSON it is an upper bound of how deep a parser gets before it fails."""
    return _peak(_steps(data), stop)


def too_deep(data: bytes) -> bool:
    """Whether `data` nests deeper than MAX_DEPTH: cheap upper bounds first, the scan last."""
    n = len(data)
    if n <= MAX_DEPTH:
        return False
    arrays = data.count(b"[")
    if n + 3 * arrays <= SHALLOW or data.count(b"{") + arrays <= MAX_DEPTH:
        return False
    steps = _steps(data)
    return _DEEP_RUN in steps or _peak(steps, MAX_DEPTH) > MAX_DEPTH


def failure(data: bytes, exc: Exception) -> tuple[str, str] | None:
    """Why decoding `data` raised `exc`: (reason, detail), or None for blank input (no record)."""
    if isinstance(exc, DecodeError):
        if not data.strip():
            return None
        if isinstance(exc, ValidationError):
            return INVALID, str(exc)
        return (BAD_UTF8 if str(exc).startswith("Invalid UTF-8") else MALFORMED), str(exc)
    if isinstance(exc, RecursionError):  # unreachable after too_deep(); kept as a last guard
        return TOO_DEEP, "the decoder ran out of stack"
    return INTERNAL, f"{type(exc).__name__} while decoding: {exc}"


def decode_checked(data: bytes, reject: Reject) -> Record | None:
    """One record through every check: its depth before decoding, its UTF-8 after (msgspec
    checks the strings it decodes, not the raw Meta nor skipped fields). The Record, or None
    after reject(). `decode_record` skips the checks when `needs_checks` says they cannot fail."""
    if too_deep(data):
        reject(TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels")
        return None
    try:
        rec = decode_one(data)
    except Exception as e:
        why = failure(data, e)
        if why is not None:
            reject(*why)
        return None
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError as e:
            reject(BAD_UTF8, f"not UTF-8 at byte {e.start}")
            return None
    return rec


def needs_checks(data: bytes) -> bool:
    """False for the common record, which cannot be too deep nor bad UTF-8: ASCII, and at
    most SHALLOW bytes with 3 more counted per `[`. The ingest loop (_fast/ingest_*) inlines it."""
    n = len(data)
    if OPEN_BRACKET in data:  # a memchr; most events hold no array
        n += 3 * data.count(b"[")
    return n > SHALLOW or not data.isascii()


def decode_record(data: bytes, reject: Reject) -> Record | None:
    """One record (a line without its newline): the Record, or None after reject()."""
    if needs_checks(data):
        return decode_checked(data, reject)
    try:
        return decode_one(data)
    except Exception as e:
        why = failure(data, e)
        if why is not None:
            reject(*why)
        return None


def decode(data: bytes, reject: Reject) -> list[Record]:
    """Decode every record in `data`; call reject(reason, detail) for each bad one. Never raises."""
    if NL not in data:
        rec = decode_record(data, reject)
        return [] if rec is None else [rec]
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()
    # The common batch: needs_checks() false for every line (bounded from above: the longest
    # line plus the most `[` in any line), decoded without a Python loop.
    bound = max(map(len, lines), default=0)
    if OPEN_BRACKET in data:
        bound += 3 * max(map(bytes.count, lines, repeat(b"[")))
    if bound <= SHALLOW and data.isascii():
        try:
            return list(map(decode_one, lines))
        except Exception:
            pass  # a bad or blank line: one at a time below
    out: list[Record] = []
    for line in lines:
        if not line.strip():
            continue
        rec = decode_record(line, reject)
        if rec is not None:
            out.append(rec)
    return out


def array_lines(items: Iterable[Any], reject: Reject) -> Iterator[bytes]:
    """The elements of a JSON array body (parsed whole by orjson, 1,024 levels at most) as
    record lines. orjson writes 254 levels at most: a deeper element is rejected here
    (TOO_DEEP), alone; the others go on to be judged as lines are."""
    for item in items:
        try:
            yield orjson.dumps(item)
        except orjson.JSONEncodeError:
            reject(TOO_DEEP, f"an array element nested deeper than {MAX_DEPTH} levels")
