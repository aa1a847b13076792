"""tykmeta (event JSON -> Tyk's Go structs) and golang/time.py (time.Time, Duration, Tyk's
two template functions), checked against Tyk's own test cases, values verified with Go and
Go-recorded vectors (tests/data/gotmpl/tyk_time.jsonl, tyk_print.jsonl from
tools/gen_fmt_vectors.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tykevents import model
from tykevents.golang.time import (
    TYK_FUNCS,
    GoDuration,
    GoTime,
    as_rfc3339,
    as_rfc3339_from_string,
    duration_string,
    go_time_string,
    parse_go_duration,
    parse_rfc3339nano,
)
from tykevents.gotemplate import ExecError, parse
from tykevents.gotemplate.gofmt import sprint, sprintf
from tykevents.gotemplate.jsonfuncs import to_json
from tykevents.gotemplate.values import GoMap, GoStruct
from tykevents.tykmeta import (
    EVENT_META_TYPES,
    GO_TO_JSON,
    MetaTypeError,
    decode_meta,
    json_key,
    meta_type_for,
    template_data,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "gotmpl"


def load(name: str) -> list:
    with (DATA / name).open(encoding="utf-8") as f:
        return [pytest.param(v, id=v["id"]) for v in map(json.loads, f)]


def run_vector(vec: dict, template_text: str | None = None) -> tuple[str, str | None]:
    """Render a vector with our engine: (output, error class or None)."""
    funcs = {n: TYK_FUNCS[n] for n in vec.get("funcs") or ()}
    tpl = parse(
        template_text if template_text is not None else vec["template"],
        name=vec.get("name") or "tpl",
        engine=vec.get("engine", "text"),
        funcs=funcs,
    )
    d = vec["data"]
    if vec.get("data_model") == "tyk_event":
        data = template_data(d.get("Type", ""), d.get("Meta"), d.get("TimeStamp", ""), go_names=True)
    else:
        data = d
    try:
        return tpl.execute(data), None
    except ExecError as e:
        return e.partial, "exec"


# ------------------------------------------------------------------------ Tyk's functions


def test_webhook_template_funcs():
    # TestWebhookTemplateFuncs
    assert as_rfc3339(GoTime.date(2025, 1, 2, 3, 4, 5, 6)) == "2025-01-02T03:04:05Z"
    assert as_rfc3339_from_string("2025/01/02 03:04:05") == "2025/01/02 03:04:05"
    assert as_rfc3339_from_string("2025-01-02 03:04:05.999999 +0200 CEST") == "2025-01-02T03:04:05+02:00"


def test_from_string_go_verified_cases():
    assert as_rfc3339_from_string("2025-01-02 03:04:05.123456789 +0000 UTC") == "2025-01-02T03:04:05Z"
    mono = "2026-11-24 20:12:27.068982699 +0000 UTC m=+0.000792364"
    assert as_rfc3339_from_string(mono) == mono
    assert as_rfc3339_from_string("2025-01-02T03:04:05Z") == "2025-01-02T03:04:05Z"
    assert as_rfc3339_from_string("2025-01-02 03:04:05 -0330 NST") == "2025-01-02T03:04:05-03:30"
    # "UTC" wins over the numeric offset, as in Go's Parse
    assert as_rfc3339_from_string("2025-01-02 03:04:05 +0200 UTC") == "2025-01-02T03:04:05Z"


def test_as_rfc3339_keeps_the_values_zone():
    t = parse_rfc3339nano("2024-03-06T14:07:09.5+02:00")
    assert as_rfc3339(t) == "2024-03-06T14:07:09+02:00"
    assert as_rfc3339(GoTime.zero()) == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize("vec", load("tyk_time.jsonl"))
def test_time_vector(vec):
    assert run_vector(vec) == (vec["output"], vec["error_class"])


# ------------------------------------------------------------------------ time values


def test_time_string_as_timestamps_print():
    t = GoTime.date(2024, 3, 5, 14, 7, 9, 123456789)
    assert t.go_string() == "2024-03-05 14:07:09.123456789 +0000 UTC"
    assert go_time_string(GoTime.date(2025, 1, 2, 3, 4, 5, 500_000_000)) == "2025-01-02 03:04:05.5 +0000 UTC"
    berlin = dt.datetime(2024, 3, 9, 16, 7, 9, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    assert go_time_string(berlin) == "2024-03-09 16:07:09.123456 +0100 CET"
    summer = dt.datetime(2024, 7, 5, 16, 7, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert go_time_string(summer) == "2024-07-05 16:07:09 +0200 CEST"
    fixed = dt.datetime(2024, 7, 5, 16, 7, 9, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert go_time_string(fixed) == "2024-07-05 16:07:09 -0500 -0500"
    mono = go_time_string(GoTime.date(2026, 11, 24, 20, 12, 27, 68982699), monotonic_ns=792364)
    assert mono == "2026-11-24 20:12:27.068982699 +0000 UTC m=+0.000792364"
    assert go_time_string(1_700_000_000_123_000_000, local=False) == "2023-11-14 22:13:20.123 +0000 UTC"


def test_now_strings_parse_back():
    s = go_time_string()
    t = parse_go_time_string_or_none(s)
    assert t is not None and abs(t.unix() - GoTime.now().unix()) <= 2
    assert " m=+" in GoTime.now(monotonic=True).go_string()


def parse_go_time_string_or_none(s):
    from tykevents.golang.time import parse_go_string_time

    try:
        return parse_go_string_time(s)
    except ValueError:
        return None


def test_cert_checksum_time_string():
    when = parse_rfc3339nano("2025-01-02T03:04:05Z").go_string()
    assert when == "2025-01-02 03:04:05 +0000 UTC"
    digest = hashlib.md5(
        ("CertificateExpiringSoon" + "123abc" + "Cert Soon To Expire" + when + "123abc").encode()
    ).hexdigest()
    assert digest == "2912d3017969fabedaf4f51ce350f12a"


def test_time_methods_and_zero():
    z = GoTime.zero()
    assert z.is_zero() and z.go_string() == "0001-01-01 00:00:00 +0000 UTC"
    t = GoTime.date(2024, 12, 31, 23, 59, 59, 1)
    assert (t.year(), int(t.month()), t.day(), t.year_day(), t.weekday().go_string()) == (
        2024,
        12,
        31,
        366,
        "Tuesday",
    )
    assert t.add(GoDuration(999_999_999)).go_string() == "2025-01-01 00:00:00 +0000 UTC"
    assert t.sub(GoTime.date(2024, 12, 31)).go_string() == "23h59m59.000000001s"
    with pytest.raises(ValueError):
        parse_rfc3339nano("2024-02-30T00:00:00Z")


@pytest.mark.parametrize(
    "ns,text",
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (10 * 10**9, "10s"),
        (3723_500_000_000, "1h2m3.5s"),
        (3600 * 10**9, "1h0m0s"),
        (-90 * 10**9, "-1m30s"),
        (-(1 << 63), "-2562047h47m16.854775808s"),
    ],
)
def test_duration_string(ns, text):
    assert duration_string(ns) == text
    assert sprint(GoDuration(ns)) == text


@pytest.mark.parametrize(
    "text,ns",
    [
        ("0", 0),
        ("10s", 10 * 10**9),
        ("-1.5h", -5400 * 10**9),
        ("2h45m", 9900 * 10**9),
        ("300ms", 300_000_000),
        ("1µs", 1000),
        ("1μs", 1000),
        ("1us2ns", 1002),
        (".5s", 5 * 10**8),
        ("1.s", 10**9),
        ("+3m", 180 * 10**9),
        ("9223372036854775807ns", (1 << 63) - 1),
        ("-9223372036854775808ns", -(1 << 63)),
        ("1.0000000000000000000001s", 10**9),
    ],
)
def test_parse_go_duration(text, ns):
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize(
    "text,message",
    [
        ("", 'time: invalid duration ""'),
        ("1", 'time: missing unit in duration "1"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("s", 'time: invalid duration "s"'),
        (".s", 'time: invalid duration ".s"'),
        ("-", 'time: invalid duration "-"'),
        ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
        ("1é", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
        ("10 s", 'time: unknown unit " s" in duration "10 s"'),
    ],
)
def test_parse_go_duration_errors(text, message):
    with pytest.raises(ValueError) as e:
        parse_go_duration(text)
    assert str(e.value) == message


# ------------------------------------------------------------------------ Meta decoding


def test_json_keys_become_go_fields():
    d = template_data(
        "TriggerExceeded",
        {
            "Message": "Quota trigger reached",
            "org_id": "org1",
            "key": "key1",
            "trigger_limit": 80,
            "usage_percentage": 85,
        },
        "ts",
    )
    meta = d.fields["Meta"]
    assert meta.type_name == "gateway.EventTriggerExceededMeta"
    assert meta.fields == {
        "Message": "Quota trigger reached",
        "OriginatingRequest": "",
        "OrgID": "org1",
        "Key": "key1",
        "TriggerLimit": 80,
        "UsagePercentage": 85,
    }
    assert sprintf("%T %T", meta.fields["TriggerLimit"], meta.fields["OrgID"]) == "int64 string"
    assert d.fields["Type"] == "TriggerExceeded" and d.fields["TimeStamp"] == "ts"
    assert sprint(meta) == "{{Quota trigger reached } org1 key1 80 85}"


def test_host_info_shape():
    meta = decode_meta(
        "HostDown",
        {
            "Message": "Uptime test failed",
            "OriginatingRequest": "",
            "HostInfo": {
                "CheckURL": "http://up.example/health",
                "Protocol": "",
                "Timeout": 0,
                "EnableProxyProtocol": False,
                "Commands": None,
                "Method": "",
                "Headers": None,
                "Body": "",
                "MetaData": {
                    "api_id": "api1",
                    "host_name": "up.example",
                    "target_url": "http://up.example/health",
                },
                "ResponseCode": 500,
                "Latency": 12,
                "IsTCPError": False,
            },
        },
    )
    hi = meta.fields["HostInfo"]
    assert hi.type_name == "gateway.HostHealthReport"
    assert isinstance(hi.fields["Timeout"], GoDuration) and hi.fields["Latency"] == 12.0
    assert isinstance(hi.fields["Latency"], float) and hi.fields["ResponseCode"] == 500
    assert isinstance(hi.fields["MetaData"], GoMap) and hi.fields["MetaData"]["api_id"] == "api1"
    assert hi.fields["Commands"] == [] and hi.fields["Headers"] == {}
    assert sprint(hi) == (
        "{{http://up.example/health  0s false []  map[]  map[api_id:api1 "
        "host_name:up.example target_url:http://up.example/health]} 500 12 false}"
    )
    cmds = decode_meta("HostUp", {"HostInfo": {"Commands": [{"name": "send", "message": "PING"}, None]}})
    c = cmds.fields["HostInfo"].fields["Commands"]
    assert c[0] == GoStruct("apidef.CheckCommand", {"Name": "send", "Message": "PING"})
    assert c[1].fields == {"Name": "", "Message": ""}


def test_cert_meta_times():
    m = decode_meta(
        "CertificateExpiringSoon",
        {
            "Message": "m",
            "cert_id": "cid",
            "cert_name": "cn",
            "expires_at": "2024-03-06T14:07:09.123456789Z",
            "days_remaining": 1,
            "cert_role": "client",
        },
    )
    assert m.type_name == "certcheck.EventCertificateExpiringSoonMeta"
    assert m.fields["ExpiresAt"].go_string() == "2024-03-06 14:07:09.123456789 +0000 UTC"
    assert m.fields["APIID"] == "" and m.fields["DaysRemaining"] == 1
    e = decode_meta("CertificateExpired", {"expired_at": None})
    assert e.fields["ExpiredAt"].is_zero() and e.fields["DaysSinceExpiry"] == 0


def test_missing_keys_are_zero_values_and_unknown_keys_ignored():
    m = decode_meta("BreakerTripped", {"Path": "/p", "Extra": [1], "apiid": "case-folded"})
    assert m.fields == {
        "Message": "",
        "OriginatingRequest": "",
        "Path": "/p",
        "APIID": "case-folded",
        "CircuitEvent": 0,
    }
    assert sprintf("%T", m.fields["CircuitEvent"]) == "circuit.BreakerEvent"
    exact = decode_meta("BreakerTripped", {"APIID": "exact", "apiid": "folded"})
    assert exact.fields["APIID"] == "exact"
    # a tagged field matches its JSON key, not the Go name
    assert decode_meta("TriggerExceeded", {"OrgID": "x"}).fields["OrgID"] == ""
    assert decode_meta("TriggerExceeded", {"ORG_ID": "x"}).fields["OrgID"] == "x"


@pytest.mark.parametrize(
    "event,meta,field,expected,got",
    [
        ("QuotaExceeded", {"Path": 5}, "Path", "string", "number"),
        ("QuotaExceeded", {"Key": ["a"]}, "Key", "string", "array"),
        ("TriggerExceeded", {"trigger_limit": "80"}, "TriggerLimit", "int64", "string"),
        ("TriggerExceeded", {"trigger_limit": 80.5}, "TriggerLimit", "int64", "number 80.5"),
        ("TriggerExceeded", {"usage_percentage": True}, "UsagePercentage", "int64", "bool"),
        (
            "BreakerReset",
            {"CircuitEvent": 2**63},
            "CircuitEvent",
            "circuit.BreakerEvent",
            "number 9223372036854775808",
        ),
        ("HostDown", {"HostInfo": {"Timeout": "5s"}}, "HostInfo.Timeout", "time.Duration", "string"),
        ("HostDown", {"HostInfo": {"IsTCPError": 1}}, "HostInfo.IsTCPError", "bool", "number"),
        ("HostDown", {"HostInfo": {"Latency": "1"}}, "HostInfo.Latency", "float64", "string"),
        (
            "HostDown",
            {"HostInfo": {"MetaData": {"api_id": 1}}},
            "HostInfo.MetaData.api_id",
            "string",
            "number",
        ),
        ("HostDown", {"HostInfo": {"Commands": {}}}, "HostInfo.Commands", "[]apidef.CheckCommand", "object"),
        (
            "HostDown",
            {"HostInfo": {"Commands": [{"name": 1}]}},
            "HostInfo.Commands[0].Name",
            "string",
            "number",
        ),
        ("HostDown", {"HostInfo": "x"}, "HostInfo", "gateway.HostHealthReport", "string"),
        (
            "CertificateExpired",
            {"expired_at": "yesterday"},
            "ExpiredAt",
            "time.Time",
            "string 'yesterday' (not an RFC 3339 time)",
        ),
        ("KeyExpired", "not an object", "Meta", "gateway.EventKeyFailureMeta", "string"),
        ("OAuth2ScopeCheckFailed", [1], "Meta", "map[string]interface {}", "array"),
    ],
)
def test_wrong_types_are_meta_type_errors(event, meta, field, expected, got):
    with pytest.raises(MetaTypeError) as e:
        template_data(event, meta, "ts")
    err = e.value
    assert isinstance(err, model.MetaTypeError)
    assert (err.field, err.expected, err.got) == (field, expected, got)
    assert f"of type {expected}" in str(err) and err.got in str(err)


def test_go_error_message_shape():
    with pytest.raises(MetaTypeError) as e:
        decode_meta("HostDown", {"HostInfo": {"Timeout": "5s"}})
    assert str(e.value) == (
        "cannot unmarshal string into Go struct field "
        "EventHostStatusMeta.HostInfo.Timeout of type time.Duration"
    )


def test_map_custom_and_nil_metas():
    scope = {"path": "/scoped", "required_scopes": ["a"]}
    assert decode_meta("OAuth2ScopeCheckFailed", scope) is scope
    # a struct event always has its struct (zero when Meta is null or absent); others stay nil
    assert decode_meta("QuotaExceeded", None) == decode_meta("QuotaExceeded", {})
    assert decode_meta("QuotaExceeded", None).fields["Path"] == ""
    assert decode_meta("HostDown", None).fields["HostInfo"].fields["ResponseCode"] == 0
    assert decode_meta("OAuth2ScopeCheckFailed", None) is None
    assert decode_meta("MyCustomEvent", None) is None
    custom = decode_meta("MyCustomEvent", {"Message": "payload"})
    assert custom == GoStruct("model.EventMetaDefault", {"Message": "payload", "OriginatingRequest": ""})
    assert decode_meta("MyCustomEvent", {}).fields == {"Message": "", "OriginatingRequest": ""}
    assert decode_meta("MyCustomEvent", "payload").fields["Message"] == "payload"
    own = {"Message": "m", "user": {"id": 7}}
    assert decode_meta("MyCustomEvent", own) is own
    assert decode_meta("MyCustomEvent", [1, 2]) == [1, 2]


def test_struct_semantics_in_templates():
    tpl = parse("{{.Meta.Message}}|{{.Meta.Path}}", engine="text")
    assert tpl.execute(template_data("QuotaExceeded", {"Message": "m"}, "")) == "m|"
    for event, meta in (("TokenCreated", {"Message": "m"}), ("MyEvent", {"Message": "m"})):
        with pytest.raises(ExecError) as e:
            tpl.execute(template_data(event, meta, ""))
        assert "can't evaluate field Path in type interface {}" in str(e.value)
        assert e.value.partial == "m|"
    assert tpl.execute(template_data("QuotaExceeded", None, "")) == "|"
    with pytest.raises(ExecError) as e:
        tpl.execute(template_data("MyEvent", None, ""))
    assert "nil pointer evaluating interface {}.Message" in str(e.value)
    maps = parse("{{.Meta.path}}|{{.Meta.Path}}|", engine="html")
    assert maps.execute(template_data("OAuth2ScopeCheckFailed", {"path": "/a"}, "")) == "/a||"


def test_embedded_structs_are_fields_but_not_items():
    meta = decode_meta(
        "HostDown", {"Message": "m", "HostInfo": {"CheckURL": "u", "Commands": [{"name": "n"}]}}
    )
    f, hi = meta.fields, meta.fields["HostInfo"].fields
    # Go resolves an embedded struct's name, as a value of its own type over the same values
    assert "EventMetaDefault" in f and "HostData" in hi and "HostData" not in f
    assert f["EventMetaDefault"] == GoStruct(
        "model.EventMetaDefault", {"Message": "m", "OriginatingRequest": ""}
    )
    assert f.get("EventMetaDefault") == f["EventMetaDefault"] and f.get("Nope", 1) == 1
    assert hi["HostData"].type_name == "gateway.HostData" and hi["HostData"].fields["CheckURL"] == "u"
    assert hi["HostData"].fields["Commands"] is hi["Commands"]
    with pytest.raises(KeyError):
        f["Nope"]
    # ...but the items stay the promoted fields, once each: fmt, toJSON and equality see Go's fields
    assert list(f) == ["Message", "OriginatingRequest", "HostInfo"] and len(hi) == 12
    assert meta == decode_meta(
        "HostDown", {"Message": "m", "HostInfo": {"CheckURL": "u", "Commands": [{"name": "n"}]}}
    )
    assert json.loads(to_json(meta)) == {
        "Message": "m",
        "OriginatingRequest": "",
        "HostInfo": {
            "CheckURL": "u",
            "Protocol": "",
            "Timeout": 0,
            "EnableProxyProtocol": False,
            "Commands": [{"name": "n", "message": ""}],
            "Method": "",
            "Headers": {},
            "Body": "",
            "MetaData": {},
            "ResponseCode": 0,
            "Latency": 0.0,
            "IsTCPError": False,
        },
    }
    assert sprint(meta) == "{{m } {{u  0s false [{n }]  map[]  map[]} 0 0 false}}"


def test_named_types_of_the_event_message():
    d = template_data("AuthFailure", {}, "ts")
    typ = d.fields["Type"]
    assert typ == "AuthFailure" and isinstance(typ, str)
    assert sprintf("%T|%v|%T", typ, typ, d.fields["TimeStamp"]) == "event.Event|AuthFailure|string"
    cmds = (
        decode_meta("HostUp", {"HostInfo": {"Commands": [{"name": "n"}]}})
        .fields["HostInfo"]
        .fields["Commands"]
    )
    zero = decode_meta("HostUp", {}).fields["HostInfo"].fields["Commands"]
    assert (
        sprintf("%T|%T|%T", cmds, zero, cmds[0])
        == "[]apidef.CheckCommand|[]apidef.CheckCommand|apidef.CheckCommand"
    )
    assert cmds == [GoStruct("apidef.CheckCommand", {"Name": "n", "Message": ""})] and zero == []


def test_mapping_exports():
    assert json_key("TriggerExceeded", "OrgID") == "org_id"
    assert json_key("CertificateExpired", "ExpiredAt") == "expired_at"
    assert json_key("QuotaExceeded", "Path") == "Path"
    assert json_key("MyEvent", "Anything") == "Anything"
    assert GO_TO_JSON["gateway.HostHealthReport"]["CheckURL"] == "CheckURL"
    assert GO_TO_JSON["apidef.CheckCommand"] == {"Name": "name", "Message": "message"}
    assert meta_type_for("RatelimitExceeded") == "gateway.EventKeyFailureMeta"
    assert meta_type_for("RateLimitExceeded") is None  # the wire name has a lower-case l
    assert len(EVENT_META_TYPES) == 21


def _to_json_keys(type_name: str, meta):
    """Go-named Meta (the oracle's data model) -> the JSON keys Tyk's json.Marshal writes."""
    if not isinstance(meta, dict):
        return meta
    keys = GO_TO_JSON[type_name]
    out = {}
    for k, v in meta.items():
        if k == "HostInfo":
            v = _to_json_keys("gateway.HostHealthReport", v)
        elif k == "Commands":
            v = [_to_json_keys("apidef.CheckCommand", c) for c in v]
        out[keys.get(k, k)] = v
    return out


@pytest.mark.parametrize("vec", load("tyk_default_webhook.jsonl"))
def test_json_keyed_meta_equals_go_named_meta(vec):
    d = vec["data"]
    typ = d["Type"]
    t = meta_type_for(typ)
    json_meta = _to_json_keys(t, d["Meta"]) if t else d["Meta"]
    assert template_data(typ, json_meta, d["TimeStamp"]) == template_data(
        typ, d["Meta"], d["TimeStamp"], go_names=True
    )


@pytest.mark.parametrize("vec", load("tyk_print.jsonl"))
def test_struct_print_vector(vec):
    assert run_vector(vec) == (vec["output"], vec["error_class"])
