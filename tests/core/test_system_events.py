"""System events from a stock gateway: templates/tykevents_forward.json, rendered as Tyk renders
webhook bodies (html/template, our engine), POSTed to the real HTTP ingest, come out as the
identical event, whatever the values hold."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tykevents.config import Lanes as LaneSettings
from tykevents.decode import INVALID, MALFORMED
from tykevents.gotemplate import parse
from tykevents.ingest.forwarded import is_forwarded, unwrap
from tykevents.ingest.http import ingest_app
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime.metrics import Stats
from tykevents.tykmeta import template_data
from tykevents.work import Lanes

from .handlers import Recorder

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "tykevents_forward.json"
TS = "2024-03-05 16:07:09.123456789 +0200 CEST"  # its `+` is escaped by html/template
HOSTILE = [
    "Key \"Quota\" <Limit> & 'x' +1",
    '<script>alert("x")</script>',
    "é 世界 🎉 \u2028\u2029 \ufffd",
    "C:\\path\\to\\file \\u0041 \\",
    "line one\nline two\r\n\ttabbed",
    "\x00\x01\x1f\x7f NUL and controls",
    "&#34; &amp; already escaped }} {{ .Meta }}",
    "",
]
TOKEN_EVENTS = ("TokenCreated", "TokenUpdated", "TokenDeleted")


def render(event_type: str, meta: dict, ts: str = TS) -> bytes:
    """The body Tyk's webhook sends for this event: html/template over the EventMessage."""
    tmpl = parse(TEMPLATE.read_text(), engine="html", name=TEMPLATE.name)
    return tmpl.render_bytes(template_data(event_type, meta, ts))


def make_pipeline(types: tuple[str, ...]) -> tuple[Pipeline, Stats, Lanes, Recorder]:
    stats = Stats()
    lanes = Lanes(LaneSettings(), stats)
    rec = Recorder("global")
    table = RouteTable(by_api={"": dict.fromkeys(types, (rec,))})
    return Pipeline(table, lanes, stats, 1 << 20), stats, lanes, rec


async def post_all(bodies: list[bytes], types: tuple[str, ...]) -> tuple[list, list, Stats]:
    pipeline, stats, lanes, rec = make_pipeline(types)
    answers = []
    async with TestClient(TestServer(ingest_app(lambda: pipeline, 1 << 20))) as client:
        for body in bodies:
            resp = await client.post("/events", data=body, headers={"Content-Type": "application/json"})
            answers.append((resp.status, await resp.json()))
    lanes.start()
    assert await lanes.drain(time.monotonic() + 5)
    await lanes.stop()
    return answers, rec.events, stats


def view(e) -> tuple:
    return (e.type, e.api_id, e.org_id, e.timestamp, e.meta(), e.message_json())


def test_html_template_escaping_is_why_values_travel_as_hex():
    # What a plain `"{{.Meta.Key}}"` template would send: escaped, so not the key.
    naive = parse('{"Key": "{{.Meta.Key}}"}', engine="html").render_bytes(
        template_data("TokenCreated", {"Key": 'a"<b>&+'}, TS)
    )
    assert naive == b'{"Key": "a&#34;&lt;b&gt;&amp;&#43;"}'
    body = render("TokenCreated", {"Message": "Key generated.", "Org": "o", "Key": 'a"<b>&+'})
    assert is_forwarded(body)
    assert b"&" not in body and b"\\" not in body  # nothing an escaper touched
    doc = orjson.loads(body)
    assert doc["Kind"] == "forwarded" and bytes.fromhex(doc["hex"]["Meta"]["Key"]) == b'a"<b>&+'


@pytest.mark.parametrize("event_type", TOKEN_EVENTS)
async def test_every_token_event_round_trips_to_the_identical_event(event_type):
    metas = [
        {"Message": "Key generated.", "OriginatingRequest": "", "Org": "org1", "Key": "5e9d9544a1dcd6"},
        *(
            {"Message": v, "OriginatingRequest": HOSTILE[(i + 1) % len(HOSTILE)], "Org": v[::-1], "Key": v}
            for i, v in enumerate(HOSTILE)
        ),
    ]
    bodies = [render(event_type, m) for m in metas]
    direct = [orjson.dumps({"Type": event_type, "Meta": m, "TimeStamp": TS, "APIID": ""}) for m in metas]
    answers, events, stats = await post_all(bodies + direct, (event_type,))
    assert answers == [(202, {"records": 1, "rejected": 0})] * len(bodies + direct)
    assert stats.rejected == {}
    forwarded, pushed = events[: len(metas)], events[len(metas) :]
    assert [view(e) for e in forwarded] == [view(e) for e in pushed]
    assert [e.meta() for e in forwarded] == metas
    assert all(e.api_id == "" and e.timestamp == TS for e in forwarded)


