"""Two Tyk-parity cases of webhook rendering, on the handler with a real HTTP receiver and on
the real daemon (docs/webhooks.md):

- a custom template html/template refuses to escape: Tyk's ParseFiles accepts it and every
  Execute fails, so nothing is sent, no cooldown is set, and `Webhook template rendering
  error` is logged with Go's message (tests/gotemplate/data/escape.jsonl);
- a struct event whose Meta is null or absent renders over the zero struct, as Go does over
  the struct Tyk always fires (tests/gotemplate/data/null_meta.jsonl); map-Meta and custom
  events keep a nil Meta, which Tyk's default template cannot render.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import classic_api
from tests.support.threaded import ThreadedReceiver
from tests.webhook.receiver import Receiver
from tests.webhook.test_handler import TS, TYK_DEFAULT, event, settle
from tests.webhook.test_handler import ctx as handler_ctx
from tykevents.deliver.base import HandlerContext
from tykevents.deliver.webhook.fieldcheck import served_event_types, template_field_problems
from tykevents.deliver.webhook.handler import build_webhook_handler, webhook_escape_problems
from tykevents.model import Event

GOTMPL = Path(__file__).resolve().parents[1] / "gotemplate" / "data"


def _vectors(name: str) -> dict[str, dict[str, Any]]:
    lines = (GOTMPL / name).read_text(encoding="utf-8").splitlines()
    return {v["id"]: v for v in map(json.loads, lines)}


ESCAPE = _vectors("escape.jsonl")
NULL_META = _vectors("null_meta.jsonl")
# `{\n  "event": "{{.Type}}"\n}\n<script>{{.Type}}`: ends inside a script
REFUSED = ESCAPE["escape-0-0"]
GO_ERROR = REFUSED["error"].removeprefix("escape: ")


@pytest.fixture
async def svc(services: Any) -> Any:
    return await services()


def ctx(svc: Any, base: Path, **cfg: Any) -> HandlerContext:
    # Error lines are rate-limited per handler place: each test's handlers get their own.
    return dataclasses.replace(handler_ctx(svc, base, **cfg), where=f"{base}/api1.json:$.events.X[0]")


def _tyk_templates(base: Path) -> Path:
    d = base / "tyk-templates"
    d.mkdir()
    shutil.copy(TYK_DEFAULT, d / "default_webhook.json")
    return d


# -- a template html/template refuses --------------------------------------------------------


async def test_refused_custom_template_sends_nothing_and_arms_no_cooldown(
    svc: Any, tmp_path: Path, receiver: Receiver, caplog: Any
) -> None:
    hook = tmp_path / "hook.json"
    hook.write_text(REFUSED["template"])
    meta = {
        "target_path": receiver.url("/"),
        "method": "POST",
        "template_path": "hook.json",
        "event_timeout": 60,
    }
    with caplog.at_level(logging.INFO):
        h = build_webhook_handler(meta, ctx(svc, tmp_path))
    # ParseFiles succeeds: the custom template is kept, not replaced by the default
    assert h.template_file == str(hook) and h.content_type == "application/json"
    assert "Custom template load failure" not in caplog.text
    [note] = [r for r in caplog.records if GO_ERROR in r.getMessage()]
    assert note.levelno == logging.INFO  # Tyk's Init says nothing; each event logs it below
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            await h.handle(event("AuthFailure", {"Path": "/p", "Key": "k"}))
    await settle(svc)
    assert receiver.requests == [] and svc.pending == 0
    assert svc.metrics.total("render_error") == 3  # every event fails: no cooldown was set
    assert svc.metrics.total("suppressed") == 0
    [rec] = [r for r in caplog.records if "Webhook template rendering error" in r.getMessage()]
    msg = rec.getMessage()
    assert rec.levelno == logging.ERROR
    assert msg.startswith(f"Webhook template rendering error: {GO_ERROR} (")  # Go's own message
    assert f"template {hook}:4:17," in msg  # the template's end, left inside the script


async def test_refusal_at_a_known_place_is_reported_there(svc: Any, tmp_path: Path, caplog: Any) -> None:
    hook = tmp_path / "branches.json"
    hook.write_text('{\n  "event": "{{.Type}}",\n  {{if .Meta.Key}}"link": "<a href=\'{{end}}x\'"\n}\n')
    h = build_webhook_handler(
        {"target_path": "http://127.0.0.1:9/", "template_path": "branches.json"}, ctx(svc, tmp_path)
    )
    with caplog.at_level(logging.ERROR):
        await h.handle(event("AuthFailure", {"Key": "k"}))
    assert "html/template:branches.json:3:7: {{if}} branches end in different contexts" in caplog.text
    assert f"template {hook}:3:7," in caplog.text
    assert svc.metrics.total("render_error") == 1


async def test_check_reports_refused_templates_with_file_and_line(svc: Any, tmp_path: Path) -> None:
    (tmp_path / "hook.json").write_text(REFUSED["template"])
    (tmp_path / "fine.json").write_text('{"event": "{{.Type}}", "link": "<a href={{.Meta.Path}}>"}')
    refused = [
        build_webhook_handler({"target_path": "http://x/", "template_path": "hook.json"}, ctx(svc, tmp_path))
        for _ in range(2)
    ]
    fine = build_webhook_handler(
        {"target_path": "http://x/", "template_path": "fine.json"}, ctx(svc, tmp_path)
    )
    by_api = {"api1": {"AuthFailure": [refused[0], fine], "KeyExpired": [refused[1]]}}
    [p] = webhook_escape_problems(served_event_types(by_api))
    assert p.where == f"{tmp_path / 'hook.json'}:4:17" and p.level == logging.ERROR
    assert p.message.startswith(GO_ERROR + ": html/template refuses this template")
    assert "and 1 more" in p.message  # both handlers share the parsed file
    assert webhook_escape_problems(served_event_types({"api1": {"AuthFailure": [fine]}})) == []
    # the field check has nothing to say where no field is ever reached (and does not raise)
    assert template_field_problems(refused[0].template, ["AuthFailure", "TokenCreated"]) == []


# -- a struct event with a null or absent Meta ------------------------------------------------


@pytest.mark.parametrize("type_", ["AuthFailure", "BreakerTripped", "HostDown", "CertificateExpired"])
async def test_null_and_absent_struct_meta_render_the_zero_struct(
    svc: Any, tmp_path: Path, receiver: Receiver, type_: str
) -> None:
    c = ctx(svc, tmp_path, template_path=str(_tyk_templates(tmp_path)))
    h = build_webhook_handler({"target_path": receiver.url("/"), "method": "POST", "event_timeout": 0}, c)
    await h.handle(Event(type_, b"null", TS, "api1", "org1"))  # "Meta": null
    await h.handle(Event(type_, None, "", "api1", "org1"))  # no Meta key, no TimeStamp
    await settle(svc)
    bodies = [r.body.decode() for r in receiver.requests]
    assert bodies == [
        NULL_META[f"null-meta-tyk-{type_}-null"]["output"],  # what Tyk's template gives in Go
        NULL_META[f"null-meta-tyk-{type_}-absent"]["output"],
    ]
    assert svc.metrics.total("render_error") == 0


@pytest.mark.parametrize("type_", ["MyPluginEvent", "OAuth2ScopeCheckFailed"])
async def test_null_meta_of_custom_and_map_events_stays_nil(
    svc: Any, tmp_path: Path, caplog: Any, type_: str
) -> None:
    c = ctx(svc, tmp_path, template_path=str(_tyk_templates(tmp_path)))
    h = build_webhook_handler({"target_path": "http://127.0.0.1:9/", "event_timeout": 0}, c)
    with caplog.at_level(logging.ERROR):
        await h.handle(Event(type_, b"null", TS, "api1", "org1"))
    assert svc.metrics.total("render_error") == 1 and svc.pending == 0
    assert "nil pointer evaluating interface {}.Message" in caplog.text


# -- the same, through the running daemon -----------------------------------------------------


@pytest.mark.e2e
def test_daemon_zero_struct_for_null_meta_and_nothing_for_a_refused_template(
    run_daemon: Any, tmp_path: Path
) -> None:
    r = ThreadedReceiver(None)
    try:
        tpl = tmp_path / "tpl"
        tpl.mkdir()
        shutil.copy(TYK_DEFAULT, tpl / "default_webhook.json")
        (tpl / "hook.json").write_text(REFUSED["template"])

        def hook(path: str, **meta: Any) -> dict[str, Any]:
            return {
                "handler_name": "eh_web_hook_handler",
                "handler_meta": {"method": "POST", "target_path": r.url(path), "event_timeout": 0, **meta},
            }

        d = run_daemon(
            conf={"template_path": str(tpl), "log_level": "info"},
            apps={
                "a.json": classic_api(
                    "a",
                    {
                        "AuthFailure": [hook("/zero")],
                        "KeyExpired": [hook("/refused", template_path=str(tpl / "hook.json"))],
                    },
                )
            },
        )
        records = [
            {"Type": "AuthFailure", "APIID": "a", "Meta": None, "TimeStamp": TS},
            {"Type": "AuthFailure", "APIID": "a"},
            {"Type": "KeyExpired", "APIID": "a", "Meta": {"Path": "/p"}, "TimeStamp": TS},
        ]
        d.send_udp(records)
        got = r.wait_for(2)
        d.wait_log("Webhook template rendering error")
        time.sleep(0.3)  # nothing more arrives
        assert [q.target for q in r.requests] == ["/zero", "/zero"]
        assert sorted(q.body.decode() for q in got) == sorted(
            NULL_META[f"null-meta-tyk-AuthFailure-{how}"]["output"] for how in ("null", "absent")
        )
        assert GO_ERROR in d.log()
        assert "Custom template load failure" not in d.log()
    finally:
        r.close()
