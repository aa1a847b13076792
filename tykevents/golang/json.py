"""Go encoding/json rules, in one place, for everything that reads or writes JSON as Tyk does.

`scan` decodes a JSON value into a typed conf the way Tyk's `reflect.Cast` does
(docs/webhooks.md, "The request"; docs/compatibility.md).
Tyk marshals handler_meta back to JSON and unmarshals it into a Go struct, so the rules are
Go encoding/json's: keys match case-insensitively, unknown keys are ignored, `null` leaves a
field unchanged (a map field becomes nil), and a type mismatch is an error (Tyk then drops the
handler). Marshalling a Go map writes its keys sorted by bytes and a later key overwrites an
earlier one, so among `Prefix`/`prefix` the exact lower-case key (sorted last) wins, a mistyped
variant fails the decode even when the exact key is fine, and two spellings of a map field
merge (Go decodes the second object into the map the first one made). Integral floats are
accepted for integers because float64(10) re-marshals as `10`; 10.5 or "10" are not.

Also here: Go's key folding (go_fold, go_get), the JSON kind names of Go's type errors
(json_kind), int64 range checks, and json.Marshal's HTML-safe string output (go_marshal).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar, get_type_hints

import orjson

T = TypeVar("T")

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_TWO63 = 2.0**63
_MISSING: Any = object()


class GoJSONError(ValueError):
    """What Go's json.Unmarshal would say, e.g. `json: cannot unmarshal number into Go struct
    field WebHookHandlerConf.method of type string`.

    From scan: `key` is the document key that failed (as spelled in the document), `field`
    the struct field's JSON name and `map_key` the key inside a map field, if the bad value
    was there; `named()` adds them to the message."""

    key: str | None = None
    field: str | None = None
    map_key: str | None = None

    def named(self, doc: str = "handler_meta") -> str:
        """The message and the key that failed: `... (handler_meta key 'method')`."""
        if self.map_key is not None:
            return f"{self} ({self.field} key {self.map_key!r})"
        if self.key is not None:
            return f"{self} ({doc} key {self.key!r})"
        return str(self)


def json_kind(v: Any) -> str:
    """The JSON kind Go's UnmarshalTypeError names for a decoded value (`number`, ...)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__  # not a JSON value: say what it is


def fits_int64(n: int) -> bool:
    return INT64_MIN <= n <= INT64_MAX


def float_int64(f: float) -> int | None:
    """A float64 that holds an int64 exactly (10.0), as an int; None for 10.5, 2^63, inf, nan."""
    if math.isfinite(f) and f == int(f) and -_TWO63 <= f < _TWO63:
        return int(f)
    return None


def go_fold(s: str) -> str:
    # Go's case folding is per character (simple folding): the Kelvin sign and long s fold
    # to k and s, while a character whose upper case is longer (ß -> SS) stays itself.
    if s.isascii():
        return s.lower()
    out = []
    for ch in s:
        f = ch.upper().lower()
        out.append(f if len(f) == 1 else ch.lower())
    return "".join(out)


def go_get(obj: dict[str, Any], key: str, default: Any = None, *, keep_null: bool = False) -> Any:
    """obj[key] as Go's encoding/json fills a struct field from it: the key matches
    case-insensitively, a later matching key overwrites an earlier one, and `null` changes
    nothing (unless keep_null, for fields whose Go type sees the null itself)."""
    value = obj.get(key, _MISSING)
    if len(obj) > 1 or value is _MISSING:
        folded = go_fold(key)
        for k, v in obj.items():
            if (k == key or go_fold(k) == folded) and (v is not None or keep_null):
                value = v
    if value is _MISSING or value is None and not keep_null:
        return default
    return value


def go_marshal(value: Any) -> str:
    """json.Marshal: `<`, `>`, `&`, U+2028 and U+2029 escaped; map keys as given (callers
    that need Go's sorted map keys pass sorted dicts)."""
    out = orjson.dumps(value).decode()
    if any(c in out for c in "<>&\u2028\u2029"):
        out = (
            out.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return out


def scan(meta: Any, cls: type[T], go_name: str | None = None) -> T:
    """Build `cls` (a dataclass of bool / str / int / dict[str, str] fields) from `meta`.
    A field's JSON name is its own unless the class maps it in `_json_names`."""
    go_name = go_name or cls.__name__
    if meta is None:
        return cls()
    if not isinstance(meta, dict):
        raise GoJSONError(f"json: cannot unmarshal {json_kind(meta)} into Go value of type {go_name}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    json_names = {n: getattr(cls, "_json_names", {}).get(n, n) for n in names}
    by_json = {j: n for n, j in json_names.items()}
    by_fold = {go_fold(j): n for n, j in json_names.items()}
    struct = go_name.rpartition(".")[2]  # Go names the struct field without its package
    values: dict[str, Any] = {}
    for key in sorted(meta):  # the order json.Marshal writes a Go map in; later keys win
        field = by_json.get(key) or by_fold.get(go_fold(key))
        if field is None:
            continue
        typ = hints[field]
        value = meta[key]
        if value is None:
            if typ == dict[str, str]:
                values[field] = {}  # null sets a Go map to nil
            continue
        try:
            decoded = _convert(value, typ, f"{struct}.{json_names[field]}")
        except GoJSONError as e:
            e.key, e.field = key, json_names[field]
            raise
        if typ == dict[str, str] and field in values:
            decoded = {**values[field], **decoded}  # Go decodes into the existing map
        values[field] = decoded
    return cls(**values)


def _convert(value: Any, typ: Any, where: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(value, where, "bool")
    if typ is str:
        if isinstance(value, str):
            return value
        raise _mismatch(value, where, "string")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _mismatch(value, where, "int64")
        try:
            n = float_int64(float(value))  # Tyk holds handler_meta numbers as float64
        except OverflowError:
            n = None
        if n is None:
            raise _mismatch(value, where, "int64")
        return n
    if typ == dict[str, str]:
        if not isinstance(value, dict):
            raise _mismatch(value, where, "map[string]string")
        out = {}
        for k, v in value.items():
            if v is None:
                out[k] = ""
            elif isinstance(v, str):
                out[k] = v
            else:
                e = _mismatch(v, where, "string")
                e.map_key = k
                raise e
        return out
    raise TypeError(f"gojson.scan: unsupported field type {typ!r}")


def _mismatch(value: Any, where: str, go_type: str) -> GoJSONError:
    return GoJSONError(
        f"json: cannot unmarshal {json_kind(value)} into Go struct field {where} of type {go_type}"
    )
