"""A decoded event -> the value Tyk's webhook templates see (docs/protocol.md).

Tyk executes templates over `config.EventMessage{Type, Meta, TimeStamp}` where Meta is the Go
struct fired for the event type. Gateways send us that message as JSON, so the JSON keys (Go's
json tags: `org_id`, `expires_at`, HostInfo's `name`/`message`) are mapped back to the Go field
names templates use (`.Meta.OrgID`), with Go's types: ints stay ints, ExpiresAt is a time.Time,
HostInfo.Timeout a Duration. A struct has every field, so a missing JSON key is the zero value
and a field the struct lacks is an execution error, as in Tyk. Embedded structs are promoted,
and their names are fields too (StructFields); `.Type` is Tyk's named type event.Event.

Decoding follows encoding/json: exact key match first, then a case-insensitive one; unknown
keys are ignored; null leaves the zero value; a value of the wrong JSON type is a
MetaTypeError (the daemon counts it as a "wrong type in Meta" rejection).
"""

from __future__ import annotations

from typing import Any

from tykevents.golang.json import fits_int64, go_fold, json_kind
from tykevents.golang.time import GoDuration, GoTime, parse_rfc3339nano
from tykevents.gotemplate.values import (
    IFACE_FIELDS,
    GoMap,
    GoSlice,
    GoString,
    GoStruct,
    register_json_names,
    register_struct_layout,
)
from tykevents.model import Event, MetaTypeError  # MetaTypeError: importable from here too


class GoInt64(int):
    """A Go int64 field (TriggerLimit): an int that %T names int64."""

    _go_type = "int64"
    __slots__ = ()


class BreakerEvent(int):
    """circuit.BreakerEvent: an int enum without String(), so it prints as its number."""

    _go_type = "circuit.BreakerEvent"
    __slots__ = ()


class EventName(GoString):
    """event.Event, the named string type of EventMessage.Type: %T and Go's error messages
    name it, and a `string` parameter (printf's format, as_rfc3339_from_string) refuses it."""

    _go_type = "event.Event"
    __slots__ = ()


# ---------------------------------------------------------------------------------------------
# Struct shapes: (Go field, JSON key, Go type). Embedded structs: ("embed", Go field, type name).

_DEFAULT = "model.EventMetaDefault"
_EMBED_DEFAULT = ("embed", "EventMetaDefault", _DEFAULT)


def _same(*names: str) -> list[tuple[str, str, str]]:
    return [(n, n, "string") for n in names]


STRUCTS: dict[str, list[tuple[str, str, str]]] = {
    _DEFAULT: _same("Message", "OriginatingRequest"),
    "gateway.EventKeyFailureMeta": [_EMBED_DEFAULT, *_same("Path", "Origin", "Key")],
    "gateway.EventVersionFailureMeta": [_EMBED_DEFAULT, *_same("Path", "Origin", "Key", "Reason")],
    "gateway.EventCurcuitBreakerMeta": [
        _EMBED_DEFAULT,
        *_same("Path", "APIID"),
        ("CircuitEvent", "CircuitEvent", "circuit.BreakerEvent"),
    ],
    "gateway.EventHostStatusMeta": [_EMBED_DEFAULT, ("HostInfo", "HostInfo", "gateway.HostHealthReport")],
    "gateway.HostData": [
        *_same("CheckURL", "Protocol"),
        ("Timeout", "Timeout", "time.Duration"),
        ("EnableProxyProtocol", "EnableProxyProtocol", "bool"),
        ("Commands", "Commands", "[]apidef.CheckCommand"),
        *_same("Method"),
        ("Headers", "Headers", "map[string]string"),
        *_same("Body"),
        ("MetaData", "MetaData", "map[string]string"),
    ],
    "gateway.HostHealthReport": [
        ("embed", "HostData", "gateway.HostData"),
        ("ResponseCode", "ResponseCode", "int"),
        ("Latency", "Latency", "float64"),
        ("IsTCPError", "IsTCPError", "bool"),
    ],
    "apidef.CheckCommand": [("Name", "name", "string"), ("Message", "message", "string")],
    "gateway.EventTriggerExceededMeta": [
        _EMBED_DEFAULT,
        ("OrgID", "org_id", "string"),
        ("Key", "key", "string"),
        ("TriggerLimit", "trigger_limit", "int64"),
        ("UsagePercentage", "usage_percentage", "int64"),
    ],
    "gateway.EventTokenMeta": [_EMBED_DEFAULT, *_same("Org", "Key")],
    "upstreamoauth.EventUpstreamOAuthMeta": [_EMBED_DEFAULT, *_same("APIID")],
    "certcheck.EventCertificateExpiringSoonMeta": [
        _EMBED_DEFAULT,
        ("CertID", "cert_id", "string"),
        ("CertName", "cert_name", "string"),
        ("ExpiresAt", "expires_at", "time.Time"),
        ("DaysRemaining", "days_remaining", "int"),
        ("APIID", "api_id", "string"),
        ("CertRole", "cert_role", "string"),
    ],
    "certcheck.EventCertificateExpiredMeta": [
        _EMBED_DEFAULT,
        ("CertID", "cert_id", "string"),
        ("CertName", "cert_name", "string"),
        ("ExpiredAt", "expired_at", "time.Time"),
        ("DaysSinceExpiry", "days_since_expiry", "int"),
        ("APIID", "api_id", "string"),
        ("CertRole", "cert_role", "string"),
    ],
}

