"""templates/*.json against Tyk's own templates.

tests/data/tyk_default_webhook.json is Tyk's default template (reconstructed, and checked
byte for byte against Go's rendering); tests/data/gotmpl/tyk_*.jsonl holds what Go renders
with it (and with Tyk's monitor/breaker templates) for every event type. Our templates must
give the same bytes wherever Tyk's render, and valid JSON where Tyk's cannot (Token and
custom events) or render invalid JSON (UpstreamOAuthError's trailing comma)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from tykevents.golang.time import TYK_FUNCS
from tykevents.gotemplate import ExecError, parse
from tykevents.tykmeta import template_data

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
TYK_DEFAULT = (ROOT / "tests" / "data" / "tyk_default_webhook.json").read_text(encoding="utf-8")
OURS = {
    name: (TEMPLATES / name).read_text(encoding="utf-8")
    for name in ("default_webhook.json", "monitor_template.json", "breaker_webhook.json")
}
DATA = ROOT / "tests" / "data" / "gotmpl"


def _vectors(name: str) -> list:
    with (DATA / name).open(encoding="utf-8") as f:
        return [pytest.param(v, id=v["id"]) for v in map(json.loads, f)]


DEFAULT_VECTORS = _vectors("tyk_default_webhook.jsonl")
MB_VECTORS = _vectors("tyk_monitor_breaker.jsonl")


def _tpl(text: str, name: str = "default_webhook.json", funcs: bool = True):
    return parse(text, name=name, engine="html", funcs=TYK_FUNCS if funcs else None)


OUR_DEFAULT = _tpl(OURS["default_webhook.json"])
REF_DEFAULT = _tpl(TYK_DEFAULT)


def render(
    tpl, typ: str, meta, ts: str = "2024-03-05 14:07:09 +0000 UTC", go_names: bool = False
) -> tuple[str, str | None]:
    try:
        return tpl.execute(template_data(typ, meta, ts, go_names=go_names)), None
    except ExecError as e:
        return e.partial, "exec"


def render_vec(tpl, vec) -> tuple[str, str | None]:
    d = vec["data"]
    return render(tpl, d["Type"], d["Meta"], d["TimeStamp"], go_names=True)


# ------------------------------------------------------------------ Tyk's template, our engine


@pytest.mark.parametrize("vec", DEFAULT_VECTORS)
def test_tyk_default_template_renders_like_go(vec):
    assert render_vec(REF_DEFAULT, vec) == (vec["output"], vec["error_class"])


@pytest.mark.parametrize("vec", MB_VECTORS)
def test_our_monitor_and_breaker_templates_render_like_tyks(vec):
    assert vec["template"] == OURS[vec["name"]]  # ours are Tyk's files unchanged
    out = render_vec(_tpl(OURS[vec["name"]], vec["name"], funcs=False), vec)
    assert out == (vec["output"], vec["error_class"])


# ------------------------------------------------------------------ our default template


@pytest.mark.parametrize("vec", DEFAULT_VECTORS)
def test_our_default_template(vec):
    typ = vec["data"]["Type"]
    out, err = render_vec(OUR_DEFAULT, vec)
    assert err is None
    assert out.startswith("\n{") and out.endswith("}\n\n\n")
    if vec["error_class"] is None and typ != "UpstreamOAuthError":
        assert out == vec["output"]  # Tyk renders it: the very same bytes
    elif typ == "UpstreamOAuthError":
        assert vec["output"].count(",\n}") == 1  # Tyk's trailing comma ...
        assert out == vec["output"].replace(",\n}", "\n}")  # ... is the only difference
    else:
        assert vec["error_class"] == "exec" and typ.startswith("Token")
    if "\\" not in json.dumps(vec["data"]["Meta"]):  # values with backslashes stay raw, as in Tyk
        body = json.loads(out)
        assert body["event"] == typ


def test_token_events_render_valid_json():
    for typ, msg in (
        ("TokenCreated", "Key generated."),
        ("TokenUpdated", "Key modified."),
        ("TokenDeleted", "Key deleted."),
    ):
        out, err = render(OUR_DEFAULT, typ, {"Message": msg, "Org": "org1", "Key": "key+1"})
        assert err is None
        assert json.loads(out) == {"event": typ, "message": msg, "org": "org1", "key": "key&#43;1"}
        assert render(REF_DEFAULT, typ, {"Message": msg})[1] == "exec"  # Tyk sends nothing


@pytest.mark.parametrize(
    "meta,message",
    [
        ({"Message": "payload <1>"}, "payload &lt;1&gt;"),
        ({}, ""),
        (None, ""),
        ("bare payload", "bare payload"),
        ({"Message": "m", "OriginatingRequest": "R0VU"}, "m"),
    ],
)
def test_custom_events_render_valid_json(meta, message):
    out, err = render(OUR_DEFAULT, "MyPluginEvent", meta)
    assert err is None
    assert out == '\n{\n    "event": "MyPluginEvent",\n    "message": "%s"\n}\n\n\n' % message
    if meta is not None:
        assert render(REF_DEFAULT, "MyPluginEvent", meta)[1] == "exec"  # Tyk: .Meta.Path fails


def test_custom_event_with_its_own_object_uses_map_semantics():
    out, err = render(OUR_DEFAULT, "MyEvent", {"Message": "m", "path": "/x", "Key": "k"})
    assert err is None and json.loads(out) == {
        "event": "MyEvent",
        "message": "m",
        "path": "",
        "origin": "",
        "key": "k",
    }


NULL_META = [
    pytest.param(json.loads(line), id=json.loads(line)["id"])
    for line in (Path(__file__).parent / "data" / "null_meta.jsonl").read_text(encoding="utf-8").splitlines()
]


@pytest.mark.parametrize("vec", NULL_META)
def test_struct_event_with_null_or_absent_meta_gets_its_zero_struct(vec):
    # Tyk always fires these events with their struct; Go's side (the oracle) is its zero
    # value, and so is ours whether Meta is null or absent (parity_cases.py).
    tpl = REF_DEFAULT if "-tyk-" in vec["id"] else OUR_DEFAULT
    d = vec["data"]
    assert render(tpl, d["Type"], d.get("Meta"), d.get("TimeStamp", ""), go_names=True) == (
        vec["output"],
        vec["error_class"],
    )
    for go_names in (False, True):  # the JSON-keyed path the daemon takes gives the same
        assert (
            render(tpl, d["Type"], d.get("Meta"), d.get("TimeStamp", ""), go_names=go_names)[1]
            == (vec["error_class"])
        )


def test_nil_meta_of_custom_events():
    # Custom events have no struct: a null Meta stays nil, which Tyk's template cannot render
    # and ours renders in its EventMetaDefault branch.
    assert render(REF_DEFAULT, "MyPluginEvent", None)[1] == "exec"
    assert render(OUR_DEFAULT, "MyPluginEvent", None) == (
        '\n{\n    "event": "MyPluginEvent",\n    "message": ""\n}\n\n\n',
        None,
    )


def test_changes_against_tyks_template_are_only_the_documented_ones():
    diff = [
        line
        for line in difflib.unified_diff(
            TYK_DEFAULT.splitlines(), OURS["default_webhook.json"].splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '-    "api_id": "{{.Meta.APIID}}",',
        '+    "api_id": "{{.Meta.APIID}}"',
        '+{{ else if eq .Type "TokenCreated" "TokenUpdated" "TokenDeleted" }}',
        "+{",
        '+    "event": "{{.Type}}",',
        '+    "message": "{{.Meta.Message}}",',
        '+    "org": "{{.Meta.Org}}",',
        '+    "key": "{{.Meta.Key}}"',
        "+}",
        '+{{ else if eq (printf "%T" .Meta) "model.EventMetaDefault" "<nil>" }}',
        "+{",
        '+    "event": "{{.Type}}",',
        '+    "message": "{{with .Meta}}{{.Message}}{{end}}"',
        "+}",
    ]


# ------------------------- bodies recorded from Tyk, and the cases of Tyk's own webhook tests


def test_tyk_sample_bodies_from_json_keyed_meta():
    quota, _ = render(
        OUR_DEFAULT,
        "QuotaExceeded",
        {
            "Message": "Key \"Quota\" <Limit> & 'x' +1",
            "Path": "/api/v1/x?a=1&b=2",
            "Origin": "10.0.0.1",
            "Key": "abc+def/=",
        },
    )
    assert quota == (
        '\n{\n    "event": "QuotaExceeded",\n    "message": "Key &#34;Quota&#34; '
        '&lt;Limit&gt; &amp; &#39;x&#39; &#43;1",\n    "path": "/api/v1/x?a=1&amp;b=2",'
        '\n    "origin": "10.0.0.1",\n    "key": "abc&#43;def/="\n}\n\n\n'
    )
    trigger_meta = {
        "Message": "Quota trigger reached",
        "OriginatingRequest": "",
        "org_id": "org1",
        "key": "key1",
        "trigger_limit": 80,
        "usage_percentage": 85,
    }
    expected = (
        '{\n    "event": "TriggerExceeded",\n    "message": "Quota trigger reached",\n'
        '    "org": "org1",\n    "key": "key1",\n    "trigger_limit": "80"\n}\n'
    )
    mono = "2026-11-24 20:12:27.068982699 +0000 UTC m=+0.000792364"
    assert render(OUR_DEFAULT, "TriggerExceeded", trigger_meta, mono)[0] == "\n" + expected + "\n\n"
    monitor = _tpl(OURS["monitor_template.json"], "monitor_template.json", funcs=False)
    assert render(monitor, "TriggerExceeded", trigger_meta, mono)[0] == expected
    cert, _ = render(
        OUR_DEFAULT,
        "CertificateExpiringSoon",
        {
            "Message": "m",
            "OriginatingRequest": "",
            "cert_id": "cid",
            "cert_name": "cn",
            "expires_at": "2024-03-06T14:07:09.123456789Z",
            "days_remaining": 1,
            "cert_role": "client",
        },
        "2024-03-05 16:07:09.123456789 +0200 CEST",
    )
    assert (
        '"expires_at": "2024-03-06T14:07:09Z",\n  "days_remaining": 1,\n  "cert_role": '
        '"client",\n  "timestamp": "2024-03-05T16:07:09&#43;02:00"\n}\n\n\n'
    ) in cert


def test_create_body_as_tyks_test():  # TestCreateBody
    out, err = render(OUR_DEFAULT, "QuotaExceeded", {}, "0")
    assert err is None and '"event": "QuotaExceeded"' in out


@pytest.mark.parametrize(
    "typ,days_key,at_key",
    [
        ("CertificateExpiringSoon", "days_remaining", "expires_at"),
        ("CertificateExpired", "days_since_expiry", "expired_at"),
    ],
)
def test_cert_event_templates_as_tyks_test(typ, days_key, at_key):  # TestTemplates
    meta = {
        "Message": "Certificate will expire in 1 day",
        "cert_id": "123abc",
        "cert_name": "Cert Soon To Expire",
        at_key: "2030-01-02T03:04:05.5Z",
        days_key: 1,
        "api_id": "123abc",
    }
    out, err = render(OUR_DEFAULT, typ, meta)
    body = json.loads(out)
    assert err is None and body["event"] == typ
    assert body["message"] == "Certificate will expire in 1 day"
    assert (body["cert_id"], body["cert_name"], body["api_id"]) == ("123abc", "Cert Soon To Expire", "123abc")
    assert body[days_key] == 1 and body[at_key] == "2030-01-02T03:04:05Z"


def test_breaker_and_quota_bodies_as_tyks_tests():  # TestCircuitBreakerEvents, TestQuota
    for typ, msg, ce in (("BreakerTripped", "Breaker Tripped", 0), ("BreakerReset", "Breaker Reset", 1)):
        out, _ = render(OUR_DEFAULT, typ, {"Message": msg, "Path": "/", "APIID": "a", "CircuitEvent": ce})
        assert json.loads(out)["event"] == typ
    out, _ = render(
        OUR_DEFAULT,
        "QuotaExceeded",
        {"Message": "Key Quota Limit Exceeded", "Path": "/", "Origin": "127.0.0.1", "Key": "k1"},
    )
    body = json.loads(out)
    assert (body["event"], body["message"], body["key"]) == (
        "QuotaExceeded",
        "Key Quota Limit Exceeded",
        "k1",
    )
