"""Decode a JSON value into a typed conf the way Tyk's `reflect.Cast` does (spec 2.3).

Tyk marshals handler_meta back to JSON and unmarshals it into a Go struct, so the rules are
Go encoding/json's: keys match case-insensitively (an exact match wins), unknown keys are
ignored, `null` leaves a field at its zero value, and a type mismatch is an error (Tyk then
drops the handler). Integral floats are accepted for integers because float64(10) re-marshals
as `10`; 10.5 or "10" are not.
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
    by_fold = {j.lower(): n for n, j in json_names.items()}
    values: dict[str, Any] = {}
    exact_seen: set[str] = set()
    for key, value in meta.items():
        field = by_json.get(key)
        exact = field is not None
        if field is None:
            field = by_fold.get(key.lower())
            if field is None:
                continue
        if field in exact_seen and not exact:
            continue  # Go prefers the exact-case key's value
        if exact:
            exact_seen.add(field)
        if value is None:
            continue
        values[field] = _convert(value, hints[field], f"{go_name}.{json_names[field]}")
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
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                raise _mismatch(value, where, "int64")
            value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise _mismatch(value, where, "int64")
        return value
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