_KEY_FAILURE = "gateway.EventKeyFailureMeta"
_BREAKER = "gateway.EventCurcuitBreakerMeta"
_TOKEN = "gateway.EventTokenMeta"

# Event type -> Meta struct (docs/protocol.md, "Meta by event"). Absent: map metas, custom events.
EVENT_META_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "QuotaExceeded",
            "RatelimitExceeded",
            "RateLimitSmoothingUp",
            "RateLimitSmoothingDown",
            "AuthFailure",
            "KeyExpired",
            "OrgQuotaExceeded",
            "OrgRateLimitExceeded",
        ),
        _KEY_FAILURE,
    ),
    "VersionFailure": "gateway.EventVersionFailureMeta",
    "TriggerExceeded": "gateway.EventTriggerExceededMeta",
    **dict.fromkeys(("BreakerTriggered", "BreakerTripped", "BreakerReset"), _BREAKER),
    "HostDown": "gateway.EventHostStatusMeta",
    "HostUp": "gateway.EventHostStatusMeta",
    **dict.fromkeys(("TokenCreated", "TokenUpdated", "TokenDeleted"), _TOKEN),
    "UpstreamOAuthError": "upstreamoauth.EventUpstreamOAuthMeta",
    "CertificateExpiringSoon": "certcheck.EventCertificateExpiringSoonMeta",
    "CertificateExpired": "certcheck.EventCertificateExpiredMeta",
}

# Events whose Meta is a map[string]interface{}: keys are used as they come (`.Meta.path`).
MAP_META_EVENTS = frozenset({"OAuth2ScopeCheckFailed", "OAuth2ExchangeSucceeded", "OAuth2ExchangeFailed"})

EVENT_MESSAGE = "config.EventMessage"


def _flat_fields(type_name: str) -> list[tuple[str, str, str]]:
    out = []
    for item in STRUCTS[type_name]:
        if item[0] == "embed":
            out.extend(_flat_fields(item[2]))
        else:
            out.append(item)
    return out


_FLAT = {name: _flat_fields(name) for name in STRUCTS}
# Embedded field name -> its struct type, per struct type that embeds any.
_EMBEDS = {t: {i[1]: i[2] for i in items if i[0] == "embed"} for t, items in STRUCTS.items()}
_EMBEDS = {t: e for t, e in _EMBEDS.items() if e}

# Go field -> JSON key, per struct type (embedded fields promoted), for reuse elsewhere.
GO_TO_JSON: dict[str, dict[str, str]] = {t: {g: j for g, j, _ in f} for t, f in _FLAT.items()}
JSON_TO_GO: dict[str, dict[str, str]] = {t: {j: g for g, j in m.items()} for t, m in GO_TO_JSON.items()}


def meta_type_for(event_type: str) -> str | None:
    """The Go struct Tyk fires `event_type` with, or None (map meta or custom event)."""
    return EVENT_META_TYPES.get(event_type)


def json_key(event_type: str, go_field: str) -> str:
    """The JSON key of Meta field `go_field` for this event (`OrgID` -> `org_id`)."""
    t = EVENT_META_TYPES.get(event_type)
    return GO_TO_JSON.get(t, {}).get(go_field, go_field) if t else go_field


