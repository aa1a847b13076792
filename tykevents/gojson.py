"""Decode a JSON value into a typed conf the way Tyk's `reflect.Cast` does (spec 2.3).

Tyk marshals handler_meta back to JSON and unmarshals it into a Go struct, so the rules are
Go encoding/json's: keys match case-insensitively, unknown keys are ignored, `null` leaves a
field unchanged, and a type mismatch is an error (Tyk then drops the handler). Marshalling a
Go map writes its keys sorted by bytes and a later key overwrites an earlier one, so among
`Prefix`/`prefix` the exact lower-case key (sorted last) wins, and a mistyped variant fails the
decode even when the exact key is fine. Integral floats are accepted for integers because
float64(10) re-marshals as `10`; 10.5 or "10" are not.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar, get_type_hints

T = TypeVar("T")

_INT64 = (-(1 << 63), (1 << 63) - 1)


class GoJSONError(ValueError):
    """What Go's json.Unmarshal would say, e.g. `json: cannot unmarshal number into Go struct
    field WebHookHandlerConf.method of type string`."""


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def scan(meta: Any, cls: type[T], go_name: str | None = None) -> T:
    """Build `cls` (a dataclass of bool / str / int / dict[str, str] fields) from `meta`."""
    go_name = go_name or cls.__name__
    if meta is None:
        return cls()
    if not isinstance(meta, dict):
        raise GoJSONError(
            f"json: cannot unmarshal {_json_kind(meta)} into Go value of type {go_name}"
        )
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    json_names = {n: getattr(cls, "_json_names", {}).get(n, n) for n in names}
    by_json = {j: n for n, j in json_names.items()}
    by_fold = {go_fold(j): n for n, j in json_names.items()}
    struct = go_name.rpartition(".")[2]  # Go names the struct field without its package
    values: dict[str, Any] = {}
    for key in sorted(meta):  # the order json.Marshal writes a Go map in; later keys win
        field = by_json.get(key) or by_fold.get(go_fold(key))
        value = meta[key]
        if field is None or value is None:
            continue
        values[field] = _convert(value, hints[field], f"{struct}.{json_names[field]}")
    return cls(**values)


def go_fold(s: str) -> str:
    # Go's case folding is per character (simple folding): the Kelvin sign and long s fold
    # to k and s, while a character whose upper case is longer (ß -> SS) stays itself.
    out = []
    for ch in s:
        f = ch.upper().lower()
        out.append(f if len(f) == 1 else ch.lower())
    return "".join(out)


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
            f = float(value)  # Tyk holds handler_meta numbers as float64
        except OverflowError:
            raise _mismatch(value, where, "int64") from None
        if not math.isfinite(f) or f != int(f) or not _INT64[0] <= int(f) <= _INT64[1]:
            raise _mismatch(value, where, "int64")
        return int(f)
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
                raise _mismatch(v, where, "string")
        return out
    raise TypeError(f"gojson.scan: unsupported field type {typ!r}")


def _mismatch(value: Any, where: str, go_type: str) -> GoJSONError:
    return GoJSONError(
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where} of type {go_type}"
    )
