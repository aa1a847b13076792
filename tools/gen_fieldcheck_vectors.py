#!/usr/bin/env python3
"""Regenerate tests/data/fieldcheck/vectors.jsonl: what Go's engine answers when webhook
templates run over Tyk's event structs, for the static field check of `tykevents check`
(tykevents/gotemplate/fieldcheck.py, tests/webhook/test_fieldcheck.py).

    python tools/gen_fieldcheck_vectors.py [--oracle /usr/local/bin/gotmpl-oracle]

Each case is one template and one event type, run over several Metas (so that a path under a
condition is reached by at least one); each output line carries Go's error per Meta, with the
oracle's own type names (main.X) replaced by Tyk's (gateway.X, event.Event, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
OUT = os.path.join(ROOT, "tests", "data", "fieldcheck", "vectors.jsonl")

from tykevents.tykmeta import EVENT_MESSAGE, STRUCTS  # noqa: E402

NAMES = {t.rpartition(".")[2]: t for t in STRUCTS}
NAMES.update(TykEvent="event.Event", EventMessage=EVENT_MESSAGE, BreakerEvent="circuit.BreakerEvent")

KEY = {"Path": "/p", "Origin": "10.0.0.1", "Key": "k1"}
HOST = {"HostInfo": {"CheckURL": "http://h", "Commands": [{"Name": "n"}], "MetaData": {"a": "x"}}}
CERT = {"CertID": "c", "ExpiresAt": "2024-03-06T14:07:09Z", "APIID": "a"}
EXPIRED = {"CertID": "c", "ExpiredAt": "2024-03-06T14:07:09Z"}

# (id, template, event type, metas)
CASES: list[tuple[str, str, str, list[object]]] = [
    ("meta-missing", "{{.Meta.Username}}", "AuthFailure", [{}, KEY]),
    ("meta-ok", "{{.Meta.Path}} {{.Meta.Message}} {{.Meta.EventMetaDefault.Message}}", "KeyExpired", [KEY]),
    ("with-meta", "{{with .Meta}}{{.Username}}{{end}}", "AuthFailure", [KEY]),
    ("string-field", "{{.Meta.Key.Foo}}", "AuthFailure", [KEY]),
    ("type-field", "{{.Type.Foo}}", "AuthFailure", [KEY]),
    ("root-field", "x{{.Foo}}", "QuotaExceeded", [KEY]),
    ("root-var", "{{$.Meta.Nope}}", "QuotaExceeded", [KEY]),
    ("time-field", "{{.Meta.ExpiresAt.Foo}}", "CertificateExpiringSoon", [CERT]),
    (
        "time-method",
        '{{.Meta.ExpiresAt.Unix}} {{.Meta.ExpiresAt.Format "2006"}}',
        "CertificateExpiringSoon",
        [CERT],
    ),
    ("duration-field", "{{.Meta.HostInfo.Timeout.Foo}}", "HostDown", [HOST]),
    ("duration-method", "{{.Meta.HostInfo.Timeout.Seconds}}", "HostDown", [HOST]),
    ("int64-field", "{{.Meta.TriggerLimit.X}}", "TriggerExceeded", [{}]),
    ("int-field", "{{.Meta.DaysRemaining.X}}", "CertificateExpiringSoon", [CERT]),
    ("float-bool", "{{.Meta.HostInfo.Latency.X}}", "HostUp", [HOST]),
    ("breaker-event", "{{.Meta.CircuitEvent.X}}", "BreakerTripped", [{}]),
    ("slice-field", "{{.Meta.HostInfo.Commands.X}}", "HostDown", [HOST]),
    ("embedded-name", "{{.Meta.HostInfo.HostData.CheckURL}}", "HostDown", [HOST]),
    ("range-elem", "{{range .Meta.HostInfo.Commands}}{{.Name}}{{.X}}{{end}}", "HostDown", [{}, HOST]),
    ("map-elem", "{{.Meta.HostInfo.MetaData.a.b}}", "HostDown", [{}, HOST]),
    ("map-missing-ok", "{{.Meta.HostInfo.MetaData.zz}}", "HostDown", [HOST]),
    ("var", "{{$m := .Meta}}{{$m.Nope}}", "TriggerExceeded", [{}]),
    (
        "var-reassigned",
        "{{$m := .Meta}}{{if .Meta.Key}}{{$m = 1}}{{end}}{{$m.Key}}",
        "AuthFailure",
        [{}, KEY],
    ),
    ("define", '{{define "x"}}{{.Nope}}{{end}}{{template "x" .Meta}}', "TokenCreated", [{}]),
    ("define-unused", '{{define "x"}}{{.Nope}}{{end}}ok', "TokenCreated", [{}]),
    ("template-nil-dot", '{{define "x"}}{{.Nope}}{{end}}{{template "x"}}', "TokenCreated", [{}]),
    ("pipe-head", "{{(.Meta).Nope}}", "TokenCreated", [{}]),
    ("if-data", "{{if .Meta.Key}}{{.Meta.Usernme}}{{end}}", "AuthFailure", [{}, KEY]),
    ("if-struct", "{{if .Meta}}{{.Meta.Nope}}{{else}}{{.Meta.Other}}{{end}}", "AuthFailure", [KEY]),
    (
        "if-type",
        '{{if eq .Type "AuthFailure"}}{{.Meta.Path}}{{else}}{{.Meta.CertID}}{{end}}',
        "AuthFailure",
        [KEY],
    ),
    (
        "if-type-other",
        '{{if eq .Type "AuthFailure"}}{{.Meta.Path}}{{else}}{{.Meta.CertID}}{{end}}',
        "CertificateExpired",
        [EXPIRED],
    ),
    ("if-ne-multi", '{{if ne .Type "HostDown"}}{{.Meta.Nope}}{{end}}', "HostDown", [HOST]),
    (
        "eq-multi",
        '{{if eq .Type "A" "TokenCreated"}}{{.Meta.Org}}{{else}}{{.Meta.Path}}{{end}}',
        "TokenCreated",
        [{}],
    ),
    (
        "printf-T",
        '{{if eq (printf "%T" .Meta) "model.EventMetaDefault"}}{{.Meta.Nope}}{{else}}{{.Meta.Org}}{{end}}',
        "TokenUpdated",
        [{}],
    ),
    ("and-short", "{{if and .Meta.Key .Meta.Nope}}x{{end}}", "AuthFailure", [{}, KEY]),
    ("or-decided", '{{if or (eq .Type "AuthFailure") .Meta.Nope}}x{{end}}', "AuthFailure", [KEY]),
    ("not", '{{if not (eq .Type "AuthFailure")}}{{.Meta.Nope}}{{end}}', "AuthFailure", [KEY]),
    ("func-arg", '{{printf "%s" .Meta.Nope}}', "AuthFailure", [KEY]),
    ("func-result", '{{(printf "%s" .Meta.Path).Nope}}', "AuthFailure", [KEY]),
    ("custom-event", "{{.Meta.Anything.Deeper}}", "MyCustomEvent", [{"Anything": {"Deeper": 1}}]),
    ("map-meta", "{{.Meta.scope}}", "OAuth2ScopeCheckFailed", [{"scope": "s"}]),
    (
        "range-map-meta",
        "{{range $k, $v := .Meta}}{{$v.x}}{{end}}",
        "OAuth2ScopeCheckFailed",
        [{"a": {"x": 1}}],
    ),
    ("with-else", "{{with .Meta.Key}}{{.Nope}}{{else}}{{.Meta.Path}}{{end}}", "AuthFailure", [{}, KEY]),
    ("tyk-default-style", "{{with .Meta}}{{.Message}}{{end}}", "TokenDeleted", [{}]),
]


def requests() -> list[dict]:
    out = []
    for cid, template, event, metas in CASES:
        for i, meta in enumerate(metas):
            out.append(
                {
                    "id": f"{cid}#{i}",
                    "template": template,
                    "name": "t.json",
                    "engine": "html",
                    "numbers": "int",
                    "data_model": "tyk_event",
                    "funcs": ["as_rfc3339", "as_rfc3339_from_string"],
                    "data": {"Type": event, "Meta": meta, "TimeStamp": "2024-03-06 14:07:09 +0000 UTC"},
                }
            )
    return out


def tyk_names(msg: str | None) -> str | None:
    if msg is None:
        return None
    return re.sub(r"\bmain\.(\w+)", lambda m: NAMES.get(m.group(1), m.group(0)), msg)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle", default=os.environ.get("GOTMPL_ORACLE", "/usr/local/bin/gotmpl-oracle"))
    args = ap.parse_args()
    reqs = requests()
    payload = "".join(json.dumps(r) + "\n" for r in reqs)
    proc = subprocess.run([args.oracle], input=payload.encode(), capture_output=True, check=True)
    answers = {a["id"]: a for a in map(json.loads, proc.stdout.decode().splitlines())}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for cid, template, event, metas in CASES:
            errors = []
            for i in range(len(metas)):
                a = answers[f"{cid}#{i}"]
                if a["error_class"] == "request":
                    raise SystemExit(f"{cid}#{i}: {a['error']}")
                err = tyk_names(a["error"])
                errors.append(err.partition(": ")[2] if err else None)  # drop "exec: "
            line = {"id": cid, "template": template, "event": event, "metas": metas, "go_errors": errors}
            f.write(json.dumps(line, sort_keys=True) + "\n")
    print(
        f"wrote {len(CASES)} cases to {os.path.relpath(OUT, ROOT)} ({answers[reqs[0]['id']]['go_version']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