async def test_a_custom_system_event_with_hostile_values_round_trips():
    # coprocess TykTriggerEvent(name, payload): EventMetaDefault{Message: payload}.
    names = ["MyEvent", 'Odd "name" <b>&+é', "with\nnewline"]
    payloads = [*HOSTILE, '{"json": "payload", "n": [1, 2]}']
    metas = [{"Message": p, "OriginatingRequest": ""} for p in payloads]
    cases = [(n, m) for n in names for m in metas]
    bodies = [render(n, m, ts="2025-01-02 03:04:05.5 +0000 UTC") for n, m in cases]
    answers, events, stats = await post_all(bodies, tuple(names))
    assert answers == [(202, {"records": 1, "rejected": 0})] * len(cases)
    assert [(e.type, e.meta(), e.api_id) for e in events] == [(n, m, "") for n, m in cases]
    # and a webhook template sees what Tyk's would: Tyk's EventMetaDefault again
    for e, (_, m) in zip(events, cases, strict=True):
        assert template_data(e.type, e.meta(), e.timestamp).fields["Meta"].fields == m


def test_bytes_that_are_not_utf8_become_u_fffd_per_byte_as_go_json_marshal_does():
    body = b'{"Kind":"forwarded","hex":{"Type":"%s","Meta":{"Key":"%s"}}}' % (
        b"TokenDeleted".hex().encode(),
        b"a\xffb\xe2\x82c\xed\xa0\x80".hex().encode(),
    )
    rec = orjson.loads(unwrap(body, lambda *a: pytest.fail(f"rejected {a}")))
    assert rec == {
        "Type": "TokenDeleted",
        "Meta": {"Key": "a\ufffdb\ufffd\ufffdc\ufffd\ufffd\ufffd"},
        "APIID": "",
    }


async def test_unusable_forwarded_bodies_are_counted_like_any_rejected_record():
    bad = [
        b'{"Kind": "forwarded", "hex": {"Type": "zz"}}',  # not hex
        b'{"Kind": "forwarded", "hex": {"Type": 5}}',  # not a string
        b'{"Kind": "forwarded", "hex": {"Type": "41", "Meta": ["41"]}}',  # Meta not an object
        b'{"Kind": "forwarded", "hex": {"Meta": {}}}',  # no Type
        b'{"Kind": "forwarded", "Type": "41"}',  # no hex object
        b'{"Kind": "forwarded", "hex": {"Type": "41"}',  # cut short
    ]
    answers, events, stats = await post_all(bad, ("A",))
    assert answers == [(202, {"records": 0, "rejected": 1})] * 6
    assert events == [] and dict(stats.rejected) == {INVALID: 5, MALFORMED: 1}


async def test_other_bodies_are_not_taken_for_forwarded_ones():
    plain = [
        b'{"Type": "TokenCreated", "Meta": {"Kind": "forwarded"}}',
        # only a whole body is read as forwarded: a line of a batch is not, and is rejected
        b'{"Type":"TokenCreated"}\n{"Kind": "forwarded", "hex": {"Type": "41"}}',
        b'[{"Type": "TokenCreated", "Kind": "forwarded"}]',
    ]
    assert not any(is_forwarded(b) for b in plain[:1] + plain[2:])
    answers, events, stats = await post_all(plain, ("TokenCreated",))
    assert [a[0] for a in answers] == [202, 202, 202]
    assert [e.type for e in events] == ["TokenCreated"] * 3
    assert dict(stats.rejected) == {"unknown_kind": 1}


def test_the_example_in_docs_protocol_md_decodes_as_it_says():
    doc = (TEMPLATE.parents[1] / "docs" / "protocol.md").read_text()
    section = doc[doc.index("## Forwarded records") :]
    start = section.index("```json\n") + len("```json\n")
    example = section[start : section.index("\n```", start)]
    rec = orjson.loads(unwrap(example.encode(), lambda *a: pytest.fail(f"rejected {a}")))
    assert rec == {
        "Type": "TokenCreated",
        "TimeStamp": "2024-03-05 14:07:09.123456789 +0000 UTC",
        "Meta": {"Message": "Key generated.", "OriginatingRequest": "", "Org": "org1", "Key": "5e9d"},
        "APIID": "",
    }
    assert render("TokenCreated", rec["Meta"], rec["TimeStamp"]).replace(b" ", b"").replace(
        b"\n", b""
    ) == example.encode().replace(b" ", b"").replace(b"\n", b"")
