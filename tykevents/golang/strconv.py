"""The parts of Go's strconv that fmt uses: FormatFloat, Quote, QuoteRune, IsPrint,
CanBackquote.

They are the leaves of fmt's output (%v of a float is FormatFloat 'g' shortest, %q is Quote)
and land in webhook bodies, so they follow Go's algorithms byte for byte.
"""

from __future__ import annotations

import math
import struct
import unicodedata

_MASK64 = (1 << 64) - 1
_MAX_RUNE = 0x10FFFF


def is_print(r: int) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if r < 0x20:
        return False
    if r < 0x7F:
        return True
    if r > _MAX_RUNE or 0xD800 <= r <= 0xDFFF:
        return False
    return unicodedata.category(chr(r))[0] in "LMNPS"


def _escape_rune(r: int, quote: str, ascii_only: bool) -> str:
    ch = chr(r)
    if ch == quote or ch == "\\":
        return "\\" + ch
    if ascii_only:
        if r < 0x80 and is_print(r):
            return ch
    elif is_print(r):
        return ch
    simple = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    if r in simple:
        return simple[r]
    if r < 0x20 or r == 0x7F:
        return "\\x%02x" % r
    if r > _MAX_RUNE or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    if r < 0x10000:
        return "\\u%04x" % r
    return "\\U%08x" % r


def go_quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote / QuoteToASCII."""
    out = ['"']
    for ch in s:
        r = ord(ch)
        if 0xDC80 <= r <= 0xDCFF:  # a raw byte kept by surrogateescape: invalid UTF-8
            out.append("\\x%02x" % (r - 0xDC00))
        else:
            out.append(_escape_rune(r, '"', ascii_only))
    out.append('"')
    return "".join(out)


def go_quote_rune(r: int, ascii_only: bool = False) -> str:
    """strconv.QuoteRune / QuoteRuneToASCII (invalid runes become U+FFFD)."""
    if r < 0 or r > _MAX_RUNE or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    return "'" + _escape_rune(r, "'", ascii_only) + "'"


def can_backquote(s: str) -> bool:
    for ch in s:
        if ch == "\ufeff" or 0xDC80 <= ord(ch) <= 0xDCFF:
            return False
        if (ch < " " and ch != "\t") or ch == "`" or ch == "\x7f":
            return False
    return True


def _shortest_digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |v| (Python's repr, like Go's, is the shortest
    string that reads back exactly) and the decimal point position: |v| = 0.DIGITS × 10^dp."""
    if v == 0:
        return "0", 1
    mant, _, exp = repr(abs(v)).partition("e")
    ip, _, fp = mant.partition(".")
    ds = ip + fp
    dp = len(ip) + (int(exp) if exp else 0)
    stripped = ds.lstrip("0")
    dp -= len(ds) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def _fixed_digits(v: float, sig: int) -> tuple[str, int]:
    """|v| correctly rounded to `sig` significant digits (trailing zeros trimmed)."""
    if v == 0:
        return "0", 1
    mant, _, exp = ("%.*e" % (sig - 1, abs(v))).partition("e")
    ds = mant.replace(".", "").rstrip("0") or "0"
    return ds, int(exp) + 1


def _fmt_e(neg: bool, ds: str, dp: int, prec: int, ch: str) -> str:
    first = ds[0] if ds else "0"
    frac = ds[1:]
    if prec > 0:
        frac = (frac + "0" * prec)[:prec]
        body = first + "." + frac
    else:
        body = first
    exp = 0 if ds == "0" else dp - 1
    es = "-" if exp < 0 else "+"
    exp = abs(exp)
    return ("-" if neg else "") + body + ch + es + ("%02d" % exp)


def _fmt_f(neg: bool, ds: str, dp: int, prec: int) -> str:
    if dp > 0:
        ip = (ds[:dp] + "0" * dp)[:dp] if len(ds) < dp else ds[:dp]
    else:
        ip = "0"
    out = ip
    if prec > 0:
        frac = []
        for i in range(prec):
            j = dp + i
            frac.append(ds[j] if 0 <= j < len(ds) else "0")
        out += "." + "".join(frac)
    return ("-" if neg else "") + out


def _float_bits(v: float) -> tuple[bool, int, int]:
    bits = struct.unpack(">Q", struct.pack(">d", v))[0]
    neg = bits >> 63 == 1
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp += 1
    else:
        mant |= 1 << 52
    return neg, mant, exp - 1023


def _fmt_x(v: float, prec: int, verb: str) -> str:
    """strconv %x / %X: -0x1.yyyyp±dd."""
    neg, mant, exp = _float_bits(v)
    if mant == 0:
        exp = 0
    mant = (mant << 8) & _MASK64
    while mant != 0 and mant & (1 << 60) == 0:
        mant = (mant << 1) & _MASK64
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant = (mant << (60 - shift)) & _MASK64
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    hexd = "0123456789abcdef" if verb == "x" else "0123456789ABCDEF"
    out = ["-" if neg else "", "0", verb, str((mant >> 60) & 1)]
    mant = (mant << 4) & _MASK64
    if prec < 0 and mant != 0:
        out.append(".")
        while mant != 0:
            out.append(hexd[(mant >> 60) & 15])
            mant = (mant << 4) & _MASK64
    elif prec > 0:
        out.append(".")
        for _ in range(prec):
            out.append(hexd[(mant >> 60) & 15])
            mant = (mant << 4) & _MASK64
    out.append("p" if verb == "x" else "P")
    out.append("-" if exp < 0 else "+")
    out.append("%02d" % abs(exp))
    return "".join(out)


def format_float(v: float, fmt: str, prec: int) -> str:
    """strconv.FormatFloat(v, fmt, prec, 64) for fmt in b e E f g G x X (prec -1: shortest)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg = math.copysign(1.0, v) < 0
    if fmt == "b":
        neg, mant, exp = _float_bits(v)
        e = exp - 52
        return ("-" if neg else "") + str(mant) + "p" + ("+" if e >= 0 else "") + str(e)
    if fmt in "xX":
        return _fmt_x(v, prec, fmt)
    shortest = prec < 0
    if shortest:
        ds, dp = _shortest_digits(v)
        if fmt in "eE":
            prec = len(ds) - 1
        elif fmt == "f":
            prec = max(len(ds) - dp, 0)
        else:
            prec = len(ds)
    elif fmt in "eEf":
        # Python's %e / %f round the exact binary value half-to-even, as Go's strconv does.
        return ("-" if neg else "") + ("%.*" + fmt) % (prec, abs(v))
    else:
        if prec == 0:
            prec = 1
        ds, dp = _fixed_digits(v, prec)
    if fmt in "eE":
        return _fmt_e(neg, ds, dp, prec, fmt)
    if fmt == "f":
        return _fmt_f(neg, ds, dp, prec)
    # %g / %G
    eprec = prec
    nd = len(ds)
    if eprec > nd and nd >= dp:
        eprec = nd
    if shortest:
        eprec = 6
    exp = dp - 1
    if ds == "0":
        exp = 0
    if exp < -4 or exp >= eprec:
        if prec > nd:
            prec = nd
        return _fmt_e(neg, ds, dp, prec - 1, "e" if fmt == "g" else "E")
    if prec > dp:
        prec = nd
    return _fmt_f(neg, ds, dp, max(prec - dp, 0))
