"""The payload of a coprocess.Event, read straight from its protobuf bytes.

protobuf's parser refuses a whole message whose string field is not UTF-8; read by hand, such
a payload reaches the pipeline, which rejects and counts it (invalid_utf8) as on any other
transport. It also spares a str round trip: the pipeline wants bytes.
"""

from __future__ import annotations

_PAYLOAD_KEY = 1 << 3 | 2  # field 1, wire type 2 (length-delimited)


def event_payload(msg: bytes) -> bytes | None:
    """Field 1 of an Event (b"" when absent; the last one wins, as protobuf merges); None if
    `msg` is not a protobuf message. Other fields are skipped, as unknown fields are."""
    payload = b""
    i, n = 0, len(msg)
    while i < n:
        key, i = _varint(msg, i)
        wire = key & 7
        if key >> 3 == 0 or i < 0:
            return None
        if wire == 0:
            _, i = _varint(msg, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            size, i = _varint(msg, i)
            if i < 0 or i + size > n:
                return None
            if key == _PAYLOAD_KEY:
                payload = msg[i : i + size]
            i += size
        else:  # groups (3, 4) are proto2's, and 6, 7 do not exist
            return None
        if i < 0 or i > n:
            return None
    return payload


def _varint(msg: bytes, i: int) -> tuple[int, int]:
    """(value, next index), or (0, -1) if the varint runs past the end or over 10 bytes."""
    value = shift = 0
    for j in range(i, min(i + 10, len(msg))):
        b = msg[j]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, j + 1
        shift += 7
    return 0, -1
