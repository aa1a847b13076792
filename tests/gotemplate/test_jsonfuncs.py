"""toJSON and jsonString: valid JSON from any value, unescaped in html/template's text context."""

from __future__ import annotations

import json

import pytest

from tykevents.golang.time import parse_rfc3339nano
from tykevents.gotemplate import parse
from tykevents.gotemplate.jsonfuncs import JSON_FUNCS
from tykevents.tykmeta import template_data

NASTY = 'Key "Quota" <Limit> & \\ \x01\x1f \u2028 +02:00 é'


def render(text: str, data, engine: str = "html") -> str:
    return parse(text, engine=engine, funcs=JSON_FUNCS).execute(data)


@pytest.mark.parametrize("engine", ["html", "text"])
def test_json_string_survives_every_character(engine: str) -> None:
    data = template_data("QuotaExceeded", {"Message": NASTY, "Path": "/x?a=1&b=2", "Key": "k+1"}, "ts")
    out = render(
        '{"message": {{jsonString .Meta.Message}}, "path": {{.Meta.Path | jsonString}}}', data, engine
    )
    assert json.loads(out) == {"message": NASTY, "path": "/x?a=1&b=2"}


def test_to_json_of_structs_uses_tyks_json_keys() -> None:
    meta = {"org_id": "o1", "key": "k", "trigger_limit": 80, "usage_percentage": 85}
    out = render("{{toJSON .Meta}}", template_data("TriggerExceeded", meta, "ts"))
    assert json.loads(out) == {
        "Message": "",
        "OriginatingRequest": "",
        "org_id": "o1",
        "key": "k",
        "trigger_limit": 80,
        "usage_percentage": 85,
    }


def test_to_json_of_values() -> None:
    data = {
        "n": 3,
        "f": 1.5,
        "b": True,
        "z": None,
        "l": [1, "a"],
        "m": {"b": 1, "a": [None]},
        "t": parse_rfc3339nano("2024-03-06T14:07:09.5Z"),
    }
    out = render(
        "{{toJSON .n}} {{toJSON .f}} {{toJSON .b}} {{toJSON .z}} {{toJSON .l}} {{toJSON .m}} {{toJSON .t}}",
        data,
    )
    assert out == '3 1.5 true null [1,"a"] {"b":1,"a":[null]} "2024-03-06T14:07:09.5Z"'


def test_plain_interpolation_is_still_html_escaped() -> None:
    out = render("{{.s}}|{{jsonString .s}}", {"s": '"<'})
    assert out == '&#34;&lt;|"\\"<"'


def test_json_in_an_attribute_is_escaped_like_text() -> None:
    out = render('<a title="{{jsonString .s}}">', {"s": "x"})
    assert out == '<a title="&#34;x&#34;">'
