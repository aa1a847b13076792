"""Stage 2: bytes -> typed records, with one reused msgspec decoder.

A datagram, a stream line batch or an HTTP body holds one or more JSON objects separated by
newlines (docs/protocol.md). The common case, one object, is decoded in one call; a batch is
decoded with `decode_lines`, and only when that fails is it split so that one bad line costs
only itself.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from tykevents.model import Record

_decoder = msgspec.json.Decoder(Record)
decode_one = _decoder.decode
_decode_lines = _decoder.decode_lines
DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError

# Reasons a record is rejected; each has its own counter (tykevents_rejected_total{reason}).
MALFORMED = "malformed_json"
INVALID = "invalid_record"
OVERSIZED = "oversized"
MISSING_TYPE = "missing_type"
UNKNOWN_KIND = "unknown_kind"
META_TYPE = "meta_type"
REJECT_REASONS = (MALFORMED, INVALID, OVERSIZED, MISSING_TYPE, UNKNOWN_KIND, META_TYPE)


def decode(data: bytes, reject: Callable[[str, str], None]) -> list[Record]:
    """Decode every record in `data`; call reject(reason, detail) for each bad one."""
    if b"\n" not in data:
        try:
            return [decode_one(data)]
        except DecodeError as e:
            if not data.strip():
                return []
            reject(INVALID if isinstance(e, ValidationError) else MALFORMED, str(e))
            return []
    try:
        return _decode_lines(data)
    except DecodeError:
        pass
    out: list[Record] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(decode_one(line))
        except DecodeError as e:
            reject(INVALID if isinstance(e, ValidationError) else MALFORMED, str(e))
    return out
