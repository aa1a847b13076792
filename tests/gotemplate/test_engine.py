"""The template engine's API and the behaviours Go-generated vectors cannot express
(Python values such as structs, typed maps and times; error attributes; reuse).
Go's own outputs for JSON data are checked in test_engine_vectors.py."""

from __future__ import annotations

import threading

import pytest

from tykevents.golang.time import TYK_FUNCS, GoDuration, GoTime
from tykevents.gotemplate import EscapeError, ExecError, ParseError, TemplateError, parse
from tykevents.gotemplate.values import IFACE_FIELDS, GoMap, GoStruct

# -- parse errors ---------------------------------------------------------------------------


def test_parse_error_carries_name_line_and_column():
    with pytest.raises(ParseError) as ei:
        parse('{\n  "a": "{{.a}}",\n  "b": "{{.b | nope}}"\n}', name="hook.json", engine="text")
    e = ei.value
    assert str(e) == 'template: hook.json:3: function "nope" not defined'
    assert (e.name, e.line, e.col) == ("hook.json", 3, 16)
    assert e.kind == "parse" and isinstance(e, TemplateError)


def test_parse_error_column_points_at_the_bad_token():
    with pytest.raises(ParseError) as ei:
        parse("ab {{.x.}}", engine="text")
    assert ei.value.line == 1 and ei.value.col == 8


def test_unclosed_action_reports_the_line_it_ends_on():
    with pytest.raises(ParseError) as ei:
        parse("{{if .a}}\nx\n", name="t", engine="html")
    assert str(ei.value) == "template: t:3: unexpected EOF"
    assert ei.value.line == 3


# -- execution errors and partial output ------------------------------------------------------------


def test_exec_error_keeps_partial_output():
    t = parse("before {{.a}} {{len .missing}} after", name="t", engine="text")
    with pytest.raises(ExecError) as ei:
        t.execute({"a": "A"})
    assert ei.value.partial == "before A "
    assert str(ei.value).startswith('template: t:1:16: executing "t" at <len .missing>: ')


def test_template_is_reusable_and_state_does_not_leak():
    t = parse("{{$x := .a}}{{range .l}}{{$x}}{{.}}{{end}}", engine="text")
    assert t.execute({"a": 1, "l": [1, 2]}) == "1112"
    with pytest.raises(ExecError):
        t.execute({"a": 1, "l": 5.5})
    assert t.execute({"a": "z", "l": ["q"]}) == "zq"


def test_concurrent_executions_are_independent():
    t = parse("{{range .l}}{{.}},{{end}}", engine="html")
    results: dict[int, str] = {}

    def work(i: int) -> None:
        for _ in range(200):
            results[i] = t.execute({"l": [i] * 3})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == {i: "%d,%d,%d," % (i, i, i) for i in range(4)}


def test_deep_recursion_is_an_exec_error_not_a_crash():
    t = parse('{{define "r"}}{{template "r" .}}{{end}}x{{template "r" .}}', name="t", engine="text")
    with pytest.raises(ExecError) as ei:
        t.execute(None)
    assert "exceeded maximum template depth (100000)" in str(ei.value)
    assert ei.value.partial == "x"


def test_execute_named_template_and_unknown_name():
    t = parse('{{define "x"}}X{{.}}{{end}}main', name="m", engine="text")
    assert t.execute(1) == "main"
    assert t.execute(2, name="x") == "X2"
    assert sorted(t.names()) == ["m", "x"]
    with pytest.raises(ExecError, match='no template "y" associated with template "m"'):
        t.execute(1, name="y")
    h = parse('{{define "x"}}X{{end}}', name="m", engine="html")
    with pytest.raises(ExecError, match='html/template: "y" is undefined'):
        h.execute(1, name="y")


def test_bad_options_are_rejected():
    with pytest.raises(ValueError):
        parse("x", engine="xml")
    with pytest.raises(ValueError):
        parse("x", missingkey="sometimes")
    with pytest.raises(ValueError):
        parse("x", funcs={"bad-name": len})
    with pytest.raises(ValueError):
        parse("x", funcs={"f": 3})


# -- html/template ---------------------------------------------------------------------------


def test_escape_errors_are_raised_at_parse_time():
    with pytest.raises(EscapeError) as ei:
        parse('<a href="{{.x}}', name="t", engine="html")
    assert str(ei.value).startswith("html/template:t: ends in a non-text context: ")
    with pytest.raises(EscapeError) as ei:
        parse("{{if .a}}<a href='{{else}}<b>{{end}}", name="t", engine="html")
    assert ei.value.line == 1 and ei.value.col == 6
    # text/template has no such analysis
    assert parse('<a href="{{.x}}', engine="text").execute({"x": "<"}) == '<a href="<'


def test_html_escaping_as_tyk_sends_it():
    t = parse('"{{.Message}}" {{.Missing}}|{{.Nil}}|{{.Offset}}', engine="html")
    out = t.execute({"Message": "Key \"Quota\" <Limit> & 'x' +1\x00", "Nil": None, "Offset": "+02:00"})
    assert out == '"Key &#34;Quota&#34; &lt;Limit&gt; &amp; &#39;x&#39; &#43;1\ufffd" ||&#43;02:00'


