"""gofmt against Go: every fmt vector (tests/data/gotmpl/fmt_*.jsonl, recorded from Go's
template engine by tools/gen_fmt_vectors.py) evaluated with gofmt directly.

The vectors' templates are only printf/print/println calls and plain `{{.x}}` actions over
data fields and literals, so a tiny evaluator here is enough; the engine's own vector runner
runs the same files through the full engine."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tykevents.golang.time import GoDuration, GoTime
from tykevents.gotemplate import gofmt
from tykevents.gotemplate.gofmt import format_float, go_quote, sprint, sprintf, sprintln
from tykevents.gotemplate.values import GoMap, GoStruct, register_struct_layout

DATA = Path(__file__).resolve().parents[1] / "data" / "gotmpl"
MISSING = object()


def _decode(data, numbers: str):
    """JSON data as the oracle decodes it: float64 numbers, or Go ints for integral ones."""
    if isinstance(data, dict):
        return {k: _decode(v, numbers) for k, v in data.items()}
    if isinstance(data, list):
        return [_decode(v, numbers) for v in data]
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if numbers == "float" or isinstance(data, float):
        return float(data)
    return data if -(1 << 63) <= data < (1 << 63) else float(data)


_TOKEN = re.compile(r"""`[^`]*`|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])+'|\S+""")


def _unquote(tok: str) -> str:
    if tok[0] == "`":
        return tok[1:-1]
    return json.loads(tok.replace("\\x", "\\u00"))


def _literal(tok: str, data: dict):
    if tok.startswith("."):
        v = data.get(tok[1:], MISSING) if isinstance(data, dict) else MISSING
        return None if v is MISSING else v
    if tok[0] in '`"':
        return _unquote(tok)
    if tok[0] == "'":
        return ord(_unquote('"' + tok[1:-1] + '"'))
    if tok in ("true", "false"):
        return tok == "true"
    if tok == "nil":
        return None
    if tok.endswith("i"):
        return complex(0, float(tok[:-1]))
    if tok.lower().startswith("0x") and "p" in tok.lower():
        return float.fromhex(tok)
    try:
        return int(tok, 0)
    except ValueError:
        return float(tok)


def evaluate(template: str, data) -> str:
    out = []
    pos = 0
    for m in re.finditer(r"\{\{(.*?)\}\}", template, re.S):
        out.append(template[pos : m.start()])
        pos = m.end()
        toks = _TOKEN.findall(m.group(1))
        head, args = toks[0], [_literal(t, data) for t in toks[1:]]
        if head == "printf":
            out.append(sprintf(args[0], *args[1:]))
        elif head == "print":
            out.append(sprint(*args))
        elif head == "println":
            out.append(sprintln(*args))
        else:  # a plain field: text/template prints <no value> for nil and missing
            v = _literal(head, data)
            out.append("<no value>" if v is None else gofmt.format_value(v))
    out.append(template[pos:])
    return "".join(out)


