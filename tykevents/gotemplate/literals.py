"""Go literal syntax: strconv's Unquote/UnquoteChar and the number rules of
text/template's NumberNode (ParseInt/ParseUint with base 0, ParseFloat).

Strings are Python str; bytes that are not valid UTF-8 (from `\\xff` escapes) are
kept as surrogateescape code points so that output bytes match Go's.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .nodes import NumberNode

INT64_MIN, INT64_MAX, UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1

_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def unquote_char(s: str, quote: str) -> tuple[int, str]:
    """strconv.UnquoteChar: (rune or byte value, rest). Raises ValueError."""
    r, _, rest = _unquote_char(s, quote)
    return r, rest


def _unquote_char(s: str, quote: str) -> tuple[int, bool, str]:
    # Returns (value, multibyte, tail); multibyte=False for \x and octal bytes.
    if not s:
        raise ValueError("invalid syntax")
    c = s[0]
    if c == quote and quote in "'\"":
        raise ValueError("invalid syntax")
    if c != "\\":
        if 0xDC80 <= ord(c) <= 0xDCFF:
            return 0xFFFD, True, s[1:]  # an invalid byte decodes as RuneError
        return ord(c), ord(c) >= 0x80, s[1:]
    if len(s) <= 1:
        raise ValueError("invalid syntax")
    c = s[1]
    s = s[2:]
    if c in _SIMPLE_ESC:
        return _SIMPLE_ESC[c], False, s
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        if len(s) < n or not all(ch in "0123456789abcdefABCDEF" for ch in s[:n]):
            raise ValueError("invalid syntax")
        v = int(s[:n], 16)
        s = s[n:]
        if c == "x":
            return v, False, s
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise ValueError("invalid syntax")
        return v, True, s
    if "0" <= c <= "7":
        if len(s) < 2 or not all("0" <= ch <= "7" for ch in s[:2]):
            raise ValueError("invalid syntax")
        v = int(c + s[:2], 8)
        if v > 255:
            raise ValueError("invalid syntax")
        return v, False, s[2:]
    if c in "'\"":
        if c != quote:
            raise ValueError("invalid syntax")
        return ord(c), False, s
    raise ValueError("invalid syntax")


def unquote(s: str) -> str:
    """strconv.Unquote for "..." and `...` literals (the lexer guarantees the shape)."""
    if len(s) < 2 or s[0] != s[-1]:
        raise ValueError("invalid syntax")
    q = s[0]
    body = s[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if q != '"':
        raise ValueError("invalid syntax")
    if "\\" not in body and "\n" not in body:
        if '"' in body:
            raise ValueError("invalid syntax")
        return body
    buf = bytearray()
    rest = body
    while rest:
        if rest[0] == "\n":
            raise ValueError("invalid syntax")
        v, multibyte, rest = _unquote_char(rest, '"')
        if v < 0x80 or not multibyte:
            buf.append(v)
        else:
            buf += chr(v).encode("utf-8")
    return buf.decode("utf-8", "surrogateescape")


def _underscore_ok(s: str) -> bool:
    saw = "^"
    i = 0
    if s and s[0] in "+-":
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def parse_uint(s: str) -> int | None:
    """strconv.ParseUint(s, 0, 64); None on any error."""
    if not s:
        return None
    s0 = s
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1].lower() in "box":
            base = {"b": 2, "o": 8, "x": 16}[s[1].lower()]
            s = s[2:]
        else:
            base = 8
            s = s[1:]
    digits = "0123456789abcdef"[:base]
    n = 0
    underscores = False
    for c in s:
        if c == "_":
            underscores = True
            continue
        d = digits.find(c.lower())
        if d < 0:
            return None
        n = n * base + d
    if n > UINT64_MAX:
        return None
    if underscores and not _underscore_ok(s0):
        return None
    return n


def parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64); None on any error."""
    if not s:
        return None
    neg = s[0] == "-"
    body = s[1:] if s[0] in "+-" else s
    u = parse_uint(body)
    if u is None:
        return None
    if (not neg and u > INT64_MAX) or (neg and u > -INT64_MIN):
        return None
    return -u if neg else u


_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?\Z")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9][0-9_]*\Z")


def parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64); None on syntax or range error."""
    if _HEX_FLOAT.match(s):
        if "_" in s and not _underscore_ok(s):
            return None
        t = s.replace("_", "")
        mant = t[: t.lower().index("p")]
        if not any(c in "0123456789abcdefABCDEF" for c in mant[mant.lower().index("x") + 1 :]):
            return None
        try:
            f = float.fromhex(t)
        except (ValueError, OverflowError):
            return None
    elif _DEC_FLOAT.match(s) and any(c.isdigit() for c in s.split("e")[0].split("E")[0]):
        if "_" in s and not _underscore_ok(s):
            return None
        try:
            f = float(s.replace("_", ""))
        except ValueError:
            return None
    else:
        return None
    if math.isinf(f):
        return None
    return f


def _simplify_complex(n: NumberNode) -> None:
    n.is_float = n.complex128.imag == 0
    if n.is_float:
        f = n.complex128.real
        n.float64 = f
        n.is_int = f.is_integer() and INT64_MIN <= f < 2.0**63
        if n.is_int:
            n.int64 = int(f)
        n.is_uint = f.is_integer() and 0 <= f < 2.0**64
        if n.is_uint:
            n.uint64 = int(f)


def _parse_complex(text: str) -> complex:
    # fmt.Sscan of "re+imi" / "re-imi": split at the sign that is not an exponent sign.
    for i in range(len(text) - 1, 0, -1):
        if text[i] in "+-" and text[i - 1] not in "eEpP":
            re_part, im_part = text[:i], text[i:-1]
            a, b = parse_float(re_part), parse_float(im_part)
            if a is None or b is None:
                break
            return complex(a, b)
    raise ValueError("expected integer")


def parse_number(n: NumberNode, text: str, is_complex_item: bool) -> None:
    """Fill a NumberNode from its literal text (parse.newNumber)."""
    if is_complex_item:
        n.complex128 = _parse_complex(text)
        n.is_complex = True
        _simplify_complex(n)
        return
    if text.endswith("i"):
        f = parse_float(text[:-1])
        if f is not None:
            n.is_complex = True
            n.complex128 = complex(0, f)
            _simplify_complex(n)
            return
    u = parse_uint(text)
    if u is not None:
        n.is_uint = True
        n.uint64 = u
    i = parse_int(text)
    if i is not None:
        n.is_int = True
        n.int64 = i
        if i == 0:
            n.is_uint = True
            n.uint64 = u or 0
    if n.is_int:
        n.is_float = True
        n.float64 = float(n.int64)
    elif n.is_uint:
        n.is_float = True
        n.float64 = float(n.uint64)
    else:
        f = parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError("integer overflow: %s" % _q(text))
            n.is_float = True
            n.float64 = f
            if f.is_integer() and INT64_MIN <= f < 2.0**63:
                n.is_int = True
                n.int64 = int(f)
            if f.is_integer() and 0 <= f < 2.0**64:
                n.is_uint = True
                n.uint64 = int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise ValueError("illegal number syntax: %s" % _q(text))


def _q(s: str) -> str:
    from .errors import go_quote

    return go_quote(s)
