"""Forwarded records: what a stock Tyk gateway POSTs with templates/tykevents_forward.json.

Tyk sends system events (Token*, coprocess-triggered) only to tyk.conf's global handlers, and
its webhook renders bodies with html/template, which escapes quotes, `<`, `>`, `&` and `+` in
every value (and turns NUL into U+FFFD). The template therefore prints every value as the hex
of its bytes, which no escaper changes; here that body becomes the plain event record it
stands for (docs/protocol.md, "Forwarded records"), before the pipeline sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from tykevents.decode import INVALID, MALFORMED

KIND = "forwarded"
# The body opens with its Kind (leading blanks allowed): one cheap test per HTTP body.
_OPENING = re.compile(rb'\s*\{\s*"Kind"\s*:\s*"forwarded"')
_SURROGATES = re.compile("[\udc80-\udcff]")


def is_forwarded(body: bytes) -> bool:
    return _OPENING.match(body) is not None


def _go_string(raw: bytes) -> str:
    """The string Tyk's json.Marshal would have sent: bytes that are not UTF-8 become U+FFFD,
    one per byte, as Go's encoder does."""
    if raw.isascii():
        return raw.decode()
    return _SURROGATES.sub("\ufffd", raw.decode("utf-8", "surrogateescape"))


def _unhex(value: Any, path: str) -> Any:
    if isinstance(value, str):
        try:
            return _go_string(bytes.fromhex(value))
        except ValueError:
            raise ValueError(f"{path}: not hex") from None
    if isinstance(value, dict):
        return {k: _unhex(v, f"{path}.{k}") for k, v in value.items()}
    raise ValueError(f"{path}: expected a hex string or an object")


def unwrap(body: bytes, reject: Callable[[str, str], None]) -> bytes:
    """The event record a forwarded body stands for, as one line; b"" when it is unusable
    (then `reject` has counted it, as any other record)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        reject(MALFORMED, f"forwarded record: {e}")
        return b""
    try:
        if not isinstance(doc, dict) or doc.get("Kind") != KIND:
            raise ValueError("not one forwarded record")
        fields = doc.get("hex")
        if not isinstance(fields, dict):
            raise ValueError("hex: expected an object")
        record = {k: _unhex(v, f"hex.{k}") for k, v in fields.items()}
        if not isinstance(record.get("Type"), str) or not isinstance(record.get("TimeStamp", ""), str):
            raise ValueError("Type and TimeStamp must be strings")
    except ValueError as e:
        reject(INVALID, f"forwarded record: {e}")
        return b""
    # A system event: no API (docs/protocol.md, "Event record").
    record.setdefault("APIID", "")
    return orjson.dumps(record)