for _name, _items in STRUCTS.items():
    register_struct_layout(_name, tuple((i[1], i[2]) if i[0] == "embed" else i[0] for i in _items))
register_struct_layout(EVENT_MESSAGE, ("Type", "Meta", "TimeStamp"))
for _name, _names in GO_TO_JSON.items():
    register_json_names(_name, _names)
IFACE_FIELDS[EVENT_MESSAGE] = frozenset({"Meta"})


# ---------------------------------------------------------------------------------------------
# struct values


class StructFields(dict):
    """The fields of a struct that embeds others (every Meta embeds EventMetaDefault,
    HostHealthReport embeds HostData). The items are its fields with the embedded ones
    promoted, flat: what templates mostly read, and what fmt (through the struct layout),
    toJSON and equality walk, each field once. An embedded struct's own name is a field too,
    as in Go (`.Meta.EventMetaDefault.Message`, `.Meta.HostInfo.HostData`): not an item, it
    reads as that struct, a value of its own type over the same field values."""

    __slots__ = ("embeds",)

    def __init__(self, embeds: dict[str, str], items: dict[str, Any]) -> None:
        super().__init__(items)
        self.embeds = embeds  # embedded field name -> struct type

    def __contains__(self, name: object) -> bool:
        return _has(self, name) or name in self.embeds

    def __missing__(self, name: str) -> GoStruct:
        t = self.embeds[name]  # a KeyError for any other name, as for a dict
        fields = _fields(t)
        for g, _, _ in _FLAT[t]:
            fields[g] = dict.__getitem__(self, g)
        return GoStruct(t, fields)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default


_has = dict.__contains__


def _fields(type_name: str) -> dict[str, Any]:
    """An empty field map for a `type_name` struct, filled in place by its builder."""
    embeds = _EMBEDS.get(type_name)
    return StructFields(embeds, {}) if embeds else {}


# ---------------------------------------------------------------------------------------------
# decoding


def _zero(go_type: str) -> Any:
    if go_type in ("string",):
        return ""
    if go_type == "int":
        return 0
    if go_type == "int64":
        return GoInt64(0)
    if go_type == "circuit.BreakerEvent":
        return BreakerEvent(0)
    if go_type == "float64":
        return 0.0
    if go_type == "bool":
        return False
    if go_type == "time.Duration":
        return GoDuration(0)
    if go_type == "time.Time":
        return GoTime.zero()
    if go_type.startswith("[]"):
        return GoSlice((), go_type)  # a nil slice: prints [] and ranges over nothing, as in Go
    if go_type.startswith("map["):
        return GoMap({}, go_type, "")
    return _zero_struct(go_type)


def _zero_struct(type_name: str) -> GoStruct:
    fields = _fields(type_name)
    for g, _, t in _FLAT[type_name]:
        fields[g] = _zero(t)
    return GoStruct(type_name, fields)


def _convert(v: Any, go_type: str, path: str, struct: str, go_names: bool) -> Any:
    def bad(got: str | None = None) -> MetaTypeError:
        return MetaTypeError(path, go_type, got or json_kind(v), struct)

    if v is None:
        return _zero(go_type)
    if go_type == "string":
        if not isinstance(v, str):
            raise bad()
        return v
    if go_type in ("int", "int64", "circuit.BreakerEvent", "time.Duration"):
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float):
                raise bad(f"number {v!r}")
            raise bad()
        if not fits_int64(v):  # Go decodes the literal itself: 10.0 is not an int
            raise bad(f"number {v}")
        cls = {
            "int": int,
            "int64": GoInt64,
            "circuit.BreakerEvent": BreakerEvent,
            "time.Duration": GoDuration,
        }[go_type]
        return cls(v)
    if go_type == "float64":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad()
        return float(v)
    if go_type == "bool":
        if not isinstance(v, bool):
            raise bad()
        return v
    if go_type == "time.Time":
        if not isinstance(v, str):
            raise bad()
        try:
            return parse_rfc3339nano(v)
        except ValueError:
            raise bad(f"string {v!r} (not an RFC 3339 time)") from None
    if go_type.startswith("[]"):
        if not isinstance(v, list):
            raise bad()
        elem = go_type[2:]
        return GoSlice(
            [_convert(e, elem, f"{path}[{i}]", struct, go_names) for i, e in enumerate(v)], go_type
        )
    if go_type.startswith("map["):
        if not isinstance(v, dict):
            raise bad()
        out = GoMap({}, go_type, "")
        for k, e in v.items():
            if e is None:
                out[k] = ""
            elif not isinstance(e, str):
                raise MetaTypeError(f"{path}.{k}", "string", json_kind(e), struct)
            else:
                out[k] = e
        return out
    return _decode_struct(v, go_type, path, struct, go_names)


