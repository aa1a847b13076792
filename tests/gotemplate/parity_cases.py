"""Cases for two Tyk-parity sets of Go-recorded vectors, and their regeneration:

- escape.jsonl: html/template templates Go's escaper refuses (or accepts: the controls),
  each executed over two different data values. ParseFiles accepts every one; Execute
  fails, with the same error whatever the data (the escaper never looks at it).
- null_meta.jsonl: Tyk's default webhook template and ours over every struct-Meta event
  with `Meta` null and absent; Go's side is the zero struct, which Tyk always fires.

Regenerate with the oracle (CONTRIBUTING.md, "Regenerating the Go vectors"):

    .venv/bin/python -m tests.gotemplate.parity_cases --oracle PATH
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
NAME = "hook.json"  # ParseFiles names a template by its file's base name
DATAS = ({"Type": "AuthFailure", "Meta": {"Path": "/p", "Key": "k"}, "X": "x", "C": True, "L": [1]}, None)

ESCAPE_TEMPLATES = (
    # ends in a non-text context
    '{\n  "event": "{{.Type}}"\n}\n<script>{{.Type}}',
    '{"event": "{{.Type}}", "link": "<a href=\\"{{.Meta.Path}}"}',
    '<a href="{{.X}}',
    "<a title='{{.X}}",
    "<a href={{.X}}",
    '<a onclick="{{.X}}',
    '<a style="{{.X}}',
    "<script>var x = {{.X}};",
    "<script>// {{.X}}",
    "<script>/* {{.X}}",
    "<script>/{{.X}}",
    "<!-- {{.X}}",
    "<textarea>{{.X}}",
    '<style>p { color: "{{.X}}',
    '{{define "x"}}<a {{end}}{{template "x"}}{{.X}}',
    '{{block "b" .}}<a title="{{end}}',
    # branches that end in different contexts
    '{{if .C}}<a href="{{end}}',
    '{{with .C}}<b title="{{end}}">',
    "<a href='{{.X}}{{if .C}}'{{end}}>",
    '<a href="x" {{if .C}}title="{{end}}">',
    '<script>var x = "{{.X}}"</script>\n{{if .C}}<a href="x">{{else}}<a href="y{{end}}',
    '{{range .L}}<a href="{{end}}',
    "{{range .L}}{{if .}}<a>{{else}}<a title={{end}}{{end}}",
    # errors in the HTML text itself (Go's message names no line)
    '{\n  "a": 1\n}\n<img src=x<y>{{.X}}',
    '<a b<c="{{.X}}">',
    "<script>var r = /[{{.X}}]/</script>",
    "<script>{{if .C}}var x = 1{{end}}/-{{.X}}/i.test(x)</script>",
    # actions and calls
    '<a href="{{if .C}}/path/{{else}}/search?q={{end}}{{.X}}">',
    '{{template "missing"}}',
    '<a title="{{template "missing"}}">',
    '{{html .X | printf "%s"}}',
    "{{urlquery .X | len}}",
    # controls: accepted
    "<a href={{.X}}>",
    "<a {{.X}}=x>",
    '{"event": "{{.Type}}"}',
    "<script>var a = `${ {{.X}} }`</script>",
)

# The struct-Meta events (docs/protocol.md, "Meta by event").
STRUCT_EVENTS = (
    "QuotaExceeded",
    "RatelimitExceeded",
    "AuthFailure",
    "KeyExpired",
    "OrgQuotaExceeded",
    "VersionFailure",
    "TriggerExceeded",
    "BreakerTripped",
    "BreakerReset",
    "HostDown",
    "HostUp",
    "TokenCreated",
    "UpstreamOAuthError",
    "CertificateExpiringSoon",
    "CertificateExpired",
)
TS = "2024-03-05 14:07:09.123456789 +0000 UTC"


def escape_requests() -> list[dict]:
    reqs = []
    for i, text in enumerate(ESCAPE_TEMPLATES):
        for j, data in enumerate(DATAS):
            reqs.append(
                {"id": f"escape-{i}-{j}", "template": text, "data": data, "engine": "html", "name": NAME}
            )
    return reqs


def null_meta_requests() -> list[dict]:
    templates = {
        "tyk": (ROOT / "tests" / "data" / "tyk_default_webhook.json").read_text(encoding="utf-8"),
        "ours": (ROOT / "templates" / "default_webhook.json").read_text(encoding="utf-8"),
    }
    reqs = []
    for which, text in templates.items():
        for ev in STRUCT_EVENTS:
            for how, data in (
                ("null", {"Type": ev, "Meta": None, "TimeStamp": TS}),
                ("absent", {"Type": ev}),
            ):
                reqs.append(
                    {
                        "id": f"null-meta-{which}-{ev}-{how}",
                        "template": text,
                        "data": data,
                        "engine": "html",
                        "name": "default_webhook.json",
                        "funcs": ["as_rfc3339", "as_rfc3339_from_string"],
                        "data_model": "tyk_event",
                    }
                )
    return reqs


def run_oracle(oracle: str, reqs: list[dict]) -> list[dict]:
    payload = "".join(json.dumps(r) + "\n" for r in reqs)
    proc = subprocess.run([oracle], input=payload.encode(), capture_output=True, check=True)
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    if [a["id"] for a in answers] != [r["id"] for r in reqs]:
        raise SystemExit("the oracle did not answer every request in order")
    return [
        {**r, **{k: a[k] for k in ("output", "error", "error_class", "go_version")}}
        for r, a in zip(reqs, answers, strict=True)
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--oracle", default=os.environ.get("GOTMPL_ORACLE", "/usr/local/bin/gotmpl-oracle"))
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    for name, reqs in (("escape.jsonl", escape_requests()), ("null_meta.jsonl", null_meta_requests())):
        vectors = run_oracle(args.oracle, reqs)
        with (DATA / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(v, ensure_ascii=False) + "\n" for v in vectors)
        print(f"{name}: {len(vectors)} vectors")


if __name__ == "__main__":
    main()
