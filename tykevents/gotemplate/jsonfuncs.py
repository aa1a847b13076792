"""Template functions that write valid JSON, for new webhook templates (our addition).

Tyk's templates interpolate values through html/template, so a quote becomes `&#34;` and a
backslash or a control character breaks the JSON body. These functions return JSON text
marked as trusted HTML (Go's template.HTML), which html/template writes unchanged in the
HTML text context, where JSON webhook templates live:

    "message": {{jsonString .Meta.Message}},      ->  "message": "Key \"Quota\" <x>"
    "meta": {{toJSON .Meta}}                      ->  "meta": {"Message":"...","Path":"/x",...}

In other contexts (attributes, <script>) they are escaped like any text.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from tykevents.golang.time import GoDuration, GoTime
from tykevents.gotemplate.values import GoStruct, json_names


class TrustedHTML(str):
    """Go's template.HTML: content the HTML text-context escaper leaves as it is."""

    __slots__ = ()


def _plain(v: Any) -> Any:
    """The value as Go's encoding/json would marshal it (struct json tags from tykmeta)."""
    if v is None or isinstance(v, (bool, str)):
        return str(v) if isinstance(v, str) else v
    if isinstance(v, GoDuration):
        return int(v)  # Go marshals a Duration as its nanoseconds
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)  # Go would fail; keep the body valid
    if isinstance(v, GoTime):
        return v.format("2006-01-02T15:04:05.999999999Z07:00")  # time.Time: RFC 3339 nano
    if isinstance(v, GoStruct):
        names = json_names(v.type_name)
        return {names.get(k, k): _plain(x) for k, x in v.fields.items()}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)


def to_json(v: Any) -> TrustedHTML:
    """Any value as JSON (strings quoted, numbers bare, maps and structs as objects)."""
    return TrustedHTML(orjson.dumps(_plain(v)).decode())


def json_string(v: Any) -> TrustedHTML:
    """Any value's printed form (Go's %v) as one JSON string literal, quotes included."""
    from .gofmt import format_value

    return TrustedHTML(orjson.dumps(v if type(v) is str else format_value(v)).decode())


JSON_FUNCS = {"toJSON": to_json, "jsonString": json_string}