_ABSENT = object()


def _decode_struct(obj: Any, type_name: str, path: str, struct: str, go_names: bool) -> GoStruct:
    if not isinstance(obj, dict):
        raise MetaTypeError(path or "Meta", type_name, json_kind(obj), struct)
    folded: dict[str, Any] | None = None
    fields = _fields(type_name)
    for g, j, t in _FLAT[type_name]:
        key = g if go_names else j
        v = obj.get(key, _ABSENT)
        if v is _ABSENT:
            if folded is None:  # encoding/json's case-insensitive fallback
                folded = {}
                for k, val in obj.items():
                    folded.setdefault(go_fold(k), val)
            v = folded.get(go_fold(key))
        if v.__class__ is str and t == "string":  # most fields of most events: kept as they are
            fields[g] = v
        else:
            fields[g] = _convert(v, t, f"{path}.{g}" if path else g, struct, go_names)
    return GoStruct(type_name, fields)


def decode_meta(event_type: str, meta: Any, *, go_names: bool = False) -> Any:
    """Meta as Tyk's templates see it for `event_type`.

    Struct events get their Go struct (MetaTypeError on a wrong JSON type), the zero struct
    when Meta is JSON null or absent: Tyk always fires them with their struct, so their
    templates never see a nil Meta (docs/compatibility.md). For map-meta and custom events a
    null Meta stays nil (`.Meta.X` then fails, as in Go). Map metas stay dicts. Custom
    events: an object with no keys beyond Message/OriginatingRequest is Tyk's EventMetaDefault
    (what coprocess TykTriggerEvent fires, so `.Meta.Path` fails as in Tyk), and so is a bare
    string (the payload, as Message); any other value is kept as it came (an object is a
    map, addressed by its own keys). `go_names=True` reads Go field
    names instead of JSON keys (the oracle's tyk_event data model)."""
    type_name = EVENT_META_TYPES.get(event_type)
    if meta is None:
        return None if type_name is None else _zero_struct(type_name)
    if type_name is not None:
        short = type_name.rpartition(".")[2]
        if not isinstance(meta, dict):
            raise MetaTypeError("Meta", type_name, json_kind(meta))
        return _decode_struct(meta, type_name, "", short, go_names)
    if event_type in MAP_META_EVENTS:
        if not isinstance(meta, dict):
            raise MetaTypeError("Meta", "map[string]interface {}", json_kind(meta))
        return meta
    if isinstance(meta, dict) and meta.keys() <= {"Message", "OriginatingRequest"}:
        return _decode_struct(meta, _DEFAULT, "", "EventMetaDefault", True)
    if isinstance(meta, str):  # a bare payload: what TykTriggerEvent(name, payload) fires
        return GoStruct(_DEFAULT, {"Message": meta, "OriginatingRequest": ""})
    return meta


def template_data(event_type: str, meta: Any, timestamp: str, *, go_names: bool = False) -> GoStruct:
    """The EventMessage {Type, Meta, TimeStamp} a webhook template executes over."""
    return GoStruct(
        EVENT_MESSAGE,
        {
            "Type": EventName(event_type),
            "Meta": decode_meta(event_type, meta, go_names=go_names),
            "TimeStamp": timestamp,
        },
    )


def event_template_data(event: Event) -> Any:
    """The EventMessage GoStruct webhook templates execute over, built once per event and
    shared read-only by every webhook of that event. A bad Meta raises MetaTypeError (or
    orjson's JSONDecodeError) on every call: failures are not cached, they are rare."""
    data = event.template_cache
    if data is None:
        data = event.template_cache = template_data(event.type, event.meta(), event.timestamp)
    return data
