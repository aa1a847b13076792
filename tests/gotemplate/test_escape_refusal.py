"""Templates html/template refuses to escape, against Go (data/escape.jsonl, recorded by
parity_cases.py with the oracle). Go parses them (Tyk's ParseFiles succeeds) and fails every
Execute with the same error, whatever the data: the escaper never looks at the data, so
`escape_error()` knows the outcome beforehand (what `tykevents check` reports)."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import pytest

from tykevents.gotemplate import EscapeError, TemplateError, parse

VECTORS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "escape.jsonl").read_text(encoding="utf-8").splitlines()
]
REFUSED = [v for v in VECTORS if v["error_class"] == "escape"]


def _tpl(vec: dict, **kw: object):
    return parse(vec["template"], name=vec["name"], engine="html", defer_escape=True, **kw)


def test_the_vectors_cover_refusals_and_controls() -> None:
    assert len(REFUSED) >= 50 and len(VECTORS) - len(REFUSED) >= 6
    assert {v["error_class"] for v in VECTORS} == {"escape", None}  # ParseFiles accepts every one


def test_go_refuses_whatever_the_data() -> None:
    # Each template ran over two different data values: Go's answer is the same.
    for _, pair in groupby(VECTORS, key=lambda v: v["id"].rsplit("-", 1)[0]):
        a, b = list(pair)
        assert a["template"] == b["template"] and a["data"] != b["data"]
        if a["error_class"] == "escape":
            assert (a["output"], a["error"]) == (b["output"], b["error"]) == ("", a["error"])


@pytest.mark.parametrize("vec", VECTORS, ids=[v["id"] for v in VECTORS])
def test_execute_matches_go(vec: dict) -> None:
    t = _tpl(vec)
    try:
        out, err = t.execute(vec["data"]), None
    except TemplateError as e:
        out, err = getattr(e, "partial", ""), f"{e.kind}: {e}"
    assert (out, err) == (vec["output"], vec["error"])


@pytest.mark.parametrize("vec", REFUSED, ids=[v["id"] for v in REFUSED])
def test_refusal_is_known_before_execution_and_repeats(vec: dict) -> None:
    t = _tpl(vec)
    err = t.escape_error()  # no execute yet
    assert isinstance(err, EscapeError) and f"escape: {err}" == vec["error"]
    for _ in range(2):  # every Execute fails the same way (Go keeps the error)
        with pytest.raises(EscapeError) as ei:
            t.execute(vec["data"])
        assert str(ei.value) == str(err) and ei.value.location() == err.location()
    with pytest.raises(EscapeError) as ei:  # without defer_escape, parse raises it
        parse(vec["template"], name=vec["name"], engine="html")
    assert str(ei.value) == str(err)


@pytest.mark.parametrize("vec", REFUSED, ids=[v["id"] for v in REFUSED])
def test_location_is_gos_where_go_gives_one(vec: dict) -> None:
    err = _tpl(vec).escape_error()
    assert err is not None
    name, line, col = err.location().rsplit(":", 2)
    assert name == vec["name"]
    text_lines = vec["template"].split("\n")
    assert 1 <= int(line) <= len(text_lines) and 0 <= int(col) <= len(text_lines[int(line) - 1].encode())
    go_place = vec["error"].removeprefix("escape: html/template:").split(": ", 1)[0]
    if go_place != vec["name"]:  # Go names `file:line:col`
        assert err.location() == go_place


@pytest.mark.parametrize(
    "text, where",
    [
        # ends in a non-text context: the end of the template
        ('{\n  "event": "{{.Type}}"\n}\n<script>{{.Type}}', "hook.json:4:17"),
        ('<a href="{{.X}}', "hook.json:1:15"),
        # an error in the HTML text: where that text's context began
        ('{\n  "a": 1\n}\n<img src=x<y>{{.X}}', "hook.json:4:9"),
        ("<script>{{if .C}}x{{end}}/-{{.X}}/</script>", "hook.json:1:25"),
        # a called define leaves the caller inside a tag: the caller's end
        ('{{define "x"}}<a {{end}}{{template "x"}}{{.X}}', "hook.json:1:46"),
    ],
)
def test_location_where_go_names_none(text: str, where: str) -> None:
    err = parse(text, name="hook.json", engine="html", defer_escape=True).escape_error()
    assert err is not None and "html/template:hook.json: " in str(err)
    assert err.location() == where
    assert err.location("/etc/tyk/hook.json") == "/etc/tyk/" + where


def test_accepted_templates_have_no_escape_error_and_text_none() -> None:
    assert parse("<a href={{.X}}>", engine="html", defer_escape=True).escape_error() is None
    assert parse('<a href="{{.X}}', engine="text").escape_error() is None
    assert parse("{{.X}}", engine="html").escape_error(name="nope") is None


def test_a_refused_template_runs_its_other_templates() -> None:
    # Go escapes per executed template: a define that escapes cleanly still runs.
    t = parse('{{define "ok"}}<b>{{.}}</b>{{end}}<a href="{{.}}', engine="html", defer_escape=True)
    assert t.escape_error() is not None
    assert t.execute("<x>", name="ok") == "<b>&lt;x&gt;</b>"


def _functions() -> int:
    import gc
    import types

    return sum(1 for o in gc.get_objects() if isinstance(o, types.FunctionType))


def test_compile_does_the_work_of_a_first_execute_ahead_of_it() -> None:
    """A daemon loads templates, then freezes what it loaded out of the collector's full
    passes (docs/operations.md#garbage-collection): the closures must exist by then."""
    from tykevents.deliver.webhook.handler import load_template

    text = (
        '{{define "q"}}{{. | printf "%q"}}{{end}}'
        '{{if eq .A 1}}one{{else if eq .A 2}}two{{else}}{{template "q" .B}}{{end}}'
    )
    t = parse(text, name="t", engine="html", defer_escape=True)
    before = _functions()
    t.compile()
    assert _functions() - before > 5  # the compiled runner's closures
    before = _functions()
    assert t.execute({"A": 3, "B": "x"}) == "&#34;x&#34;"
    assert _functions() - before <= 0  # nothing left to compile
    # The webhook loader compiles, so the daemon's templates are compiled before the freeze.
    tpl = load_template(Path(__file__).resolve().parents[2] / "templates" / "default_webhook.json")
    before = _functions()
    tpl.compile()
    assert _functions() - before <= 0
    # A template the escaper refuses stays refused, at every execute.
    bad = parse("<a href='{{.}}", name="bad", engine="html", defer_escape=True)
    bad.compile()
    with pytest.raises(EscapeError):
        bad.execute("x")
