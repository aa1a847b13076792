"""The Go value model the template engine executes over.

Python values map to Go values like this:

    None            -> nil
    bool            -> bool
    int             -> int (int64)
    float           -> float64
    str             -> string (len/index/slice work on its UTF-8 bytes)
    list / tuple    -> []interface{} (GoSlice: a typed slice)
    dict            -> map[string]interface{} (missing key: "" in html, <no value> in text)
    GoStruct        -> a struct value: a missing field is an execution error
    GoTime          -> time.Time
    GoDuration      -> time.Duration

Method calls in templates (`.Meta.ExpiresAt.Unix`) resolve through `go_methods`, which
returns a name -> callable map for the types that have methods in Go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class GoStruct:
    """A Go struct: named, ordered fields. Tyk's Meta values are structs (docs/protocol.md,
    "Meta by event")."""

    __slots__ = ("type_name", "fields")

    def __init__(self, type_name: str, fields: dict[str, Any]) -> None:
        self.type_name = type_name  # Go's type name as error messages print it
        self.fields = fields  # Go field name -> value, in declaration order

    def __repr__(self) -> str:
        return f"GoStruct({self.type_name!r}, {self.fields!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GoStruct) and other.type_name == self.type_name and other.fields == self.fields
        )


def go_methods(value: Any) -> dict[str, Callable[..., Any]]:
    """Methods callable from a template on `value` (empty for types without methods)."""
    method_table = getattr(type(value), "_go_methods", None)
    if method_table is None:
        return {}
    return {name: getattr(value, attr) for name, attr in method_table.items()}


# Struct fields whose Go static type is interface{} (e.g. EventMessage.Meta), by struct
# type name. Execution errors name such a field's type "interface {}", as Go does
# (`can't evaluate field Path in type interface {}`); register them here.
IFACE_FIELDS: dict[str, frozenset[str]] = {}


class GoMap(dict):
    """A typed Go map such as map[string]string (HostInfo.MetaData): its values are
    concrete (not interface{}), and `missingkey=zero` yields `zero`, the element
    type's zero value. A plain dict is map[string]interface{}."""

    __slots__ = ("go_type", "zero")

    def __init__(self, items: Any = (), go_type: str = "map[string]string", zero: Any = "") -> None:
        super().__init__(items)
        self.go_type = go_type
        self.zero = zero


class GoString(str):
    """A named Go string type without methods, such as Tyk's event.Event: it prints, escapes
    and compares as its string value; a subclass's `_go_type` is the name %T and error
    messages give it, and a `string` parameter refuses it, as Go does."""

    _go_type = "string"
    __slots__ = ()


class GoSlice(list):
    """A typed Go slice such as []apidef.CheckCommand (HostInfo.Commands): its elements have
    that static type, not interface{}, so range, %T and error messages name it. A plain
    list is []interface{}."""

    __slots__ = ("go_type",)

    def __init__(self, items: Any = (), go_type: str = "[]interface {}") -> None:
        super().__init__(items)
        self.go_type = go_type


# Struct layouts for printing. Templates see promoted fields flat (`.Meta.Message`), but fmt
# prints an embedded struct as its own braces: EventKeyFailureMeta is `{{msg req} path o k}`.
# A layout lists field names in declaration order; an embedded struct appears as
# (field name, type name) and takes its fields from the same flat `fields` dict.
_STRUCT_LAYOUTS: dict[str, tuple] = {}


def register_struct_layout(type_name: str, layout: tuple) -> None:
    """Declare how fmt prints GoStructs of `type_name` (see _STRUCT_LAYOUTS)."""
    _STRUCT_LAYOUTS[type_name] = tuple(layout)


def struct_layout(type_name: str) -> tuple | None:
    """The registered layout of `type_name`, or None (then fields print flat, in order)."""
    return _STRUCT_LAYOUTS.get(type_name)


# Go struct field name -> JSON key (the struct's json tags), for toJSON; registered by the
# module that defines the structs (tykevents.tykmeta), so the engine knows no Tyk types.
_JSON_NAMES: dict[str, dict[str, str]] = {}


def register_json_names(type_name: str, names: dict[str, str]) -> None:
    _JSON_NAMES[type_name] = dict(names)


def json_names(type_name: str) -> dict[str, str]:
    return _JSON_NAMES.get(type_name, {})
