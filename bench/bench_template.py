"""Rendering Tyk's default webhook template, against references measured in the same run.

    python -m pytest bench/bench_template.py --benchmark-enable -p no:cacheprovider

Group "webhook-body": the engine renders templates/default_webhook.json (html/template,
Tyk's two functions installed) for a QuotaExceeded event (the longest path: every
`else if` fails) and a TriggerExceeded one, from the Go structs tykmeta builds. The
references produce the same QuotaExceeded body with str.format and a hand-written HTML
escape, and serialise the Meta with orjson; quote the engine as a ratio to them
(pytest-benchmark's table shows each mean; the target is well under 20 us).

Group "template-data": building the data a template executes over (tykmeta.template_data:
Meta as its Go struct, each field checked against its Go type) for the same two events,
against orjson parsing that Meta's JSON (the step before it, on every event).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tykevents.golang.time import TYK_FUNCS
from tykevents.gotemplate import parse
from tykevents.tykmeta import template_data

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = (ROOT / "templates" / "default_webhook.json").read_text(encoding="utf-8")

QUOTA_META = {
    "Message": "Key \"Quota\" <Limit> & 'x' +1",
    "Path": "/api/v1/x?a=1&b=2",
    "Origin": "10.0.0.1",
    "Key": "abc+def/=",
}
TRIGGER_META = {
    "Message": "Quota trigger reached",
    "org_id": "org1",
    "key": "key1",
    "trigger_limit": 80,
    "usage_percentage": 85,
}
STAMP = "2024-03-06 14:07:09.123456 +0000 UTC"

BODY = (
    '\n{{\n    "event": "{event}",\n    "message": "{message}",\n    "path": "{path}",\n'
    '    "origin": "{origin}",\n    "key": "{key}"\n}}\n\n\n'
)


def _esc(s: str) -> str:
    return (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        .replace("+", "&#43;")
    )


@pytest.fixture(scope="module")
def tpl():
    return parse(TEMPLATE, name="default_webhook.json", engine="html", funcs=TYK_FUNCS)


@pytest.mark.benchmark(group="webhook-body")
def test_engine_quota_exceeded(benchmark, tpl):
    data = template_data("QuotaExceeded", QUOTA_META, STAMP)
    out = benchmark(tpl.execute, data)
    assert out == BODY.format(
        event="QuotaExceeded",
        message=_esc(QUOTA_META["Message"]),
        path=_esc(QUOTA_META["Path"]),
        origin="10.0.0.1",
        key=_esc(QUOTA_META["Key"]),
    )


@pytest.mark.benchmark(group="webhook-body")
def test_engine_trigger_exceeded(benchmark, tpl):
    data = template_data("TriggerExceeded", TRIGGER_META, STAMP)
    out = benchmark(tpl.execute, data)
    assert '"trigger_limit": "80"' in out


@pytest.mark.benchmark(group="webhook-body")
def test_reference_str_format(benchmark):
    m = QUOTA_META

    def render() -> str:
        return BODY.format(
            event="QuotaExceeded",
            message=_esc(m["Message"]),
            path=_esc(m["Path"]),
            origin=_esc(m["Origin"]),
            key=_esc(m["Key"]),
        )

    assert benchmark(render).startswith("\n{\n")


@pytest.mark.benchmark(group="webhook-body")
def test_reference_orjson_meta(benchmark):
    assert benchmark(orjson.dumps, QUOTA_META).startswith(b"{")


@pytest.mark.benchmark(group="template-data")
def test_template_data_quota_exceeded(benchmark):
    data = benchmark(template_data, "QuotaExceeded", QUOTA_META, STAMP)
    assert data.fields["Meta"].fields["Key"] == QUOTA_META["Key"]


@pytest.mark.benchmark(group="template-data")
def test_template_data_trigger_exceeded(benchmark):
    data = benchmark(template_data, "TriggerExceeded", TRIGGER_META, STAMP)
    assert data.fields["Meta"].fields["TriggerLimit"] == 80


@pytest.mark.benchmark(group="template-data")
def test_reference_orjson_loads_meta(benchmark):
    raw = orjson.dumps(QUOTA_META)
    assert benchmark(orjson.loads, raw) == QUOTA_META


@pytest.mark.benchmark(group="parse")
def test_parse_default_template(benchmark):
    t = benchmark(parse, TEMPLATE, name="default_webhook.json", engine="html", funcs=TYK_FUNCS)
    assert "default_webhook.json" in t.names()