def _vectors():
    for path in sorted(DATA.glob("fmt_*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                vec = json.loads(line)
                yield pytest.param(vec, id=f"{path.stem}:{vec['id']}")


ALL = list(_vectors())


def test_vector_files_are_substantial():
    assert len(ALL) > 1000
    modes = {p.values[0]["numbers"] for p in ALL}
    assert modes == {"float", "int"}


@pytest.mark.parametrize("vec", ALL)
def test_fmt_vector(vec):
    assert vec["error"] is None
    got = evaluate(vec["template"], _decode(vec["data"], vec["numbers"]))
    assert got == vec["output"]


# ----------------------------------------------------------------------------- direct cases


def test_documented_examples():
    # docs/gotemplate.md: float64 3.0 -> 3, 1000000.0 -> 1e+06, -0.0 -> -0; %.0f half to even
    assert [gofmt.format_value(x) for x in (3.0, 1000000.0, -0.0, 1234567.0, 80.0)] == [
        "3",
        "1e+06",
        "-0",
        "1.234567e+06",
        "80",
    ]
    assert sprintf("%.0f %.0f %.0f %.1f", 0.5, 1.5, 2.5, 0.25) == "0 2 2 0.2"
    assert sprint("a", 1, "b") == "a1b"
    assert sprint(1, 2, "x", 3, 4) == "1 2x3 4"
    assert sprintf("%d", "x") == "%!d(string=x)"
    assert sprintf("%d", 1, "a") == "1%!(EXTRA string=a)"
    assert sprintf("%s") == "%!s(MISSING)"
    assert sprintf("%q", "\x01") == '"\\x01"'
    assert gofmt.format_value({"b": 2, "a": 1}) == "map[a:1 b:2]"


def test_quote_keeps_printable_unicode():
    assert go_quote("é世😀\u00ad\u2028\ufeff\x7f") == '"é世😀\\u00ad\\u2028\\ufeff\\x7f"'
    assert sprintf("%+q", "é😀") == '"\\u00e9\\U0001f600"'
    assert sprintf("%#q|%#q", 'a"b', "a`b") == '`a"b`|"a`b"'


def test_float_formats_match_strconv():
    assert format_float(1.0, "b", -1) == "4503599627370496p-52"
    assert format_float(0.0, "b", -1) == "0p-1074"
    assert format_float(1.0, "x", -1) == "0x1p+00"
    assert format_float(-0.1, "X", 3) == "-0X1.99AP-04"
    assert format_float(math.inf, "g", -1) == "+Inf"
    assert sprintf("%v|%5.1f|% f|%+v", math.nan, -math.inf, math.inf, math.nan) == "NaN| -Inf| Inf|NaN"


def test_stringers_and_time_values():
    d = GoDuration(10 * 10**9)
    assert sprint(d) == "10s"
    assert (
        sprintf("%d|%v|%s|%q|%x|%#v|%T", d, d, d, d, d, d, d)
        == '10000000000|10s|10s|"10s"|313073|10000000000|time.Duration'
    )
    assert sprintf("%t", d) == "%!t(time.Duration=10000000000)"
    t = GoTime.date(2024, 3, 6, 14, 7, 9)
    assert sprint(t) == "2024-03-06 14:07:09 +0000 UTC"
    assert sprintf("%#v", t) == "time.Date(2024, time.March, 6, 14, 7, 9, 0, time.UTC)"
    assert sprint([t, d]) == "[2024-03-06 14:07:09 +0000 UTC 10s]"
    assert sprintf("%T", t) == "time.Time"


def test_structs_print_embedded_fields_in_braces():
    register_struct_layout("test.Inner", ("Message", "OriginatingRequest"))
    register_struct_layout("test.Outer", (("Inner", "test.Inner"), "Path", "N"))
    s = GoStruct("test.Outer", {"Message": "m", "OriginatingRequest": "", "Path": "/p", "N": 2})
    assert sprint(s) == "{{m } /p 2}"
    assert sprintf("%+v", s) == "{Inner:{Message:m OriginatingRequest:} Path:/p N:2}"
    assert (
        sprintf("%#v", s)
        == 'test.Outer{Inner:test.Inner{Message:"m", OriginatingRequest:""}, Path:"/p", N:2}'
    )
    assert sprintf("%d", s) == "{{%!d(string=m) %!d(string=)} %!d(string=/p) 2}"
    flat = GoStruct("test.Flat", {"A": None, "B": [1]})
    assert sprint(flat) == "{<nil> [1]}"
    assert sprintf("%T", flat) == "test.Flat"


def test_invalid_utf8_bytes_unsigned_and_typed_maps():
    bad = "\udcffa"  # the byte 0xff then "a": how the engine carries invalid UTF-8
    assert (
        sprintf("%q|%+q|%x|%5s|%.1s|%#q", bad, bad, bad, bad, bad, bad)
        == '"\\xffa"|"\\xffa"|ff61|   \udcffa|\udcff|"\\xffa"'
    )

    class U8(int):
        _go_type = "uint8"

    b = U8(195)
    assert sprintf("%v|%c|%q|%#v|%T|%s", b, b, b, b, b, b) == "195|Ã|'Ã'|0xc3|uint8|%!s(uint8=195)"
    m = GoMap({"b": "2", "a": "1"}, "map[string]string", "")
    assert sprintf("%T|%v|%#v", m, m, {}) == "map[string]string|map[a:1 b:2]|map[string]interface {}{}"
