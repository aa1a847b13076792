#!/usr/bin/env python3
"""Regenerate the template-engine test vectors from Go's own engine.

    python tools/gen_vectors.py [--oracle /usr/local/bin/gotmpl-oracle]

Each case below is run through gotmpl-oracle (Go 1.26 text/template and
html/template, see docs/gotemplate.md, "Test vectors") and written with Go's
output or error to tests/data/gotmpl/<group>.jsonl. Tests read those files and never
need Go. A case runs under both engines and both `numbers` modes unless it says
otherwise (keys "engines", "numbers", "missingkeys").
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "data" / "gotmpl"
TYK = ["as_rfc3339", "as_rfc3339_from_string"]

BOTH = ("text", "html")
NUMS = ("float", "int")


def C(template, data=None, **kw):
    return dict(template=template, data=data, **kw)


SAMPLE = {
    "a": 1,
    "b": 2.5,
    "s": "str",
    "e": "",
    "t": True,
    "f": False,
    "z": 0,
    "n": None,
    "l": [1, "two", None, 3.5],
    "m": {"k": "v", "b": 1, "a": [1, 2]},
    "em": {},
    "el": [],
    "nested": {"x": {"y": {"z": "deep"}}},
    "u": "é世",
    "q": "a\"b'c<d>e&f+g",
}

GROUPS: dict[str, list[dict]] = {}

# -- lexing and parsing ------------------------------------------------------------------
GROUPS["syntax"] = [
    C("plain text"),
    C(""),
    C("{{/* a comment */}}x"),
    C("x {{- /* c */ -}} y"),
    C("x{{-/* c */}}y"),
    C("{{ /* c */ }}"),
    C("{{/* unclosed"),
    C("{{/* c */ x}}"),
    C("a  {{- 3}}  b"),
    C("a  {{-3}}  b"),
    C("a {{3 -}}  b"),
    C("a {{3 -}}b"),
    C("a\n\t {{- .s -}} \n\tb", SAMPLE),
    C("{{- .s}}", SAMPLE),
    C("{{.s -}}", SAMPLE),
    C("{{.s-}}", SAMPLE),
    C("{{ .s }}", SAMPLE),
    C("{{.s\n}}", SAMPLE),
    C("{{.a|}}", SAMPLE),
    C("{{|.a}}", SAMPLE),
    C("{{.a | | len}}", SAMPLE),
    C("{{.host-name}}", {"host-name": 1}),
    C("{{.l.0}}", SAMPLE),
    C('{{index . "host-name"}}', {"host-name": "h"}),
    C("{{index .l 0}}", SAMPLE),
    C("{{"),
    C("{{.a"),
    C("{{.a}"),
    C("}}"),
    C("{{.a}}}}", SAMPLE),
    C("{{(.a}}", SAMPLE),
    C("{{.a)}}", SAMPLE),
    C("{{((.a))}}", SAMPLE),
    C("{{(.a) (.b)}}", SAMPLE),
    C("{{ @ }}"),
    C("{{ \x01 }}"),
    C("{{ € }}"),
    C("{{$}}", 5),
    C("{{$x}}"),
    C("{{$x := 1}}{{$x}}"),
    C("{{$x := 1}}{{$x = 2}}{{$x}}"),
    C("{{$x = 1}}"),
    C("{{$x, $y := 1}}"),
    C("{{$x := }}"),
    C("{{:=}}"),
    C("{{a}}"),
    C("{{.a.}}", SAMPLE),
    C("{{. a}}"),
    C("{{.a . }}", SAMPLE),
    C("{{nil}}"),
    C("{{nil.a}}"),
    C('{{"x".a}}'),
    C("{{true.a}}"),
    C("{{1.a}}"),
    C("{{..a}}"),
    C("{{.a..b}}"),
    C("{{end}}"),
    C("{{else}}"),
    C("{{if}}{{end}}"),
    C("{{if .a}}"),
    C("{{if .a}}{{else}}"),
    C("{{if .a}}x{{else}}y{{else}}z{{end}}", SAMPLE),
    C("{{range}}{{end}}"),
    C("{{with}}{{end}}"),
    C("{{break}}"),
    C("{{continue}}"),
    C("{{range .l}}{{break 1}}{{end}}", SAMPLE),
    C("{{define}}{{end}}"),
    C('{{define "x"}}'),
    C('{{define "x"}}{{else}}{{end}}'),
    C("{{define x}}{{end}}"),
    C("{{template}}"),
    C("{{template x}}"),
    C('{{template "x" 1 2}}'),
    C('{{block "b"}}{{end}}'),
    C('{{block "b" .}}'),
    C('{{define "a"}}A{{end}}{{define "a"}}B{{end}}'),
    C('{{define "a"}}A{{end}}{{define "a"}} {{end}}{{template "a"}}'),
    C('{{define "a"}} {{end}}{{define "a"}}B{{end}}{{template "a"}}'),
    C('{{define "a"}}A{{end}}{{block "a" .}}B{{end}}'),
    C('{{block "a" .}}{{end}}{{define "a"}}X{{end}}'),
    C('{{block "a" .}}B{{end}}'),
    C('{{define "tpl"}}inner{{end}}outer'),
    C('{{define "tpl"}}inner{{end}}  '),
    C("{{'a'}} {{'\\n'}} {{'\\x41'}} {{'\\u00e9'}} {{'é'}} {{'\\''}}"),
    C("{{''}}"),
    C("{{'ab'}}"),
    C("{{'\\\"'}}"),
    C("{{'a}}"),
    C('{{"abc}}'),
    C('{{"a\\qb"}}'),
    C('{{"\\x41\\101\\u00e9"}}'),
    C('{{"tab\\there"}}'),
    C("{{`raw\\n`}}"),
    C("{{`unterminated}}"),
    C('{{printf "%q" "\\xff"}}'),
    C(
        "{{1}} {{-1}} {{+1}} {{1.5}} {{1e3}} {{1.5e3}} {{.5}} {{1.}} "
        "{{0x1F}} {{0X1f}} {{0o17}} {{017}} {{0b101}}"
    ),
    C("{{1_000}} {{0x_1F}} {{1__0}} {{_1}} {{1_}}"),
    C("{{08}}"),
    C("{{0x}}"),
    C("{{1e}}"),
    C("{{0x1p-2}} {{0x1.8p1}}"),
    C("{{0x1.8}}"),
    C("{{1i}} {{2.5i}} {{1+2i}} {{0i}}"),
    C("{{99999999999999999999}}"),
    C("{{18446744073709551615}}"),
    C("{{9223372036854775807}}"),
    C("{{-9223372036854775808}}"),
    C("{{9223372036854775808}}"),
    C("{{1e400}}"),
    C("{{1a}}"),
    C("{{3 | 4}}"),
    C("{{.a | 4}}", SAMPLE),
    C('{{.a | "x"}}', SAMPLE),
    C("{{.a | nil}}", SAMPLE),
    C("{{.a | true}}", SAMPLE),
    C("{{.a | .}}", SAMPLE),
    C("x\n{{.a\n.b}}"),
    C("line1\nline2 {{.a b}}"),
    C("line1\nline2 {{if .a}}\nline3 {{end x}}"),
    C("{{range $i, $x, $y := .l}}{{end}}", SAMPLE),
    C("{{range $i, 3 := .l}}{{end}}", SAMPLE),
    C("{{range $i, := .l}}{{end}}", SAMPLE),
    C("{{with $i, $j := .l}}{{end}}", SAMPLE),
    C("{{(1 2)}}"),
    C("{{()}}"),
    C("{{.a (1)}}", SAMPLE),
    C("{{print (1) (2)}}"),
    C('{{define "x"}}{{$}}{{end}}{{template "x" 3}}'),
    C("{{if .a}}{{$x := 1}}{{end}}{{$x}}", SAMPLE),
    C("a\r\nb {{.a}}\r\n", SAMPLE),
    C("{{`a\r\nb`}}"),
]

GROUPS["delims"] = [
    C("<<.a>> {{.a}}", SAMPLE, delims=["<<", ">>"]),
    C("<<- .a ->> x", SAMPLE, delims=["<<", ">>"]),
    C("[[.s]] [[/* c */]] [[- 1 -]]", SAMPLE, delims=["[[", "]]"]),
    C("{%.a%}", SAMPLE, delims=["{%", "%}"]),
    C("<<.a", SAMPLE, delims=["<<", ">>"]),
    C('<<define "x">>X<<end>><<template "x">>', None, delims=["<<", ">>"]),
    C("(( .a ))", SAMPLE, delims=["((", "))"]),
    C("x{{.a}}", SAMPLE, delims=["{{", "}}"]),
]

# -- values, fields and printing ------------------------------------------------------------
GROUPS["values"] = [
    C("{{.a}} {{.b}} {{.s}} {{.e}} {{.t}} {{.f}} {{.z}} {{.n}} {{.l}} {{.m}} {{.em}} {{.el}}", SAMPLE),
    C("{{.missing}}", SAMPLE),
    C("{{.nested.x.y.z}}", SAMPLE),
    C("{{.nested.x.nope.z}}", SAMPLE),
    C("{{.n.x}}", SAMPLE),
    C("{{.s.x}}", SAMPLE),
    C("{{.a.x}}", SAMPLE),
    C("{{.l.x}}", SAMPLE),
    C("{{.}}", SAMPLE),
    C("{{.}}", None),
    C("{{.}}", 5),
    C("{{.}}", "str"),
    C("{{.}}", [1, 2]),
    C("{{.x}}", None),
    C("{{.x}}", 5),
    C("{{.x}}", [1]),
    C("{{.x}}", "s"),
    C("{{.}}", {"f": [1.0, 3.0, 1000000.0, 1234567.0, -0.0, 0.1, 1e21, 1e-7, 123456789.0]}),
    C("{{.}}", {"big": 1e20, "small": 0.000001, "neg": -2.5, "i": 100}),
    C("{{.f}}", {"f": 0.30000000000000004}),
    C("{{.f}}", {"f": 2.0e-5}),
    C("{{.m}}", {"m": {"b": {"y": 1, "x": [None, True]}, "a": "", "A": "Z", "é": 1, "_": 2}}),
    C("{{.l}}", {"l": [[], {}, [None], {"a": None}, ""]}),
    C("{{.q}}", SAMPLE),
    C("{{.u}}", SAMPLE),
    C("{{.ctl}}", {"ctl": "a\x00b\x01c\u2028"}),
    C("{{$x := .n}}{{$x.b}}", SAMPLE),
    C("{{$x := .n}}{{$x}}", SAMPLE),
    C("{{$x := .missing}}{{$x.b}}", SAMPLE),
    C("{{$x := .s}}{{$x.b}}", SAMPLE),
    C("{{with .s}}{{.x}}{{end}}", SAMPLE),
    C("{{range .l}}{{.x}}{{end}}", {"l": [None]}),
    C("{{range .l}}{{.x}}{{end}}", {"l": [1]}),
    C("{{range .l}}[{{.}}]{{end}}", {"l": [None, 1]}),
    C("{{range $e := .l}}{{$e.x}}{{end}}", {"l": [None]}),
    C("{{range $k, $v := .m}}{{$v.x}}{{end}}", {"m": {"k": None}}),
    C("{{(.s).x}}", SAMPLE),
    C("{{(.m).k}}", SAMPLE),
    C("{{(.n).x}}", SAMPLE),
    C("{{(.missing).x}}", SAMPLE),
    C("{{(index .l 2).x}}", SAMPLE),
    C('{{(index .m "a").x}}', SAMPLE),
    C("{{.a 1}}", SAMPLE),
    C("{{.m.k 1}}", SAMPLE),
    C("{{.s | .m}}", SAMPLE),
    C("{{$.a}} {{$.m.k}}", SAMPLE),
    C("{{$}}", 3),
    C('{{1 | print}} {{"x" | print}}'),
    C("{{.missing | print}} {{.n | print}}", SAMPLE),
    C('{{print .missing}} {{print .n}} {{printf "%v" .missing}}', SAMPLE),
    C("{{.a}}{{.b}}{{.missing}}", {}, missingkeys=("default", "zero", "error")),
    C("{{.x.y}}", {"x": {}}, missingkeys=("default", "zero", "error")),
    C("{{.x.y.z}}", {"x": {}}, missingkeys=("default", "zero", "error")),
    C("{{.x.y}}", {}, missingkeys=("default", "zero", "error")),
    C("{{.x}}", None, missingkeys=("default", "zero", "error")),
    C('{{index . "x"}}', {}, missingkeys=("default", "zero", "error")),
    C('{{index .m "nope"}}', SAMPLE, missingkeys=("default", "zero", "error")),
    C("{{range .x}}a{{else}}b{{end}}", {}, missingkeys=("default", "zero", "error")),
    C("{{if .x}}a{{else}}b{{end}}", {}, missingkeys=("default", "zero", "error")),
    C("{{len .x}}", {}, missingkeys=("default", "zero", "error")),
    C("{{with .x}}{{.}}{{else}}none{{end}}", {"x": None}, missingkeys=("default", "zero", "error")),
    C("{{.x.y}}", {"x": None}, missingkeys=("default", "zero", "error")),
    C("{{$x := .nope}}{{$x.y}}", {}, missingkeys=("default", "zero", "error")),
]

# -- variables and control flow -----------------------------------------------------------------
GROUPS["control"] = [
    C("{{if .t}}yes{{end}}", SAMPLE),
    C("{{if .f}}yes{{else}}no{{end}}", SAMPLE),
    C("{{if .z}}y{{else if .e}}y2{{else if .s}}{{.s}}{{else}}n{{end}}", SAMPLE),
    C("{{if .n}}y{{else}}n{{end}}", SAMPLE),
    C("{{if .el}}y{{else}}n{{end}}", SAMPLE),
    C("{{if .em}}y{{else}}n{{end}}", SAMPLE),
    C("{{if .l}}y{{else}}n{{end}}", SAMPLE),
    C(
        '{{if "0"}}a{{end}}{{if "false"}}b{{end}}{{if " "}}c{{end}}{{if 0}}d{{end}}'
        '{{if 0.0}}e{{end}}{{if ""}}f{{end}}{{if nil}}g{{end}}'
    ),
    C("{{if 0i}}a{{else}}b{{end}}{{if 1i}}c{{end}}"),
    C("{{with .s}}[{{.}}]{{end}}", SAMPLE),
    C("{{with .e}}[{{.}}]{{else}}empty{{end}}", SAMPLE),
    C("{{with .e}}1{{else with .z}}2{{else with .s}}{{.}}{{else}}4{{end}}", SAMPLE),
    C("{{with .e}}1{{else with .z}}2{{end}}", SAMPLE),
    C("{{with $x := .s}}{{$x}}{{.}}{{end}}", SAMPLE),
    C("{{range .l}}[{{.}}]{{end}}", SAMPLE),
    C("{{range $i, $e := .l}}{{$i}}={{$e}};{{end}}", SAMPLE),
    C("{{range $e := .l}}{{$e}};{{end}}", SAMPLE),
    C("{{range .m}}{{.}};{{end}}", SAMPLE),
    C("{{range $k, $v := .m}}{{$k}}={{$v}};{{end}}", SAMPLE),
    C("{{range $k := .m}}{{$k}};{{end}}", SAMPLE),
    C("{{range .el}}x{{else}}empty{{end}}", SAMPLE),
    C("{{range .em}}x{{else}}empty{{end}}", SAMPLE),
    C("{{range .n}}x{{else}}nil{{end}}", SAMPLE),
    C("{{range .missing}}x{{else}}missing{{end}}", SAMPLE),
    C("{{range .s}}x{{end}}", SAMPLE),
    C("{{range .b}}x{{end}}", SAMPLE),
    C("{{range .t}}x{{end}}", SAMPLE),
    C("{{range 3}}{{.}}{{end}}"),
    C("{{range 0}}x{{else}}zero{{end}}"),
    C("{{range -2}}x{{else}}neg{{end}}"),
    C("{{range $x := 3}}{{$x}}{{end}}"),
    C("{{range $i, $x := 3}}{{end}}"),
    C("{{range 2.5}}x{{end}}"),
    C("{{range .a}}{{.}}{{end}}", SAMPLE),
    C("{{range .z}}{{.}}{{else}}none{{end}}", SAMPLE),
    C("{{range .l}}{{if eq . 2.0}}{{break}}{{end}}{{.}}{{end}}", {"l": [1.0, 2.0, 3.0]}, numbers=("float",)),
    C("{{range .l}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", {"l": [1, 2, 3]}, numbers=("int",)),
    C(
        "{{range .l}}{{range .}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}};{{end}}",
        {"l": [[1, 2, 3], [4]]},
        numbers=("int",),
    ),
    C("{{range $i, $e := .l}}{{if $i}},{{end}}{{$e}}{{end}}", SAMPLE),
    C("{{$x := 0}}{{range .l}}{{$x = .}}{{end}}{{$x}}", SAMPLE),
    C("{{$i := 9}}{{range $i, $e := .l}}{{end}}{{$i}}", SAMPLE),
    C("{{$i := 9}}{{$e := 0}}{{range $i, $e = .l}}{{$i}}{{end}}{{$i}}{{$e}}", SAMPLE),
    C("{{$e := 0}}{{range $e = .l}}{{end}}{{$e}}", SAMPLE),
    C("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}"),
    C("{{$x := 1}}{{if true}}{{$x = 2}}{{$x}}{{end}}{{$x}}"),
    C("{{$x := 1}}{{with .s}}{{$x = .}}{{end}}{{$x}}", SAMPLE),
    C("{{$x := 1}}{{range .l}}{{$x := .}}{{end}}{{$x}}", SAMPLE),
    C("{{$x := .a}}{{$y := $x}}{{$x = 5}}{{$y}}{{$x}}", SAMPLE),
    C("{{$a, $b := 1}}"),
    C("{{$x := 1 | print}}{{$x}}"),
    C("{{$x := 1}}{{$x | print}}"),
    C("{{if $x := .s}}{{$x}}{{end}}", SAMPLE),
    C("{{if $x := .e}}{{else}}{{$x}}!{{end}}", SAMPLE),
    C('{{define "x"}}X({{.}}){{end}}{{template "x" .a}}{{template "x"}}', SAMPLE),
    C('{{define "x"}}{{$y}}{{end}}{{$y := 1}}{{template "x"}}'),
    C('{{$y := 1}}{{define "x"}}{{$}}{{end}}{{template "x" $y}}'),
    C('{{template "nope"}}'),
    C('{{template "nope" .}}after'),
    C('before{{template "nope"}}'),
    C('{{define "r"}}{{if .}}{{len .}}{{template "r" slice . 1}}{{end}}{{end}}{{template "r" .s}}', SAMPLE),
    C('{{define "x"}}{{.missing.y}}{{end}}{{template "x" .}}', {}),
    C('{{define "x"}}{{.a.b}}{{end}}a{{template "x" .}}', {"a": None}),
    C('{{define "x"}}in x{{end}}main', None, exec_template="x"),
    C('{{define "x"}}in x{{end}}main', None, exec_template="y"),
    C('{{block "b" .a}}block {{.}}{{end}}', SAMPLE),
    C('{{block "b" .}}default{{end}}', None, exec_template="b"),
    C("{{with .s}}{{$}}{{end}}", 7),
    C("{{range .}}{{$}}{{end}}", [1, 2]),
    C("{{if .a}}{{.a}}{{end}}", SAMPLE, name="my tpl"),
    C("{{.x.y}}", {"x": 1}, name="hook"),
    C("{{.x.y}}", {"x": 1}, name=""),
    C('{{template "t" .}}{{define "t"}}{{.x.y}}{{end}}', {"x": 1}, name="outer"),
    C(
        '{{define "x"}}{{template "x"}}{{end}}{{template "x"}}',
        None,
        engines=("text",),
        expect_error_only=True,
    ),
]

# -- builtin functions ------------------------------------------------------------------------
GROUPS["funcs"] = [
    C("{{and 1 0}} {{and 1 2}} {{and 0 1}} {{and}} {{and .t}}", SAMPLE),
    C("{{and}}"),
    C("{{or}}"),
    C('{{or 0 "" "x"}} {{or 0 ""}} {{or .missing .s}}', SAMPLE),
    C("{{and 1 .missing.x}}", {}),
    C("{{and 0 .missing.x}}", {}),
    C("{{or 1 (index .l 9)}}", SAMPLE),
    C("{{and 0 (index .l 9)}}", SAMPLE),
    C("{{1 | and 2}} {{0 | and 2}} {{0 | or 0}}"),
    C("{{not 0}} {{not 1}} {{not .s}} {{not .missing}} {{not}}", SAMPLE),
    C("{{not 1 2}}"),
    C('{{len .s}} {{len .l}} {{len .m}} {{len .el}} {{len .em}} {{len .u}} {{len "é世"}}', SAMPLE),
    C("{{len .missing}}", SAMPLE),
    C("{{len .n}}", SAMPLE),
    C("{{len .a}}", SAMPLE),
    C("{{len .t}}", SAMPLE),
    C("{{len 3}}"),
    C("{{len}}"),
    C("{{len 1 2}}"),
    C("{{len nil}}"),
    C('{{index .l 1}} {{index .m "k"}} {{index .m.a 0}} {{index .s 0}} {{index "é" 0}} {{index .}}', SAMPLE),
    C("{{index .l 9}}", SAMPLE),
    C("{{index .l 4}}", SAMPLE),
    C("{{index .l -1}}", SAMPLE),
    C("{{index .s 3}}", SAMPLE),
    C("{{index .s 9}}", SAMPLE),
    C("{{index .l 1.0}}", SAMPLE),
    C('{{index .l "x"}}', SAMPLE),
    C("{{index .l .missing}}", SAMPLE),
    C("{{index .m 1}}", SAMPLE),
    C("{{index .m .missing}}", SAMPLE),
    C("{{index .missing 1}}", SAMPLE),
    C("{{index .n 1}}", SAMPLE),
    C("{{index .a 1}}", SAMPLE),
    C("{{index .l 2 0}}", SAMPLE),
    C('{{index .m "a" 1}}', SAMPLE),
    C('{{index .m "nope" 1}}', SAMPLE),
    C("{{index nil 1}}"),
    C("{{index}}"),
    C("{{index .l 'a'}}", {"l": list(range(100))}),
    C("{{index .l 0x2}}", SAMPLE),
    C("{{slice .s 1}} {{slice .s 1 2}} {{slice .s}} {{slice .l 1 3}} {{slice .l}} {{slice .u 0 2}}", SAMPLE),
    C("{{slice .l 1 2 3}}", SAMPLE),
    C("{{slice .s 1 2 3}}", SAMPLE),
    C("{{slice .l 3 1}}", SAMPLE),
    C("{{slice .l 0 9}}", SAMPLE),
    C("{{slice .l 1 2 3 4}}", SAMPLE),
    C("{{slice .m 1}}", SAMPLE),
    C("{{slice .missing 1}}", SAMPLE),
    C("{{slice .n 1}}", SAMPLE),
    C("{{slice .l 1 2 1}}", SAMPLE),
    C("{{slice .l -1}}", SAMPLE),
    C("{{slice .l 4}} {{slice .s 3}}", SAMPLE),
    C("{{slice .l .b}}", SAMPLE),
    C(
        '{{print "a" 1 "b"}} {{print 1 2}} {{print "a" "b"}} {{print 1 "a" 2}} {{print}} {{print .n .n}}',
        SAMPLE,
    ),
    C("{{print .l .m}} {{print true false}} {{print 1.5 2}}", SAMPLE),
    C('{{println "a" 1}}|{{println}}|{{println .s .a}}', SAMPLE),
    C(
        '{{printf "%d %s %v %q %x %X %o %b %e %g %.2f %5.1f|%-5d|%05d" '
        '42 "s" .m "q" 255 255 8 5 1234.5678 1e21 3.14159 2.5 7 42}}',
        SAMPLE,
        numbers=("int",),
    ),
    C('{{printf "%.0f %.0f %.0f %.0f" 0.5 1.5 2.5 -0.5}}'),
    C('{{printf "%d" "x"}}'),
    C('{{printf "%d %d" 1}}'),
    C('{{printf "%d" 1 2}}'),
    C('{{printf "%s"}}'),
    C('{{printf "%!"}}'),
    C('{{printf "%q" "\\x01é\\""}}'),
    C('{{printf "%v %+v %#v" .l .l .s}}', SAMPLE),
    C('{{printf "%T %T %T %T %T %T" 1 1.5 "s" .l .m .n}}', SAMPLE),
    C('{{printf "%5s|%-5s|%.2s" "ab" "ab" "abc"}}'),
    C('{{printf "%t %t" true 1}}'),
    C('{{printf "%c %U" 65 65}}'),
    C('{{printf "%x" "hi"}}'),
    C('{{printf "%v" .b}}', SAMPLE),
    C('{{printf "%d" .b}}', SAMPLE),
    C('{{printf "%d" .a}}', SAMPLE),
    C('{{printf "%%"}} {{printf "100%"}}'),
    C("{{printf}}"),
    C("{{printf 1}}"),
    C("{{printf .a}}", SAMPLE),
    C("{{printf .s}}", SAMPLE),
    C("{{printf .missing}}", SAMPLE),
    C('{{printf "%[2]d %[1]d" 1 2}}'),
    C('{{printf "%*d" 5 3}}'),
    C('{{.a | printf "%v!"}}', SAMPLE),
    C('{{"x" | printf "%s %s" "y"}}'),
    C('{{html .q}} {{html "<a>" 1 "b"}} {{html}} {{html .missing}} {{html .n}} {{html 1 2}}', SAMPLE),
    C('{{js .q}} {{js "\\u2028 = \\n \\\\"}} {{js 1 "a"}} {{js .missing}}', SAMPLE),
    C(
        '{{urlquery .q}} {{urlquery 5 " " 6}} {{urlquery "é/?~-_."}} {{urlquery}} {{urlquery .missing}}',
        SAMPLE,
    ),
    C("{{.q | html}} {{.q | js}} {{.q | urlquery}} {{.q | urlquery | html}}", SAMPLE),
    C('{{eq 1 1}} {{eq 1 2}} {{eq .s "str"}} {{eq .a 1 2 3}} {{eq .a 2 1}} {{eq .t true}}', SAMPLE),
    C("{{eq .a 1}}", SAMPLE),
    C("{{eq .b 2.5}}", SAMPLE),
    C("{{eq .a 1.0}}", SAMPLE),
    C("{{eq .missing .other}} {{eq .missing 1}} {{eq .n .missing}} {{eq .n nil}}", SAMPLE),
    C("{{eq .s 1}}", SAMPLE),
    C("{{eq .l .l}}", SAMPLE),
    C("{{eq .m .m}}", SAMPLE),
    C("{{eq .l 1}}", SAMPLE),
    C("{{eq .missing .l}}", SAMPLE),
    C("{{eq}}"),
    C("{{eq 1}}"),
    C("{{1 | eq 1}} {{2 | eq 1}}"),
    C("{{eq .t .f}} {{eq .z 0}}", SAMPLE),
    C('{{ne 1 2}} {{ne 1 1}} {{ne .s "x"}} {{ne 1 2 3}}', SAMPLE),
    C("{{ne .a 1}}", SAMPLE),
    C('{{lt 1 2}} {{lt 2 1}} {{le 1 1}} {{gt 2 1}} {{ge 1 2}} {{lt "a" "b"}} {{lt 1.5 2.5}}'),
    C("{{lt .a 2}}", SAMPLE),
    C("{{lt 1 2.0}}"),
    C("{{lt true false}}"),
    C("{{lt .missing 1}}", SAMPLE),
    C("{{lt .l 1}}", SAMPLE),
    C("{{lt 1i 2i}}"),
    C("{{le 1 1 1}}"),
    C("{{gt 1}}"),
    C('{{lt (index "a" 0) 98}} {{eq (index "a" 0) 97}} {{gt (index "a" 0) -1}} {{eq 97 (index "a" 0)}}'),
    C('{{eq (index "a" 0) 97.0}}'),
    C('{{lt "é" "z"}} {{lt "Z" "a"}}'),
    C("{{call .f}}", {"f": 1}),
    C("{{call .missing}}", {}),
    C("{{call}}"),
    C("{{call nil}}"),
    C("{{nope}}"),
    C("{{.a | nope}}", SAMPLE),
    C("{{print | len}}"),
    C("{{len | print}}"),
    C("{{3 | len}}"),
    C('{{"abc" | len}}'),
    C('{{"abc" | slice 1}}'),
    C('{{1 | index "abc"}}'),
    C("{{and 1 | print}}"),
    C('{{"x" | printf}}'),
    C("{{.s | html | len}}", SAMPLE),
]

# -- html/template ---------------------------------------------------------------------------------
HTML = ("html",)
ESC = {
    "q": "a\"b'c<d>e&f+g\x00h",
    "u": "javascript:alert(1)",
    "h": "http://x.y/p?q=1&r=2",
    "sp": "a b",
    "e": "",
    "n": None,
    "num": 42,
    "l": ["<a>", "b"],
    "m": {"k": "<v>"},
    "t": "+02:00",
    "js": "</script><!--",
    "css": "red;background:url(x)",
    "attr": "onclick",
    "ctl": "a\x00\t\n\u2028\ufdd0\uffff z",
    "ok": "title",
    "f": 1.5,
}
GROUPS["html"] = (
    [
        C(t, ESC, engines=HTML)
        for t in [
            "{{.q}}",
            "{{.q | html}}",
            "{{html .q}}",
            "{{.q | urlquery}}",
            "{{.q | js}}",
            '{{html .q | printf "%s"}}',
            "{{urlquery .q | len}}",
            "{{.missing}}|{{.n}}|{{.e}}",
            "{{.num}} {{.f}} {{.l}} {{.m}}",
            "{{.t}}",
            '{{printf "%q" .q}}',
            "{{html .missing}}",
            "{{print .missing}}",
            "{{js .missing}}",
            "{{.missing | html}}",
            "{{.missing | urlquery}}",
            '<?xml version="1.0"?><a>{{.q}}</a>',
            "a < b",
            "a <b> c",
            "x <!-- comment --> y {{.q}}",
            "<!DOCTYPE html><p>{{.q}}</p>",
            "<!doctype html>",
            "a<",
            "a</",
            "<a",
            "</a>",
            "<!-- unclosed",
            "<p>{{.q}}</p>",
            '<a href="{{.h}}">{{.q}}</a>',
            '<a href="{{.u}}">',
            "<a href='{{.u}}'>",
            "<a href={{.h}}>",
            '<a href="/p?x={{.q}}">',
            '<a href="/p#{{.q}}">',
            '<a href="{{.h}}/{{.q}}">',
            '<a href="x{{.q}}">',
            '<a title="{{.q}}">',
            "<a title='{{.q}}'>",
            "<a title={{.q}}>",
            "<a title={{.sp}}>",
            "<a title={{.e}}>",
            '<a title="{{.e}}">',
            '<a {{.ok}}="x">',
            '<a {{.attr}}="x">',
            "<a {{.q}}>",
            "<a {{.e}}>",
            "<a x{{.ok}}>",
            '<a title="x" {{.ok}}>',
            '<a onclick="f({{.q}})">',
            "<a onclick=\"f('{{.q}}')\">",
            "<a onclick='f(\"{{.q}}\")'>",
            '<a style="color: {{.css}}">',
            '<a style="color: red">{{.q}}',
            "<a style=\"background: url('{{.h}}')\">",
            '<img src="{{.h}}" srcset="{{.h}} 2x">',
            '<img srcset="{{.q}}">',
            '<a data-href="{{.u}}" data-x="{{.q}}">',
            '<a xmlns:x="{{.u}}">',
            "<script>var x = {{.q}};</script>",
            "<script>var x = {{.num}};</script>",
            "<script>var x = {{.l}}; var y = {{.m}};</script>",
            "<script>var x = {{.n}};</script>",
            '<script>var x = "{{.q}}";</script>',
            "<script>var x = '{{.js}}';</script>",
            "<script>var x = `{{.q}}`;</script>",
            "<script>var x = /{{.q}}/;</script>",
            "<script>var x = /{{.e}}/;</script>",
            "<script>// {{.q}}\nx</script>",
            "<script>/* {{.q}} */</script>",
            "<script>a = 1 / {{.num}}</script>",
            "<script>{{.f}}</script>",
            "<script>// comment\nvar a = 1; /* b\nc */ x /* d */ y</script>",
            '<script>a = "</script>"</script>',
            '<script type="text/template">{{.q}}</script>',
            '<script type="application/json">{{.m}}</script>',
            "<style>p { color: {{.css}} }</style>",
            '<style>p { color: "{{.q}}" }</style>',
            "<style>/* c */ p {}</style>",
            "<style>p { background: url({{.h}}) }</style>",
            "<textarea>{{.q}}</textarea>",
            "<title>{{.q}} <b></title>",
            "<textarea><b>{{.q}}</textarea>",
            '<meta http-equiv="refresh" content="0; url={{.h}}">',
            '<meta content="{{.q}}">',
            '<p title="{{if .num}}a{{else}}b{{end}}">',
            '{{if .num}}<a href="{{else}}<b>{{end}}',
            '<a href="{{.q}}',
            '<a title="x',
            "<script>",
            '<a href="{{if .num}}{{.h}}{{end}}">',
            "{{range .l}}<li>{{.}}</li>{{end}}",
            '<ul>{{range .l}}<li title="{{.}}">{{.}}{{end}}</ul>',
            '{{range .l}}<a href="{{.}}{{end}}">',
            '{{range .l}}{{if eq . "b"}}{{break}}{{end}}<i>{{.}}</i>{{end}}',
            '{{define "t"}}<b>{{.}}</b>{{end}}{{template "t" .q}}',
            '{{define "t"}}{{.}}{{end}}<a title="{{template "t" .q}}">',
            '{{define "t"}}{{.}}{{end}}<a href="{{template "t" .h}}">{{template "t" .q}}',
            '{{define "t"}}<a href="{{end}}{{template "t"}}',
            '{{template "nope"}}',
            '{{define "t"}}{{template "t" .}}{{end}}{{if .missing}}{{template "t" .}}{{end}}ok',
            '<a title="{{.q | html}}">',
            "<a title={{.q | html}}>",
            "<a title={{html .q}}>",
            '<a href="{{.q | urlquery}}">',
            '<a href="/x?{{.q | urlquery}}">',
            "{{.q | urlquery | html}}",
            '<a onclick="{{.q}}">',
            "<a onclick={{.q}}>",
            '<a title="{{.l}}">{{.m}}',
            "x {{/* c */}} <b>{{- .q -}}</b>",
            "<p a=b c='d' e=\"f\">{{.q}}</p>",
            '<p a="{{.q}}"b>',
            '<a "x">',
            "<a =x>",
            '<a title=x"y>',
            '<p {{if .num}}a="1"{{end}}>',
            '<input value="{{.q}}" checked>',
            '<a href="mailto:{{.q}}">',
            '<a href="{{.e}}">',
            '<a href="{{.n}}">',
            '<a href="{{.num}}">',
            '<a href="{{.h}}" title="{{.t}}">',
            '<a href="?a={{.q}}&b={{.sp}}">',
            '<a href="javascript:{{.q}}">',
        ]
    ]
    + [
        C(t, ESC, engines=HTML)
        for t in [
            "<script>var a = `x${ {{.q}} }y`;</script>",
            "<script>var a = `${ {a:{{.num}}} }`</script>",
            "<script>var a = `{{.q}}${1}{{.q}}`</script>",
            "<script>x = a / {{.num}} / 2</script>",
            "<script>x = (a) / {{.num}}</script>",
            "<script>return /{{.q}}/.test(x)</script>",
            "<script>x = [/[{{.q}}]/]</script>",
            '<script>{{if .num}}a = 1{{else}}b = "{{end}}"</script>',
            "<script>a++ / {{.num}}</script>",
            "<script>x = 1.5 / 2; y = {{.num}}</script>",
            "<script>x = y./{{.q}}/</script>",
            '<a onclick="x = &quot;{{.q}}&quot;">',
            "<a onclick=\"x = '{{.q}}'\">",
            "<a onclick=x({{.q}})>",
            '<a href="{{if .num}}http://a{{else}}/b{{end}}?{{.q}}">',
            '<a href="{{if .num}}http://a?{{end}}{{.q}}">',
            '<a style="x: {{.q}}">',
            '<a style="background: url(&quot;{{.h}}&quot;)">',
            "<style>a { x: '{{.q}}' }</style>",
            "<style>@import url({{.h}});</style>",
            '<style>a{b:url("{{.h}}?{{.q}}")}</style>',
            "<style>/* {{.q}} */</style>",
            "<style>a { color: {{.e}} }</style>",
            '<a title="{{.q}}" href="{{.h}}" onclick="{{.l}}" style="{{.num}}">',
            '<img srcset="{{.h}} 1x, {{.h}} 2x">',
            "<img srcset={{.h}}>",
            '<source srcset="a.png {{.q}}">',
            '<iframe srcdoc="{{.q}}"></iframe>',
            '<a data-onclick="{{.q}}" xlink:href="{{.h}}">',
            '<meta http-equiv=refresh content="1;url={{.h}}">',
            '<meta content="text; url={{.h}}; x={{.q}}">',
            '<textarea title="{{.q}}">{{.q}}</textarea>',
            "<title>{{.q}}</title><p>{{.q}}</p>",
            '<script type="text/x-template"><b>{{.q}}</b></script>',
            '<script type="module">{{.q}}</script>',
            "<SCRIPT>{{.q}}</SCRIPT>",
            "<script>x</script >{{.q}}",
            '<script>a = "</scr"+"ipt>"; {{.num}}</script>',
            "<!-- {{.q}} -->x",
            "<p <!-- x -->>",
            '<a title="{{.q}}"{{.q}}>',
            "<a{{.q}}>",
            '<a title="a"title2={{.q}}>',
            '<input {{if .num}}checked{{end}} value="{{.q}}">',
            '<a href="{{.h}}#{{.q}}">',
            '<a href="{{.q}}{{.h}}">',
            "<a href={{.e}}>x",
            '<a href="x" {{range .l}}data-{{.}}="{{.}}" {{end}}>',
            "<b>{{range .l}}<i>{{.}}{{end}}</b>",
            '{{with .q}}<a title="{{.}}">{{end}}',
            '<a title="{{with .e}}x{{else}}{{.}}{{end}}">',
            '<p title="{{/* c */}}">',
            '<a href="{{.h | urlquery}}">',
            "<a title={{.q | urlquery}}>",
            '<a title="{{.q | js}}">',
            "<script>{{.q | js}}</script>",
            '<script>"{{.q | html}}"</script>',
            '<a onclick="{{.q | urlquery}}">',
            '{{define "x"}}{{.}}{{end}}<script>var a = {{template "x" .q}};</script>',
            '{{define "x"}}<b>{{end}}<a title="{{template "x"}}">',
            '{{define "x"}}"{{end}}<a title="{{template "x"}}>',
            '{{define "x"}}{{if .}}{{template "x" false}}{{end}}<a>{{end}}<p title="{{template "x" true}}">',
            '{{define "x"}}{{template "y"}}{{end}}{{define "y"}}<a href="{{end}}{{template "x"}}">',
            "<script>var x = {{.f}}, y = {{.t}}, z = {{.e}};</script>",
            "<script>{{.ctl}}</script>",
            '<a title="{{.ctl}}" href="/{{.ctl}}">{{.ctl}}</a>',
            "<a title={{.ctl}}>",
        ]
    ]
    + [
        C("<script>var v = {{.}};</script>", d, engines=HTML)
        for d in ({"a": [1, 2.5, None, True, "s"]}, 1e21, 1e-7, 0.1, -0.0, "\u2028", [], {}, None, 100)
    ]
    + [
        C("{{if .x}}a{{end}}", {"x": 1}, engines=HTML, missingkeys=("default", "zero", "error")),
        C("{{.x}}|{{.x.y}}", {}, engines=HTML, missingkeys=("default", "zero", "error")),
        C('{{define "a"}}<b>{{.}}</b>{{end}}text', "v", engines=HTML, exec_template="a"),
        C('{{define "a"}}<a href="{{end}}text', "v", engines=HTML, exec_template="a"),
        C('{{define "a"}}A{{end}}text', "v", engines=HTML, exec_template="nope"),
        C('{{define "t"}}{{.x.y}}{{end}}<a title="{{template "t" .}}">', {"x": 1}, engines=HTML),
        C('{{define "t"}}{{len .x}}{{end}}<script>{{template "t" .}}</script>', {"x": 1}, engines=HTML),
        C(
            '{{define "t"}}{{.}}{{end}}<a href="{{template "t" .}}">{{template "t" .}}</a>',
            "javascript:x",
            engines=HTML,
        ),
        C('<<.q>> <a title="<<.q>>">', ESC, engines=HTML, delims=["<<", ">>"]),
    ]
)

# -- Tyk's templates and functions ----------------------------------------------------------------
QUOTA = {
    "Type": "QuotaExceeded",
    "TimeStamp": "2024-03-06 14:07:09.123456 +0000 UTC",
    "Meta": {
        "Message": "Key \"Quota\" <Limit> & 'x' +1",
        "Path": "/api/v1/x?a=1&b=2",
        "Origin": "10.0.0.1",
        "Key": "abc+def/=",
        "OriginatingRequest": "",
    },
}
TRIGGER = {
    "Type": "TriggerExceeded",
    "Meta": {
        "Message": "Quota trigger reached",
        "OrgID": "org1",
        "Key": "key1",
        "TriggerLimit": 80,
        "UsagePercentage": 85,
    },
}
HOST = {
    "Type": "HostDown",
    "Meta": {
        "Message": "Uptime test failed",
        "HostInfo": {
            "CheckURL": "http://up.example/health",
            "ResponseCode": 500,
            "Latency": 12.5,
            "IsTCPError": False,
            "MetaData": {"api_id": "api1", "host_name": "up.example"},
        },
    },
}
DEFAULT_LIKE = (
    '{{if eq .Type "HostDown"}}\n{\n    "event": "{{.Type}}",\n    "message": "{{.Meta.Message}}",\n'
    '    "url": "{{.Meta.HostInfo.CheckURL}}",\n    "response_code": "{{.Meta.HostInfo.ResponseCode}}",\n'
    '    "tcp_error": "{{.Meta.HostInfo.IsTCPError}}",\n'
    '    "host": "{{.Meta.HostInfo.MetaData.host_name}}"\n}\n'
    '{{else if eq .Type "TriggerExceeded"}}\n{\n    "event": "{{.Type}}",\n    "org": "{{.Meta.OrgID}}",\n'
    '    "trigger_limit": "{{.Meta.TriggerLimit}}"\n}\n{{else}}\n{\n    "event": "{{.Type}}",\n'
    '    "message": "{{.Meta.Message}}",\n    "path": "{{.Meta.Path}}",\n    "origin": "{{.Meta.Origin}}",\n'
    '    "key": "{{.Meta.Key}}"\n}\n{{end}}\n\n'
)
GROUPS["tyk"] = [
    C(DEFAULT_LIKE, d, numbers=n)
    for d in (QUOTA, TRIGGER, HOST, {"Type": "X"}, {"Type": "X", "Meta": None})
    for n in (("int",), ("float",))
] + [
    C("{{.TimeStamp | as_rfc3339_from_string}}", QUOTA, funcs=TYK),
    C(
        "{{as_rfc3339_from_string .TimeStamp}}",
        {"TimeStamp": "2025-01-02 03:04:05.999999 +0200 CEST"},
        funcs=TYK,
    ),
    C(
        "{{as_rfc3339_from_string .TimeStamp}}",
        {"TimeStamp": "2024-03-06 14:07:09.123456789 +0000 UTC"},
        funcs=TYK,
    ),
    C("{{as_rfc3339_from_string .TimeStamp}}", {"TimeStamp": "2024-03-06 14:07:09 +0000 UTC"}, funcs=TYK),
    C(
        "{{as_rfc3339_from_string .TimeStamp}}",
        {"TimeStamp": "2024-03-06 14:07:09.5 +0000 UTC m=+0.000000001"},
        funcs=TYK,
    ),
    C("{{as_rfc3339_from_string .TimeStamp}}", {"TimeStamp": "2024-03-06T14:07:09Z"}, funcs=TYK),
    C("{{as_rfc3339_from_string .TimeStamp}}", {"TimeStamp": ""}, funcs=TYK),
    C("{{as_rfc3339_from_string .TimeStamp}}", {"TimeStamp": 5}, funcs=TYK),
    C("{{as_rfc3339_from_string .missing}}", {}, funcs=TYK),
    C("{{as_rfc3339_from_string}}", {}, funcs=TYK),
    C("{{as_rfc3339_from_string 5}}", {}, funcs=TYK),
    C("{{as_rfc3339 .TimeStamp}}", QUOTA, funcs=TYK),
    C("{{as_rfc3339 .missing}}", {}, funcs=TYK),
    C('{{as_rfc3339 "x"}}', {}, funcs=TYK),
    C("{{as_rfc3339_from_string .TimeStamp}}", QUOTA),
]


# -- shapes the compiler specialises (dispatch chains, fused text+action) ------------------------
CHAIN = (
    '{{if eq .T "a"}}A{{else if eq .T "b" "c"}}BC{{.T}}{{else if eq .T "a"}}dup{{else}}other:{{.T}}{{end}}'
)
CHAIN2 = 'x{{if eq .M.T "a"}}A{{else if eq .M.T "b"}}B{{else if eq .M.U "c"}}C{{end}}y'
GROUPS["shapes"] = (
    [
        C(CHAIN, d)
        for d in (
            {"T": "a"},
            {"T": "b"},
            {"T": "c"},
            {"T": "z"},
            {"T": ""},
            {},
            {"T": None},
            {"T": 1},
            {"T": ["a"]},
            {"T": True},
            None,
            "str",
            {"T": "A"},
        )
    ]
    + [
        C(CHAIN2, d)
        for d in (
            {"M": {"T": "a"}},
            {"M": {"T": "b"}},
            {"M": {"T": "q", "U": "c"}},
            {"M": {"T": 1, "U": "c"}},
            {"M": None},
            {"M": {}},
            {},
            {"M": "s"},
        )
    ]
    + [
        C('{{if eq .T "a"}}{{$x := 1}}{{$x}}{{else if eq .T "b"}}B{{end}}', {"T": "a"}),
        C('{{if eq .T "a"}}A{{else if eq .T "b"}}{{break}}{{end}}', {"T": "b"}),
        C(
            '{{range .L}}{{if eq . "a"}}A{{else if eq . "b"}}{{continue}}'
            '{{else if eq . "c"}}{{break}}{{end}}.{{end}}',
            {"L": ["a", "b", "x", "c", "a"]},
        ),
        C('{{if eq .T "a"}}A{{else if eq .U "b"}}B{{else}}C{{end}}', {"T": "x", "U": "b"}),
        C('{{if eq (print .T) "a" "1"}}yes{{else}}no{{end}}', {"T": 1}, numbers=("int",)),
        C('{{if eq (print .T) "a"}}yes{{else}}no{{end}}', {"T": None}),
        C('{{if eq (index .L 0) "a"}}y{{end}}', {"L": [1]}),
        C('{{if eq .T.x "a"}}y{{end}}', {"T": "s"}),
        C("pre {{.A.B}} mid {{.A.C}} post", {"A": {"B": "<b>", "C": None}}),
        C("pre {{.A.B}} post", {"A": None}),
        C("pre {{.A.B}} post", {"A": "s"}),
        C("pre {{.A.B}} post", {"A": {"B": [1, "<"]}}),
        C("pre {{.A.B}} post", {"A": {"B": 2.5}}),
        C("pre {{.A.B}} post", {}, missingkeys=("default", "zero", "error")),
        C("a{{.X}}b{{.Y.Z}}c{{.X | print}}d", {"X": "+", "Y": {"Z": "&"}}),
        C("{{.X}}{{.X}}", {"X": "\u2028<\x00>"}),
        C("t {{/* c */}} {{.X}}", {"X": "'"}),
        C("t {{$x := .X}} {{$x}}", {"X": "'"}),
        C("{{.X.Y.Z}}", {"X": {"Y": {}}}),
        C(
            '{{printf "%T" .missing}}|{{printf "%T" .n}}|{{printf "%T" .l}}|{{printf "%T" .m}}|'
            '{{printf "%T" .s}}|{{printf "%T" .a}}|{{printf "%T" 1}}|{{printf "%T" 1.5}}|{{printf "%T" nil}}',
            SAMPLE,
        ),
        C('{{if eq (printf "%T" .m) "map[string]interface {}"}}map{{end}}', SAMPLE),
        C('{{printf "%T" .missing.x}}', SAMPLE),
        C('{{printf "%T" (len .missing)}}', SAMPLE),
    ]
)


def expand(case: dict) -> list[dict]:
    out = []
    engines = case.pop("engines", BOTH)
    numbers = case.pop("numbers", NUMS)
    missingkeys = case.pop("missingkeys", ("default",))
    case.pop("expect_error_only", None)
    for engine in engines:
        for num in numbers:
            for mk in missingkeys:
                v = dict(case, engine=engine, numbers=num)
                if mk != "default":
                    v["missingkey"] = mk
                out.append(v)
    return out


def run_oracle(oracle: str, reqs: list[dict]) -> list[dict]:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reqs)
    res = subprocess.run([oracle], input=lines.encode(), capture_output=True, check=True)
    return [json.loads(x) for x in res.stdout.decode().splitlines()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", default="/usr/local/bin/gotmpl-oracle")
    args = ap.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    total = 0
    for group, cases in GROUPS.items():
        reqs = []
        for case in cases:
            reqs.extend(expand(dict(case)))
        for i, r in enumerate(reqs):
            r["id"] = "%s-%d" % (group, i)
        results = run_oracle(args.oracle, reqs)
        with open(OUT_DIR / ("%s.jsonl" % group), "w", encoding="utf-8") as fh:
            for r, res in zip(reqs, results, strict=True):
                if res.get("error_class") in ("request", "panic"):
                    raise SystemExit("oracle refused %s: %s" % (r["id"], res["error"]))
                v = dict(r, output=res["output"], error=res["error"], error_class=res["error_class"])
                if "output_b64" in res:
                    v["output_b64"] = res["output_b64"]
                fh.write(json.dumps(v, ensure_ascii=False) + "\n")
        total += len(reqs)
        print("%s: %d vectors" % (group, len(reqs)))
    print("total: %d" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