def test_render_bytes_keeps_go_bytes():
    t = parse('{{"\\xff\\xfe"}}{{slice "é" 0 1}}{{.s}}', engine="text")
    assert t.render_bytes({"s": "ü"}) == b"\xff\xfe\xc3" + "ü".encode()
    assert parse("{{.}}", engine="html").render_bytes("plain") == b"plain"


# -- Python-side values: structs, typed maps, times, functions ------------------------------------


def _event(meta):
    return GoStruct("config.EventMessage", {"Type": "TokenCreated", "Meta": meta, "TimeStamp": "t"})


def test_struct_fields_and_missing_field_errors():
    IFACE_FIELDS.setdefault("config.EventMessage", frozenset({"Meta"}))
    token = GoStruct(
        "model.EventTokenMeta", {"Message": "m", "OriginatingRequest": "", "Org": "o", "Key": "k"}
    )
    t = parse("{{.Meta.Message}}/{{.Meta.Path}}", name="d", engine="html")
    with pytest.raises(ExecError) as ei:
        t.execute(_event(token))
    assert ei.value.partial == "m/"
    assert str(ei.value).endswith("can't evaluate field Path in type interface {}")
    with pytest.raises(ExecError) as ei:
        t.execute(_event(None))
    assert str(ei.value).endswith("nil pointer evaluating interface {}.Message")
    w = parse("{{with .Meta}}{{.Path}}{{end}}", engine="text")
    with pytest.raises(ExecError, match="in type model.EventTokenMeta$"):
        w.execute(_event(token))


def test_typed_map_zero_value_and_order():
    m = GoMap({"b": "2", "a": "1"}, "map[string]string", "")
    assert (
        parse("{{.m}} {{range $k, $v := .m}}{{$k}}{{$v}}{{end}}", engine="text").execute({"m": m})
        == "map[a:1 b:2] a1b2"
    )
    assert parse("[{{.m.zz}}]", engine="text", missingkey="zero").execute({"m": m}) == "[]"
    assert parse("[{{.m.zz}}]", engine="text").execute({"m": m}) == "[<no value>]"
    assert parse("[{{.zz}}]", engine="text", missingkey="zero").execute({}) == "[<no value>]"


def test_methods_and_typed_arguments():
    t = GoTime.date(2024, 3, 6, 14, 7, 9, 0)
    data = {"T": t, "D": GoDuration(10_000_000_000)}
    out = parse(
        '{{.T}}|{{.T.Year}} {{.T.Month}} {{.T.Format "2006-01-02"}}|{{.D}} {{.T.Add 1000000000}}',
        engine="text",
    ).execute(data)
    assert out == "2024-03-06 14:07:09 +0000 UTC|2024 March 2024-03-06|10s 2024-03-06 14:07:10 +0000 UTC"
    with pytest.raises(ExecError, match="expected string; found 1"):
        parse("{{.T.Format 1}}", engine="text").execute(data)
    with pytest.raises(ExecError, match="wrong number of args for Year: want 0 got 1"):
        parse("{{.T.Year 1}}", engine="text").execute(data)


def test_tyk_functions_and_html_escaping_of_their_results():
    t = parse("{{.T | as_rfc3339}} {{as_rfc3339_from_string .S}}", engine="html", funcs=TYK_FUNCS)
    out = t.execute(
        {
            "T": GoTime.date(2024, 3, 6, 14, 7, 9, 0, offset=7200, zone="CEST"),
            "S": "2024-03-05 16:07:09.5 +0200 CEST",
        }
    )
    assert out == "2024-03-06T14:07:09&#43;02:00 2024-03-05T16:07:09&#43;02:00"
    with pytest.raises(ParseError, match='function "as_rfc3339" not defined'):
        parse("{{as_rfc3339 .T}}", engine="html")
    with pytest.raises(ExecError, match="wrong type for value; expected time.Time; got string"):
        t.execute({"T": "x", "S": ""})


def test_user_function_errors_and_signatures():
    def boom(x):
        raise RuntimeError("kaput")

    def add(a: int, b: int) -> int:
        return a + b

    def join(sep: str, *parts) -> str:
        return sep.join(str(p) for p in parts)

    t = parse(
        '{{add 1 2}} {{join "-" 1 "a" .x}} {{3 | add 4}}',
        engine="text",
        funcs={"boom": boom, "add": add, "join": join},
    )
    assert t.execute({"x": True}) == "3 1-a-True 7"
    with pytest.raises(ExecError, match=r"at <boom 1>: error calling boom: kaput$"):
        parse("{{boom 1}}", engine="text", funcs={"boom": boom}).execute(None)
    with pytest.raises(ExecError, match="wrong number of args for add: want 2 got 1"):
        parse("{{add 1}}", engine="text", funcs={"add": add}).execute(None)
    with pytest.raises(ExecError, match="wrong type for value; expected int; got float64"):
        parse("{{add .f 1}}", engine="text", funcs={"add": add}).execute({"f": 1.5})

    def typed(t):
        return "ok"

    typed.go_params = ("time.Time",)
    with pytest.raises(ExecError, match="expected time.Time; got int"):
        parse("{{typed .n}}", engine="text", funcs={"typed": typed}).execute({"n": 1})


def test_user_function_can_shadow_break_keyword():
    t = parse("{{range .}}{{break}}{{end}}", engine="text", funcs={"break": lambda: "B"})
    assert t.execute([1, 2]) == "BB"
