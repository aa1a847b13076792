"""The types that cross pipeline stages.

A record on the wire is one JSON object (see docs/protocol.md). Decoding keeps `Meta` as raw
JSON bytes: routing needs only `APIID` and `Type`, and most events on a busy gateway match no
handler, so Meta is parsed only when a handler actually runs (EventContext.meta).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson


class MetaTypeError(ValueError):
    """Meta has a value of the wrong JSON type for the Go struct of its event type
    (encoding/json's UnmarshalTypeError): `field` is the Go path (`HostInfo.Timeout`),
    `expected` the Go type, `got` the JSON kind (`number`, `string 'x'`, ...), `struct` the
    Go struct without its package. With `field` alone it is a free-form message."""

    def __init__(self, field: str, expected: str = "", got: str = "", struct: str = "") -> None:
        self.field, self.expected, self.got, self.struct = field, expected, got, struct
        if not expected:
            super().__init__(field)
            return
        where = f"{struct}.{field}" if struct else field
        super().__init__(f"cannot unmarshal {got} into Go struct field {where} of type {expected}")


class Spec(msgspec.Struct, gc=False):
    """Tyk's coprocess envelope `spec` object."""

    APIID: str = ""
    OrgID: str = ""


class Envelope(msgspec.Struct, gc=False):
    """Tyk's EventMessage (`Type`, `Meta`, `TimeStamp`) as found inside a coprocess envelope."""

    Type: str = ""
    Meta: msgspec.Raw = None  # type: ignore[assignment]  # any JSON value; None when absent
    TimeStamp: str = ""


class Record(msgspec.Struct, omit_defaults=True, gc=False):
    """One wire record. All fields are optional so that one decoder reads every kind.
    gc=False: records hold only strings, raw bytes and acyclic structs, so the garbage
    collector need not track the hundreds of thousands made per second.

    - event record:  {"Type", "Meta", "TimeStamp", "APIID", "OrgID"}
    - coprocess envelope: {"message": {"Type", "Meta", "TimeStamp"}, "spec": {"APIID", "OrgID"}}
    - quota record:  {"Kind": "quota", ...} (decoded further by the monitor stage)
    """

    Type: str = ""
    Meta: msgspec.Raw = None  # type: ignore[assignment]  # any JSON value; None when absent
    TimeStamp: str = ""
    APIID: str = ""
    OrgID: str = ""
    Kind: str = ""
    message: Envelope | None = None
    spec: Spec | None = None
    Key: str = ""
    Session: msgspec.Raw = None  # type: ignore[assignment]


class Event:
    """A decoded event, shared (read-only) by every handler it is routed to.

    Meta stays raw JSON until a handler asks for it; the parsed forms are cached so that
    several handlers of one event parse it once.
    """

    __slots__ = (
        "type",
        "meta_raw",
        "timestamp",
        "api_id",
        "org_id",
        "_meta",
        "_message_json",
        "_message_text",
        "template_cache",
    )

    def __init__(self, type: str, meta_raw: bytes | None, timestamp: str, api_id: str, org_id: str) -> None:
        self.type = type
        self.meta_raw = meta_raw
        self.timestamp = timestamp
        self.api_id = api_id
        self.org_id = org_id
        self._meta: Any = _UNSET
        self._message_json: bytes | None = None
        self._message_text: str | None = None
        self.template_cache: Any = None  # tykmeta.event_template_data's, shared by this event's webhooks

    def meta(self) -> Any:
        """Meta as plain JSON values (dict, list, str, int, float, bool, None)."""
        if self._meta is _UNSET:
            self._meta = None if self.meta_raw is None else orjson.loads(memoryview(self.meta_raw))
        return self._meta

    def message_json(self) -> bytes:
        """Tyk's EventMessage JSON: {"Type","Meta","TimeStamp"}, as json.Marshal writes it."""
        if self._message_json is None:
            meta = self.meta_raw if self.meta_raw is not None else b"null"
            self._message_json = b"".join(
                (
                    b'{"Type":',
                    orjson.dumps(self.type),
                    b',"Meta":',
                    meta,
                    b',"TimeStamp":',
                    orjson.dumps(self.timestamp),
                    b"}",
                )
            )
        return self._message_json

    def message_text(self) -> str:
        """message_json() as str (what JS handlers are given)."""
        if self._message_text is None:
            self._message_text = self.message_json().decode()
        return self._message_text

    def __repr__(self) -> str:  # keys may be inside Meta: never print it
        return f"Event(type={self.type!r}, api_id={self.api_id!r}, org_id={self.org_id!r})"


_UNSET: Any = object()
