"""How the engine sees Python values as Go values: kinds, type names, truth.

Two markers complete values.py's model:
  MISSING  Go's invalid reflect.Value: a missing map key, nil data, a nil that went
           through a pipeline. Prints `<no value>` (text) or nothing (html).
  None     a nil inside an interface{} (a JSON null read from a map or list). It
           differs from MISSING in a few Go error paths (`.a.b` with a=null fails,
           `len` says "len of nil pointer").
"""

from __future__ import annotations

from typing import Any

from tykevents.gotemplate.values import GoStruct

from . import values as _values


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class Uint8(int):
    """A byte read from a string by `index`: Go's uint8 (compares as unsigned)."""

    _go_type = "uint8"
    __slots__ = ()


# Go's basic kinds for comparisons (funcs.go basicKind).
INVALID_KIND, BOOL_KIND, COMPLEX_KIND, INT_KIND, FLOAT_KIND, STRING_KIND, UINT_KIND = range(7)


def basic_kind(v: Any) -> int:
    t = type(v)
    if t is str:
        return STRING_KIND
    if t is int:
        return INT_KIND
    if t is float:
        return FLOAT_KIND
    if t is bool:
        return BOOL_KIND
    if isinstance(v, Uint8):
        return UINT_KIND
    if isinstance(v, bool):
        return BOOL_KIND
    if isinstance(v, int):
        return UINT_KIND if getattr(t, "_go_unsigned", False) else INT_KIND
    if isinstance(v, float):
        return FLOAT_KIND
    if isinstance(v, complex):
        return COMPLEX_KIND
    if isinstance(v, str):
        return STRING_KIND
    return INVALID_KIND


def type_name(v: Any) -> str:
    """Go's reflect.Type String() for a value, as error messages print it."""
    t = type(v)
    name = getattr(t, "_go_type", None)
    if name is not None:
        return name
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "float64"
    if t is complex:
        return "complex128"
    if isinstance(v, GoStruct):
        return v.type_name
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return getattr(v, "go_type", "[]interface {}")  # GoSlice names its type
    if v is None:
        return "interface {}"
    if callable(v):
        return "func"
    return t.__name__


def is_true(v: Any) -> tuple[bool, bool]:
    """(truth, ok) as Go's template.IsTrue: zero values are false."""
    if v is None or v is MISSING:
        return False, True
    t = type(v)
    if t is str or t is list or t is dict or t is tuple:
        return len(v) > 0, True
    if t is bool:
        return v, True
    if isinstance(v, (int, float, complex)):
        return v != 0, True
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0, True
    if callable(v) and not hasattr(v, "_go_methods"):
        return False, False
    return True, True  # structs (GoStruct, GoTime) are always true


def byte_len(s: str) -> int:
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "surrogateescape"))


def to_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def is_iface_field(struct: GoStruct, name: str) -> bool:
    """Whether a struct field's static Go type is interface{} (see values.IFACE_FIELDS)."""
    return name in _values.IFACE_FIELDS.get(struct.type_name, ())
