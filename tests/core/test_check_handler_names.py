"""A handler name Tyk does not know: Tyk logs `Handler not found` and skips the entry, and the
API's other handlers work (gateway/event_system.go EventHandlerByName). `run` does the same;
`check` fails on it, with the file, the JSON path and a "did you mean", as a typo there
silently disables a handler."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tykevents.apps import load_definitions
from tykevents.cli.check import check
from tykevents.config import load_config
from tykevents.deliver.base import HandlerServices
from tykevents.handlers import build_generation, unknown_handler


def log(prefix: str, name: str = "eh_log_handler") -> dict:
    return {"handler_name": name, "handler_meta": {"prefix": prefix}}


def setup(tmp_path, events: dict, conf: dict | None = None):
    (tmp_path / "apps").mkdir()
    doc = {"api_id": "a1", "org_id": "o", "name": "A", "event_handlers": {"events": events}}
    (tmp_path / "apps" / "a1.json").write_text(json.dumps(doc))
    path = tmp_path / "tyk.conf"
    path.write_text(json.dumps({"app_path": "apps", **(conf or {})}))
    return path


def test_check_fails_on_a_misspelled_handler_name_with_a_suggestion(tmp_path):
    conf = setup(tmp_path, {"AuthFailure": [log("ok"), log("typo", "eh_web_hook_handlr")]})
    out = io.StringIO()
    assert check(str(conf), out) == 1
    where = f"{tmp_path / 'apps' / 'a1.json'}:$.event_handlers.events.AuthFailure[1]"
    assert (
        f"error: {where}: Handler not found: 'eh_web_hook_handlr': skipped "
        "(did you mean 'eh_web_hook_handler'?)"
    ) in out.getvalue().splitlines()
    assert out.getvalue().splitlines()[-1].endswith(": 1 APIs, 1 handlers, 1 errors, 0 warnings")


def test_check_fails_on_one_in_tyk_conf_event_handlers(tmp_path):
    conf = setup(tmp_path, {}, {"event_handlers": {"events": {"KeyExpired": [log("g", "eh_log_handle")]}}})
    out = io.StringIO()
    assert check(str(conf), out) == 1
    assert (
        f"error: {conf}:$.event_handlers.events.KeyExpired[0]: Handler not found: 'eh_log_handle': "
        "skipped (did you mean 'eh_log_handler'?)"
    ) in out.getvalue()


def test_run_skips_it_with_a_warning_and_the_other_handlers_work(tmp_path):
    conf = setup(tmp_path, {"AuthFailure": [log("first"), log("x", "eh_log_handlr"), log("last")]})
    cfg = load_config(conf, env={})
    apis, problems = load_definitions(cfg)
    built = build_generation(cfg, apis, HandlerServices())
    assert [h.prefix for h in built.routes.lookup("a1", "AuthFailure")] == ["first", "last"]
    (p,) = problems + built.problems
    assert p.level == logging.WARNING  # what `run` logs (the daemon's report)
    assert p.check_severity == logging.ERROR  # what `check` counts
    assert p.message == "Handler not found: 'eh_log_handlr': skipped (did you mean 'eh_log_handler'?)"


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("eh_web_hook_handlr", "eh_web_hook_handler"),
        ("eh_webhook_handler", "eh_web_hook_handler"),
        ("EH_WEB_HOOK_HANDLER", "eh_web_hook_handler"),  # Tyk compares exactly: case matters
        ("EH_WebHook", "eh_web_hook_handler"),  # Tyk's Go constant names
        ("EH_JSVMHandler", "eh_dynamic_handler"),
        ("CoProcessHandler", "cp_dynamic_handler"),
        ("webhook", "eh_web_hook_handler"),  # the OAS `type` names
        ("custom", "eh_dynamic_handler"),
        ("log", "eh_log_handler"),
        ("eh_dynamic_handlr", "eh_dynamic_handler"),
        ("cp_dynamic_handlers", "cp_dynamic_handler"),
        ("something_else", None),
        ("", None),
    ],
)
def test_did_you_mean(name, suggested):
    msg = unknown_handler(name, "f.json:$.x").message
    assert msg.startswith(f"Handler not found: {name!r}: skipped")
    assert msg.endswith(f" (did you mean {suggested!r}?)" if suggested else "skipped")
