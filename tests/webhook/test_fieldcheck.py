"""The static field check of webhook templates (tykevents/deliver/webhook/fieldcheck.py over
tykevents/gotemplate/fieldcheck.py), against what Go's engine does with the same template over
Tyk's event structs (tests/data/fieldcheck/vectors.jsonl, from tools/gen_fieldcheck_vectors.py).

The rule the vectors pin: an error-level finding is Go's exact error for every Meta tried; a
warning-level one is Go's exact error for at least one Meta (the one that reaches it); no
finding where Go never fails. Where the value is unknown (function results, custom events,
map Metas) the check stays silent even if Go may fail.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, classic_api
from tykevents.apps import load_definitions
from tykevents.config import load_config
from tykevents.deliver.base import HandlerServices
from tykevents.deliver.webhook.fieldcheck import (
    event_root,
    served_event_types,
    template_field_problems,
    tyk_types,
    webhook_field_problems,
)
from tykevents.deliver.webhook.handler import TemplateLoadError, template_funcs
from tykevents.gotemplate import parse
from tykevents.gotemplate.fieldcheck import check_fields
from tykevents.handlers import build_generation
from tykevents.tykmeta import EVENT_META_TYPES, MAP_META_EVENTS

VECTORS = [
    json.loads(line)
    for line in (ROOT / "tests" / "data" / "fieldcheck" / "vectors.jsonl").read_text().splitlines()
]
# Findings expected per case (levels in location order); absent: none.
EXPECT = {
    "meta-missing": ["error"],
    "with-meta": ["error"],
    "string-field": ["error"],
    "type-field": ["error"],
    "root-field": ["error"],
    "root-var": ["error"],
    "time-field": ["error"],
    "duration-field": ["error"],
    "int64-field": ["error"],
    "int-field": ["error"],
    "float-bool": ["error"],
    "breaker-event": ["error"],
    "slice-field": ["error"],
    "range-elem": ["warning"],
    "map-elem": ["warning"],
    "var": ["error"],
    "var-reassigned": [],  # $m may have been reassigned: unknown, so silent
    "define": ["error"],
    "pipe-head": ["error"],
    "if-data": ["warning"],
    "if-struct": ["error"],  # a struct is always true: the body always runs, the else never
    "and-short": ["warning"],
    "func-arg": ["error"],
    "with-else": ["warning"],
}
# Go fails, but on a value we do not follow (a function's result): silent by design.
SILENT = {"func-result", "var-reassigned"}


def findings(template: str, event: str) -> list:
    tpl = parse(template, name="t.json", funcs=template_funcs())
    return check_fields(tpl, event_root(event), tyk_types())


@pytest.mark.parametrize("case", VECTORS, ids=[v["id"] for v in VECTORS])
def test_findings_match_go(case: dict) -> None:
    found = findings(case["template"], case["event"])
    go = case["go_errors"]
    assert ["error" if f.sure else "warning" for f in found] == EXPECT.get(case["id"], []), found
    for f in found:
        if f.sure:
            assert go == [f.go_error()] * len(go)
        else:
            assert f.go_error() in go
    if not found and case["id"] not in SILENT:
        assert go == [None] * len(go)
    if case["id"] in SILENT:
        assert any(go), "a silent case must be one where Go does fail"


def test_every_vector_case_has_an_expectation_or_is_clean() -> None:
    ids = {v["id"] for v in VECTORS}
    assert set(EXPECT) <= ids and SILENT <= ids


ALL_EVENTS = [*EVENT_META_TYPES, *MAP_META_EVENTS, "MyCustomEvent"]


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("default_webhook.json", ALL_EVENTS),
        ("breaker_webhook.json", ["BreakerTriggered", "BreakerTripped", "BreakerReset"]),
        ("monitor_template.json", ["TriggerExceeded"]),
    ],
)
def test_shipped_templates_are_clean_for_the_events_they_serve(name: str, events: list[str]) -> None:
    # The default template branches on .Type and printf "%T": only folded conditions keep it clean.
    assert template_field_problems(ROOT / "templates" / name, events) == []


def test_problems_group_events_name_the_file_and_suggest() -> None:
    tpl = parse('{"p": "{{.Meta.Pth}}"}\n{{if .Meta.Key}}{{.Meta.Org}}{{end}}', name="h.json")
    problems = template_field_problems(tpl, ["KeyExpired", "AuthFailure", "MyCustomEvent"], file="/t/h.json")
    assert [(p.location, p.level) for p in problems] == [
        ("/t/h.json:1:14", logging.ERROR),
        ("/t/h.json:2:23", logging.WARNING),
    ]
    first, second = (p.message for p in problems)
    assert first.startswith(
        'executing "h.json" at <.Meta.Pth>: can\'t evaluate field Pth in type interface {} '
        "[for AuthFailure, KeyExpired (Meta gateway.EventKeyFailureMeta)]: every such event fails"
    )
    assert first.endswith("(did you mean Path?)")
    assert "MyCustomEvent" not in first  # its Meta is unknown: nothing is said about it
    assert "whenever this part runs" in second and "can't evaluate field Org" in second


def test_a_template_file_that_does_not_parse_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{{.Meta.Path")
    with pytest.raises(TemplateLoadError):
        template_field_problems(bad, ["AuthFailure"])


def test_recursive_templates_end() -> None:
    t = '{{define "r"}}{{.Path}}{{template "r" .}}{{end}}{{template "r" .Meta}}{{.Meta.Nope}}'
    found = findings(t, "AuthFailure")
    assert [f.message for f in found] == ["can't evaluate field Nope in type interface {}"]


def _config(tmp_path: Path, apps: dict[str, dict], tyk_conf: dict) -> Path:
    (tmp_path / "apps").mkdir()
    for name, doc in apps.items():
        (tmp_path / "apps" / name).write_text(json.dumps(doc))
    conf = {"app_path": str(tmp_path / "apps"), "template_path": str(tmp_path / "templates"), **tyk_conf}
    (tmp_path / "tyk.conf").write_text(json.dumps(conf))
    return tmp_path / "tyk.conf"


def _hook(template: str) -> dict:
    meta = {"method": "POST", "target_path": "http://127.0.0.1:9/h", "template_path": template}
    return {"handler_name": "eh_web_hook_handler", "handler_meta": meta}


def _setup(tmp_path: Path) -> Path:
    tpl_dir = tmp_path / "templates"  # an API's templates must sit in this or the app directory
    tpl_dir.mkdir()
    shutil.copy(ROOT / "templates" / "default_webhook.json", tpl_dir)
    api_tpl = tpl_dir / "user.json"
    apps = {
        "a.json": classic_api(
            "a", {"AuthFailure": [_hook(str(api_tpl))], "KeyExpired": [_hook(str(api_tpl))]}
        ),
        "b.json": classic_api("b", {"MyCustomEvent": [_hook(str(api_tpl))]}),
    }
    global_tpl = tpl_dir / "token.json"
    monitor_tpl = tpl_dir / "monitor.json"
    conf = _config(
        tmp_path,
        apps,
        {
            "event_handlers": {"events": {"TokenCreated": [_hook(str(global_tpl))]}},
            "monitor": {
                "enable_trigger_monitors": True,
                "configuration": {
                    "method": "POST",
                    "target_path": "http://127.0.0.1:9/m",
                    "template_path": str(monitor_tpl),
                },
            },
        },
    )
    api_tpl.write_text('{"user": "{{.Meta.Username}}"}')
    global_tpl.write_text('{"org": "{{.Meta.Org}}", "path": "{{.Meta.Path}}"}')
    monitor_tpl.write_text('{"limit": {{.Meta.TriggerLimit}}{{with .Meta}}{{.Origin}}{{end}}}')
    return conf


def test_served_events_and_problems_from_a_built_generation(tmp_path: Path) -> None:
    """What `check` can call: every webhook with the events it is listed under, the monitor's
    webhook with TriggerExceeded, each template checked once for all its users."""
    cfg = load_config(str(_setup(tmp_path)))
    apis, _ = load_definitions(cfg)
    built = build_generation(cfg, apis, HandlerServices(check_only=True))
    served = served_event_types(built.routes.by_api, built.monitor_webhook)
    assert sorted(sorted(evs) for _, evs in served) == [
        ["AuthFailure"],
        ["KeyExpired"],
        ["MyCustomEvent"],
        ["TokenCreated"],
        ["TriggerExceeded"],
    ]
    problems = webhook_field_problems(served)
    got = sorted((Path(p.where).name, p.level, p.message.split(": ")[1].split(" [")[0]) for p in problems)
    assert got == [
        (
            "monitor.json:1:48",
            logging.ERROR,
            "can't evaluate field Origin in type gateway.EventTriggerExceededMeta",
        ),
        ("token.json:1:41", logging.ERROR, "can't evaluate field Path in type interface {}"),
        ("user.json:1:17", logging.ERROR, "can't evaluate field Username in type interface {}"),
    ]
    user = next(p for p in problems if "user.json" in p.where)
    assert "AuthFailure, KeyExpired (Meta gateway.EventKeyFailureMeta)" in user.message
    assert "and 2 more)" in user.message  # three webhooks share the file


@pytest.mark.e2e
def test_check_cli_reports_template_fields__needs_wiring_in_check_py(tmp_path: Path) -> None:
    """End to end through `tykevents check`. Fails until tykevents/cli/check.py calls
    webhook_field_problems(served_event_types(...)) (the lead wires it)."""
    conf = _setup(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    user_tpl = tmp_path / "templates" / "user.json"
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        f'error: {user_tpl}:1:17: executing "user.json" at <.Meta.Username>: '
        "can't evaluate field Username in type interface {} [for AuthFailure, KeyExpired" in out.stdout
    ), out.stdout
    assert f"error: {tmp_path / 'templates' / 'monitor.json'}:1:48:" in out.stdout, out.stdout
