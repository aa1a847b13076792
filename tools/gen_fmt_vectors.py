#!/usr/bin/env python3
"""Regenerate the Go-recorded test vectors in tests/data/gotmpl/, from the gotmpl-oracle (Go's
own template engine), so that tests never need Go:

  fmt_*.jsonl  Go's fmt (print, println, printf) through text/template. Templates use only
               printf/print/println over `.aN` data fields and plain literals, so tests can
               evaluate them with gofmt directly.
  tyk_*.jsonl  Tyk's event data (data_model tyk_event: Meta as Tyk's Go structs, field names
               as Go sees them) through Tyk's default templates (tests/data/tyk_*.json*,
               html/template with Tyk's two functions), and time/struct printing.

    python tools/gen_fmt_vectors.py [--oracle /usr/local/bin/gotmpl-oracle] [--only fmt|tyk]

Each output line is the oracle request plus Go's answer: `output`, `error`, `error_class`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "data", "gotmpl")

# Flag/width/precision combinations tried with every verb (one template per value and verb).
COMBOS = (
    "",
    "+",
    "-8",
    "08",
    "#",
    " ",
    ".3",
    "8.3",
    "-+8.2",
    "+08.3",
    "#08.2",
    " 06",
    ".0",
    "#.0",
    "+#",
    "- 7",
)

NUMBERS = (
    0,
    1,
    -1,
    5,
    -42,
    255,
    65,
    0x1F600,
    0x110000,
    0xD800,
    1000000,
    123456789,
    9007199254740993,
    9223372036854775807,
    -9223372036854775808,
    0.5,
    1.5,
    2.5,
    -2.5,
    0.1,
    1 / 3,
    1e-5,
    1e-7,
    123456.789,
    1e21,
    1e20,
    1e100,
    5e-324,
    1.7976931348623157e308,
    -0.0,
    3.14159,
    100.0,
    0.000123,
    1234567.0,
    9.995,
)
OTHERS = (
    "",
    "a",
    "hello",
    "héllo wörld",
    "日本語",
    "\x00\x01\x7f",
    "tab\tnl\n",
    'q"b\\',
    "`",
    "\ufeff",
    "\u00ad",
    "\u2028",
    "emoji 😀",
    "\ufffd",
    True,
    False,
    None,
    [1, "a", None],
    {"b": 1, "a": [2, 3], "c": None},
    {},
    [],
    [[]],
    {"k": {"z": "y"}},
)
NUM_VERBS = "vdboOxXcqUeEfFgGsTt"
OTHER_VERBS = "vdsxXqtT"


def _value_cases(values, verbs, numbers: str, prefix: str) -> list[dict]:
    out = []
    for vi, value in enumerate(values):
        for verb in verbs:
            fmt = "|".join("%" + c + verb for c in COMBOS)
            args = " ".join([".a"] * len(COMBOS))
            out.append(
                {
                    "id": f"{prefix}-{vi}-{verb}",
                    "template": f"{{{{printf `{fmt}` {args}}}}}",
                    "data": {"a": value},
                    "numbers": numbers,
                }
            )
    return out


MISC = [
    # argument indexes, star width / precision, and the error forms
    ("idx1", "{{printf `%[2]d %[1]d` .a1 .a2}}", {"a1": 1, "a2": 2}),
    ("idx2", "{{printf `%[3]*.[2]*[1]f` .a1 .a2 .a3}}", {"a1": 12.0, "a2": 2, "a3": 6}),
    ("idx3", "{{printf `%d %d %#[1]x %#x` .a1 .a2}}", {"a1": 16, "a2": 17}),
    ("idx4", "{{printf `%[5]d` .a1}}", {"a1": 1}),
    ("idx5", "{{printf `%[-1]d|%[x]d|%[1]|%[` .a1}}", {"a1": 1}),
    ("idx6", "{{printf `%[3]2d|%[1].2d|%[2]*d` .a1 .a2 .a3}}", {"a1": 1, "a2": 2, "a3": 3}),
    ("idx7", "{{printf `%[1]d %d %d` .a1 .a2}}", {"a1": 1, "a2": 2}),
    (
        "star1",
        "{{printf `%*d|%-*d|%.*f|%*.*f` .a1 .a2 .a1 .a2 .a1 .a3 .a1 .a1 .a3}}",
        {"a1": 6, "a2": 42, "a3": 3.14159},
    ),
    ("star2", "{{printf `%*d|%.*d` .a1 .a2 .a3 .a2}}", {"a1": -6, "a2": 42, "a3": -2}),
    ("star3", "{{printf `%*d` .a1 .a2}}", {"a1": "x", "a2": 42}),
    ("star4", "{{printf `%.*d` .a1 .a2}}", {"a1": 1.5, "a2": 42}),
    ("star5", "{{printf `%*d` .a1 .a2}}", {"a1": 10000000, "a2": 42}),
    ("star6", "{{printf `%*d`}}", None),
    ("missing1", "{{printf `%d %s %v`}}", None),
    ("missing2", "{{printf `%d %s` .a1}}", {"a1": 1}),
    ("extra1", "{{printf `%d` .a1 .a2 .a3 .a4}}", {"a1": 1, "a2": "s", "a3": None, "a4": [1]}),
    ("extra2", "{{printf `x` .a1}}", {"a1": 1.5}),
    ("extra3", "{{printf `` .a1 .a2}}", {"a1": {"k": 1}, "a2": True}),
    ("noverb1", "{{printf `abc%` .a1}}", {"a1": 1}),
    ("noverb2", "{{printf `%-+` .a1}}", {"a1": 1}),
    ("noverb3", "{{printf `%5.` .a1}}", {"a1": 1}),
    ("pct", "{{printf `%%|%5%|%-5%|%d%%` .a1}}", {"a1": 50}),
    ("badverb1", "{{printf `%z|%w|%é|%!|%P` .a1 .a1 .a1 .a1 .a1}}", {"a1": 5}),
    ("badverb2", "{{printf `%z|%5z|%-5y` .a1 .a1 .a1}}", {"a1": "str"}),
    ("badverb3", "{{printf `%z %z` .a1 .a2}}", {"a1": None, "a2": [1, "x"]}),
    ("bigwidth2", "{{printf `%123456789012d|` .a1}}", {"a1": 1}),
    ("bigwidth3", "{{printf `%.123456789012d|` .a1}}", {"a1": 1}),
    ("p1", "{{printf `%p|%p|%p` .a1 .a2 .a3}}", {"a1": 1, "a2": "x", "a3": None}),
    ("nested1", "{{printf `%d|%x|%5v|%q|%s` .a1 .a1 .a1 .a1 .a1}}", {"a1": [1, "ab", None, 2.5, True]}),
    ("nested2", "{{printf `%d|%x|%6.2f|%q` .a1 .a1 .a1 .a1}}", {"a1": {"b": 1.5, "a": "x", "c": None}}),
    (
        "nested3",
        "{{printf `%v|%+v|%#v|%T` .a1 .a1 .a1 .a1}}",
        {"a1": {"z": [1, {"y": None}], "a": "", "é": 1, "B": True, "aa": []}},
    ),
    ("literals1", "{{printf `%v %T %v %T %v %T` 1i 1i 0x1p4 0x1p4 1e3 1e3}}", None),
    ("literals2", "{{printf `%v %T %c %q %U %#U` 'a' 'a' 'a' 'é' '世' '😀'}}", None),
    ("literals3", "{{printf `%v|%.2f|%+.1e|%g|%d` 2.5i -1.5i 1i 0x10 0o17}}", None),
    ("literals4", "{{printf `%v %v %v %T %T` true false nil true nil}}", None),
    ("literals5", '{{printf `%5t|%-6t|%q|%v` true false "a\\x01" "\\u00e9"}}', None),
    ("complex1", "{{printf `%v|%.2f|%+v|%8.1e|%g|%d|%s` 1.5i 1.5i 1.5i 2i 1i 1i 1i}}", None),
    # print / println spacing: a space only between two non-string operands
    ("print1", "{{print .a1 .a2 .a3 .a4}}", {"a1": 1, "a2": 2, "a3": "x", "a4": 3}),
    ("print2", '{{print "a" 1 "b" 2 3 nil true .a1}}', {"a1": [1, 2]}),
    ("print3", "{{print .a1 .a2 .a3}}", {"a1": None, "a2": None, "a3": ""}),
    ("print4", "{{print}}|{{println}}|{{print .a1}}", {"a1": {"k": [1.5, "x"]}}),
    ("println1", '{{println .a1 .a2 "s" 1 2}}', {"a1": 1.0, "a2": "x"}),
    ("println2", "{{println .missing .a1}}", {"a1": None}),
    ("print5", "{{print .missing .a1 2}}", {"a1": None}),
    # plain actions print with fmt %v too
    (
        "plain1",
        "{{.a1}}|{{.a2}}|{{.a3}}|{{.a4}}|{{.a5}}|{{.a6}}",
        {"a1": 1000000, "a2": 1e21, "a3": 0.000001, "a4": -0.0, "a5": 123456789.0, "a6": 1e-5},
    ),
    ("plain2", "{{.a1}}|{{.a2}}|{{.a3}}", {"a1": [1, "a", None, [2.5]], "a2": {"b": {"c": 1}}, "a3": True}),
    ("plain3", "{{.a1}}|{{.a2}}", {"a1": 3.0, "a2": 1e6}),
    ("plain4", "{{.a1}}|{{.a2}}", {"a1": 1.234567e06, "a2": 2.0e-4}),
]


def build_requests() -> dict[str, list[dict]]:
    num = list(NUMBERS)
    files = {
        "fmt_numbers_float.jsonl": _value_cases(num, NUM_VERBS, "float", "float"),
        "fmt_numbers_int.jsonl": _value_cases(num, NUM_VERBS, "int", "int"),
        "fmt_values.jsonl": _value_cases(OTHERS, OTHER_VERBS, "float", "value"),
        "fmt_misc.jsonl": [],
    }
    for numbers in ("float", "int"):
        for ident, template, data in MISC:
            files["fmt_misc.jsonl"].append(
                {"id": f"{ident}-{numbers}", "template": template, "data": data, "numbers": numbers}
            )
    for reqs in files.values():
        for r in reqs:
            r["engine"] = "text"
    return files


# ---------------------------------------------------------------------------------------------
# Tyk's templates over Tyk's event structs (data_model tyk_event: Meta keys are Go field names)

TYK_DEFAULT = os.path.join(ROOT, "tests", "data", "tyk_default_webhook.json")
# Tyk's monitor_template.json and breaker_webhook.json: the TriggerExceeded and
# BreakerTriggered branches of the default template as files of their own (docs/gotemplate.md).
TYK_MONITOR = (
    '{\n    "event": "{{.Type}}",\n    "message": "{{.Meta.Message}}",\n'
    '    "org": "{{.Meta.OrgID}}",\n    "key": "{{.Meta.Key}}",\n'
    '    "trigger_limit": "{{.Meta.TriggerLimit}}"\n}\n'
)
TYK_BREAKER = (
    '{\n    "event": "{{.Type}}",\n    "message": "{{.Meta.Message}}",\n'
    '    "api_id": "{{.Meta.APIID}}",\n    "path": "{{.Meta.Path}}",\n'
    '    "Status": "{{.Meta.CircuitEvent}}"\n}\n'
)
TYK_FUNCS = ["as_rfc3339", "as_rfc3339_from_string"]

NASTY = "Key \"Quota\" <Limit> & 'x' +1"
TS = "2024-03-05 14:07:09.123456789 +0000 UTC"
TS_CEST = "2024-03-05 16:07:09.123456789 +0200 CEST"
TS_MONO = "2026-11-24 20:12:27.068982699 +0000 UTC m=+0.000792364"


def _kf(msg, path="/p", origin="10.0.0.1", key="k1", **extra):
    return {"Message": msg, "Path": path, "Origin": origin, "Key": key, **extra}


def _host(msg, code, tcp, **info):
    hi = {
        "CheckURL": "http://up.example/health",
        "ResponseCode": code,
        "IsTCPError": tcp,
        "Latency": 12.5,
        "MetaData": {"api_id": "api1", "host_name": "up.example", "target_url": "http://up.example/health"},
    }
    hi.update(info)
    return {"Message": msg, "HostInfo": hi}


def _cert(kind, **extra):
    at, days = ("ExpiresAt", "DaysRemaining") if kind == "soon" else ("ExpiredAt", "DaysSinceExpiry")
    meta = {
        "Message": "Certificate cn is expiring in 1 days",
        "CertID": "cid",
        "CertName": "cn",
        at: "2024-03-06T14:07:09.123456789Z",
        days: 1,
        "CertRole": "client",
    }
    meta.update(extra)
    return meta


TYK_EVENTS = [
    # (id, Type, Meta, TimeStamp)
    ("quota-spec", "QuotaExceeded", _kf(NASTY, "/api/v1/x?a=1&b=2", "10.0.0.1", "abc+def/="), TS),
    ("quota-empty", "QuotaExceeded", {}, "0"),
    ("ratelimit", "RatelimitExceeded", _kf("Rate Limit Exceeded"), TS),
    ("ratelimit-api", "RatelimitExceeded", _kf("API Rate Limit Exceeded", key="apilimiter-o1a1"), TS),
    ("smooth-up", "RateLimitSmoothingUp", _kf("Rate limit increased with smoothing"), TS),
    ("smooth-down", "RateLimitSmoothingDown", _kf("Rate limit decreased with smoothing"), TS),
    ("auth", "AuthFailure", _kf("Auth Failure", key="n/a"), TS_CEST),
    (
        "expired",
        "KeyExpired",
        _kf("Attempted access from expired key.", "/banana", "tyk.io", "123456789"),
        TS,
    ),
    ("org-quota", "OrgQuotaExceeded", _kf("Organisation quota has been exceeded", key="org1"), TS),
    ("org-rate", "OrgRateLimitExceeded", _kf("Organisation rate limit has been exceeded"), TS),
    (
        "version",
        "VersionFailure",
        _kf("Attempted access to disallowed version / path.", key="", Reason="Version information not found"),
        TS,
    ),
    (
        "nasty-chars",
        "AuthFailure",
        _kf("a\\b\tc\x00d\u2028e</script>é😀", "/p?q=<x>&y='1'", "::1", 'k"ey'),
        TS,
    ),
    (
        "trigger",
        "TriggerExceeded",
        {
            "Message": "Quota trigger reached",
            "OrgID": "org1",
            "Key": "key1",
            "TriggerLimit": 80,
            "UsagePercentage": 85,
        },
        TS_MONO,
    ),
    (
        "trigger-org",
        "TriggerExceeded",
        {
            "Message": "Quota trigger reached",
            "OrgID": "o<1>",
            "Key": "",
            "TriggerLimit": 1234567,
            "UsagePercentage": 100,
        },
        TS_MONO,
    ),
    (
        "breaker-trig-0",
        "BreakerTriggered",
        {"Message": "Breaker Tripped", "Path": "/p", "APIID": "api1", "CircuitEvent": 0},
        TS,
    ),
    (
        "breaker-trig-1",
        "BreakerTriggered",
        {"Message": "Breaker Reset", "Path": "/p", "APIID": "api1", "CircuitEvent": 1},
        TS,
    ),
    (
        "breaker-tripped",
        "BreakerTripped",
        {"Message": "Breaker Tripped", "Path": "/a&b", "APIID": "api1", "CircuitEvent": 0},
        TS,
    ),
    (
        "breaker-reset",
        "BreakerReset",
        {"Message": "Breaker Reset", "Path": "/", "APIID": "api+1", "CircuitEvent": 1},
        TS,
    ),
    ("host-down", "HostDown", _host("Uptime test failed", 500, False), TS),
    (
        "host-down-tcp",
        "HostDown",
        _host(
            "Uptime test failed", 0, True, Timeout=5000000000, Commands=[{"Name": "send", "Message": "PING"}]
        ),
        TS,
    ),
    ("host-up", "HostUp", _host("Uptime test succeeded", 200, False, Protocol="https"), TS),
    ("host-up-empty", "HostUp", {}, TS),
    ("upstream-oauth", "UpstreamOAuthError", {"Message": "failed to fetch token: 401", "APIID": "api1"}, TS),
    ("cert-soon", "CertificateExpiringSoon", _cert("soon", APIID="123abc"), TS_CEST),
    ("cert-soon-noapi", "CertificateExpiringSoon", _cert("soon"), TS),
    (
        "cert-soon-mono",
        "CertificateExpiringSoon",
        _cert("soon", ExpiresAt="2024-03-06T14:07:09+02:00", DaysRemaining=30),
        TS_MONO,
    ),
    ("cert-expired", "CertificateExpired", _cert("expired", APIID="a<1>"), TS_CEST),
    (
        "cert-expired-noapi",
        "CertificateExpired",
        _cert("expired", DaysSinceExpiry=365, CertRole="upstream"),
        "0",
    ),
    (
        "scope-map",
        "OAuth2ScopeCheckFailed",
        {
            "oauth2_subject_jti": "j",
            "oauth2_subject_azp": "azp",
            "required_scopes": ["a", "b"],
            "required_alternatives": [["a"], ["b", "c"]],
            "granted_scopes": ["x"],
            "path": "/scoped",
            "method": "GET",
            "oauth2_api_id": "api1",
        },
        TS,
    ),
    (
        "exchange-map",
        "OAuth2ExchangeSucceeded",
        {
            "oauth2_api_id": "api1",
            "oauth2_provider": "p",
            "oauth2_exchange_outcome": "ok",
            "oauth2_exchange_cache_hit": True,
        },
        TS,
    ),
    ("exchange-map-empty", "OAuth2ExchangeFailed", {}, TS),
    ("token-created", "TokenCreated", {"Message": "Key generated.", "Org": "o1", "Key": "k"}, TS),
    ("token-updated", "TokenUpdated", {"Message": "Key modified.", "Org": "o1", "Key": "k"}, TS),
    ("token-deleted", "TokenDeleted", {"Message": "Key deleted.", "Org": "o1", "Key": "k"}, TS),
]

# Printing Tyk's structs and times (text/template, so no escaping gets in the way).
# (%s and %T are left out: they name the oracle's own types, main.X, where Tyk has gateway.X;
# %d is left out for non-UTC times, whose *time.Location prints as a pointer.)
TYK_PRINT = ["{{.Meta}}", "{{printf `%+v` .Meta}}", "{{printf `%v|%d` .Meta .Meta}}", "{{.}}"]
TIME_LAYOUTS = [
    "2006-01-02T15:04:05Z07:00",
    "2006-01-02T15:04:05.999999999Z07:00",
    "Mon Jan _2 15:04:05 2006",
    "Mon Jan _2 15:04:05 MST 2006",
    "02 Jan 06 15:04 -0700",
    "Monday, 02-Jan-06 15:04:05 MST",
    "Mon, 02 Jan 2006 15:04:05 -0700",
    "3:04PM",
    "Jan _2 15:04:05.000000",
    "Jan _2 15:04:05.000",
    "2006-01-02 15:04:05.999999 -0700 MST",
    "__2 002 pm PM",
    "1/2/06 3:4:5 .0 ,999",
    "January Monday Janet Month 06 2006 _2006",
    "Z07 Z0700 Z07:00 Z07:00:00 -07 -070000 -07:00:00",
    "15:04:05.00000000000",
    "literal text, no tokens",
    "",
]
TIMES = [
    "2024-03-06T14:07:09.123456789Z",
    "2024-03-06T14:07:09Z",
    "2025-01-02T03:04:05.5+02:00",
    "1999-12-31T23:59:59.000001-05:30",
    "0001-01-01T00:00:00Z",
    "2024-02-29T00:00:00.1+14:00",
    "2024-07-04T12:00:00.120-00:30",
    "9999-12-31T23:59:59.999999999Z",
]
FROM_STRING = [
    TS,
    TS_CEST,
    TS_MONO,
    "2025-01-02 03:04:05.999999 +0200 CEST",
    "2025/01/02 03:04:05",
    "2025-01-02T03:04:05Z",
    "2025-01-02 03:04:05 +0000 UTC",
    "2025-01-02 03:04:05 +0200 UTC",
    "2025-01-02 03:04:05.1 -0330 NST",
    "2025-01-02  03:04:05 +0100  CET",
    "2025-01-02 3:04:05 +0100 CET",
    "2025-01-02 03:04:05,5 +0100 CET",
    "2025-01-02 03:04:05.1234567891 +0100 CET",
    "2025-02-30 03:04:05 +0100 CET",
    "2025-01-02 24:04:05 +0100 CET",
    "2025-01-02 03:04:05 +0100 Cet",
    "2025-01-02 03:04:05 +0100 ChST",
    "2025-01-02 03:04:05 +0100 GMT+1",
    "2025-01-02 03:04:05 +0100 +01",
    "2025-01-02 03:04:05 +0100 WITA",
    "2025-01-02 03:04:05 +0100 ABCDE",
    "2025-01-02 03:04:05 +0100 ABCDT",
    "2025-01-02 03:04:05 +0100",
    "2025-01-02 03:04:05 +01:00 CET",
    "2025-01-02 03:04:05 +2500 CET",
    "",
    "0",
    "2025-01-02 03:04:05 +0100 CET ",
    "24-01-02 03:04:05 +0100 CET",
    "2025-01-02 03:04:05 +0100 -15",
    "2025-01-02 03:04:05 +0100 +24",
    "2025-01-02 03:04:05 +0100 -0",
    "2025-01-02 03:04:05 +0100 +000",
    "2025-01-02 03:04:05 +0100 GMT+23",
    "2025-01-02 03:04:05 +0100 GMT+24",
    "2025-01-02 03:04:05 +0100 GMT0",
    "2025-01-02 03:04:05 -0000 GMT-3",
]
DURATIONS = [
    0,
    1,
    999,
    1000,
    1500,
    1000000,
    1500000,
    999999999,
    1000000000,
    1500000000,
    60000000000,
    3600000000000,
    3723500000000,
    90061000000001,
    -1500000000,
    9223372036854775807,
    -9223372036854775808,
]


def build_tyk_requests() -> dict[str, list[dict]]:
    with open(TYK_DEFAULT, encoding="utf-8") as f:
        default = f.read()
    files: dict[str, list[dict]] = {
        "tyk_default_webhook.jsonl": [],
        "tyk_monitor_breaker.jsonl": [],
        "tyk_print.jsonl": [],
        "tyk_time.jsonl": [],
    }
    for ident, typ, meta, ts in TYK_EVENTS:
        data = {"Type": typ, "Meta": meta, "TimeStamp": ts}
        files["tyk_default_webhook.jsonl"].append(
            {
                "id": f"default-{ident}",
                "template": default,
                "data": data,
                "engine": "html",
                "funcs": TYK_FUNCS,
                "data_model": "tyk_event",
                "name": "default_webhook.json",
            }
        )
        if typ == "TriggerExceeded":
            files["tyk_monitor_breaker.jsonl"].append(
                {
                    "id": f"monitor-{ident}",
                    "template": TYK_MONITOR,
                    "data": data,
                    "engine": "html",
                    "data_model": "tyk_event",
                    "name": "monitor_template.json",
                }
            )
        if typ.startswith("Breaker"):
            files["tyk_monitor_breaker.jsonl"].append(
                {
                    "id": f"breaker-{ident}",
                    "template": TYK_BREAKER,
                    "data": data,
                    "engine": "html",
                    "data_model": "tyk_event",
                    "name": "breaker_webhook.json",
                }
            )
        if meta is not None and typ not in ("OAuth2ExchangeFailed",):
            for n, tpl in enumerate(TYK_PRINT):
                if "%d" in tpl and "+02:00" in json.dumps(meta):
                    continue
                files["tyk_print.jsonl"].append(
                    {
                        "id": f"print-{ident}-{n}",
                        "template": tpl,
                        "data": data,
                        "engine": "text",
                        "data_model": "tyk_event",
                    }
                )
    times = files["tyk_time.jsonl"]
    for ti, t in enumerate(TIMES):
        data = {"Type": "CertificateExpiringSoon", "Meta": {"ExpiresAt": t}, "TimeStamp": TS}
        layouts = "|".join("{{.Meta.ExpiresAt.Format `%s`}}" % lay for lay in TIME_LAYOUTS)
        times.append(
            {"id": f"time-{ti}-layouts", "template": layouts, "data": data, "data_model": "tyk_event"}
        )
        times.append(
            {
                "id": f"time-{ti}-methods",
                "data": data,
                "data_model": "tyk_event",
                "funcs": TYK_FUNCS,
                "template": (
                    "{{.Meta.ExpiresAt}}|{{as_rfc3339 .Meta.ExpiresAt}}|{{with .Meta.ExpiresAt}}"
                    "{{.Unix}}|{{.UnixNano}}|{{.Year}}|{{.Month}}|{{.Day}}|{{.Hour}}|{{.Minute}}|"
                    "{{.Second}}|{{.Nanosecond}}|{{.Weekday}}|{{.YearDay}}|{{.IsZero}}|{{.UTC}}|"
                    "{{.String}}|{{printf `%d|%v|%s` .Month .Weekday .Month}}{{end}}"
                ),
            }
        )
        if t.endswith("Z"):  # %d and %t print the struct, whose loc is a pointer unless UTC
            args = " ".join([".Meta.ExpiresAt"] * 8)
            times.append(
                {
                    "id": f"time-{ti}-printf",
                    "data": data,
                    "data_model": "tyk_event",
                    "template": "{{printf `%#v|%d|%+d|%t|%x|%10.4v|%-30s|%q` " + args + "}}",
                }
            )
    for si, ts in enumerate(FROM_STRING):
        times.append(
            {
                "id": f"from-string-{si}",
                "template": "{{as_rfc3339_from_string .TimeStamp}}",
                "data": {"Type": "X", "Meta": None, "TimeStamp": ts},
                "funcs": TYK_FUNCS,
                "data_model": "tyk_event",
            }
        )
    for di, d in enumerate(DURATIONS):
        times.append(
            {
                "id": f"duration-{di}",
                "data_model": "tyk_event",
                "data": {"Type": "HostDown", "Meta": {"HostInfo": {"Timeout": d}}},
                "template": (
                    "{{.Meta.HostInfo.Timeout}}|{{printf `%d|%v|%s|%q` .Meta.HostInfo.Timeout "
                    ".Meta.HostInfo.Timeout .Meta.HostInfo.Timeout .Meta.HostInfo.Timeout}}"
                    "|{{with .Meta.HostInfo.Timeout}}{{.Hours}}|{{.Minutes}}|{{.Seconds}}|"
                    "{{.Milliseconds}}|{{.Microseconds}}|{{.Nanoseconds}}{{end}}"
                ),
            }
        )
    for reqs in files.values():
        for r in reqs:
            r.setdefault("engine", "text")
    return files


def run_oracle(oracle: str, requests: list[dict]) -> list[dict]:
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests)
    proc = subprocess.run([oracle], input=payload.encode(), capture_output=True, check=True)
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    if len(answers) != len(requests):
        raise SystemExit(f"oracle answered {len(answers)} of {len(requests)} requests")
    out = []
    for req, ans in zip(requests, answers, strict=True):
        if ans["id"] != req["id"]:
            raise SystemExit(f"oracle answered out of order: {ans['id']} for {req['id']}")
        if ans.get("error_class") == "request":
            raise SystemExit(f"bad request {req['id']}: {ans['error']}")
        vec = dict(req)
        vec["output"] = ans["output"]
        if "output_b64" in ans:
            vec["output_b64"] = ans["output_b64"]
        vec["error"] = ans["error"]
        vec["error_class"] = ans["error_class"]
        vec["go_version"] = ans["go_version"]
        out.append(vec)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", default=os.environ.get("GOTMPL_ORACLE", "/usr/local/bin/gotmpl-oracle"))
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--only", choices=("fmt", "tyk"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    sets = {}
    if args.only != "tyk":
        sets.update(build_requests())
    if args.only != "fmt":
        sets.update(build_tyk_requests())
    for name, reqs in sets.items():
        vectors = run_oracle(args.oracle, reqs)
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            for v in vectors:
                f.write(json.dumps(v, ensure_ascii=False) + "\n")
        print(f"{name}: {len(vectors)} vectors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
