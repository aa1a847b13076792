"""cp_dynamic_handler: Python `@Event` functions of the API's bundle (driver python), each in a
process of its own with a time limit; grpc forwarders skipped; other drivers reported."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import pytest

from tykevents.apps import load_apps
from tykevents.config import load_config
from tykevents.deliver.base import HandlerServices
from tykevents.deliver.python.handler import PythonHandler
from tykevents.deliver.python.process import PythonHandlerError
from tykevents.deliver.python.stats import STATS, collect
from tykevents.handlers import build_routes
from tykevents.model import Event

BUNDLE = Path(__file__).resolve().parents[1] / "data" / "gateway" / "bundle"
BUNDLE_NAME = "events.zip"


def cp(name: str) -> dict:
    return {"handler_name": "cp_dynamic_handler", "handler_meta": {"name": name}}


def unpack(tmp: Path, dirname: str | None = None) -> Path:
    """The bundle where Tyk unpacks it: <middleware_path>/bundles/<md5 of its name>/."""
    d = tmp / "middleware" / "bundles" / (dirname or hashlib.md5(BUNDLE_NAME.encode()).hexdigest())
    shutil.copytree(BUNDLE, d)
    return d


def setup(tmp: Path, events: dict, conf: dict | None = None, **api) -> tuple:
    doc = {
        "api_id": "py",
        "org_id": "org1",
        "custom_middleware": {"driver": "python"},
        "custom_middleware_bundle": BUNDLE_NAME,
        "event_handlers": {"events": events},
        **api,
    }
    (tmp / "apps").mkdir(exist_ok=True)
    (tmp / "apps" / "py.json").write_text(json.dumps(doc))
    (tmp / "tyk.conf").write_text(json.dumps(conf or {"tykevents": {"python": {"call_time_limit": 1}}}))
    cfg = load_config(tmp / "tyk.conf", env={})
    apis, problems = load_apps(tmp / "apps")
    assert problems == []
    return build_routes(cfg, apis, HandlerServices())


def event(typ: str, meta: dict | None = None) -> Event:
    raw = json.dumps(meta or {}).encode()
    return Event(typ, raw, "2024-03-05 14:07:09.123456789 +0000 UTC", "py", "org1")


def recorded(d: Path) -> list[dict]:
    out = d / "events.jsonl"
    return [json.loads(ln) for ln in out.read_text().splitlines()] if out.exists() else []


async def test_an_event_runs_the_named_event_function_as_tyk_would_call_it(tmp_path):
    d = unpack(tmp_path)
    table, problems = setup(tmp_path, {"AuthFailure": [cp("record_event")]})
    assert problems == []
    (h,) = table.lookup("py", "AuthFailure")
    assert isinstance(h, PythonHandler) and h.kind == "js" and h.name == "record_event"
    try:
        await h.run(event("AuthFailure", {"Path": "/x", "Key": 'k"<>&'}))
        await h.run(event("AuthFailure", {"Path": "/y"}))
    finally:
        await h.close()
    first, second = recorded(d)
    assert first["message"] == {
        "Type": "AuthFailure",
        "Meta": {"Path": "/x", "Key": 'k"<>&'},
        "TimeStamp": "2024-03-05 14:07:09.123456789 +0000 UTC",
    }
    assert first["handler_name"] == "record_event"
    assert first["spec"] == {"APIID": "py", "OrgID": "org1"}
    assert (first["version"], second["calls"]) == (1, 2)  # one process: module state is kept
    assert first["pid"] == second["pid"]


async def test_log_and_print_reach_the_daemon_log(tmp_path, caplog):
    unpack(tmp_path)
    table, _ = setup(tmp_path, {"KeyExpired": [cp("log_event")]})
    (h,) = table.lookup("py", "KeyExpired")
    caplog.set_level(logging.INFO, "tykevents.python")
    try:
        await h.run(event("KeyExpired"))
        deadline = time.monotonic() + 5
        while "printed by log_event" not in caplog.text and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await h.close()
    warn = [r for r in caplog.records if r.getMessage() == "python saw KeyExpired on py"]
    assert warn and warn[0].levelno == logging.WARNING and "log_event" in warn[0].handler
    assert "printed by log_event" in caplog.text


async def test_a_raising_handler_fails_its_call_only_and_is_counted(tmp_path):
    d = unpack(tmp_path)
    table, _ = setup(tmp_path, {"A": [cp("fail_event"), cp("exit_event"), cp("record_event")]})
    fail, exit_, rec = table.lookup("py", "A")
    before = STATS.failures
    try:
        with pytest.raises(PythonHandlerError) as info:
            await fail.run(event("A", {"Path": "/p"}))
        msg = str(info.value)
        assert msg.startswith("fail_event (") and "middleware.py" in msg and "ValueError: boom at /p" in msg
        assert "worker.py" not in msg and "decorators.py" not in msg  # the user's frames only
        with pytest.raises(PythonHandlerError, match="SystemExit: 3"):
            await exit_.run(event("A"))
        await rec.run(event("A"))  # its own process: untouched by the others
    finally:
        for h in (fail, exit_, rec):
            await h.close()
    assert STATS.failures - before == 2
    assert len(recorded(d)) == 1


async def test_a_hung_handler_is_killed_at_its_limit_and_the_next_call_gets_a_fresh_process(tmp_path):
    d = unpack(tmp_path)
    table, _ = setup(
        tmp_path, {"H": [cp("hang_event")]}, conf={"tykevents": {"python": {"call_time_limit": 0.5}}}
    )
    (h,) = table.lookup("py", "H")
    timeouts, restarts = STATS.timeouts, STATS.restarts
    try:
        await h.run(event("H"))
        t0 = time.monotonic()
        with pytest.raises(PythonHandlerError, match=r"timed out after 0\.5s"):
            await h.run(event("H", {"hang": True}))
        assert time.monotonic() - t0 < 3
        await h.run(event("H"))
    finally:
        await h.close()
    assert (STATS.timeouts - timeouts, STATS.restarts - restarts) == (1, 1)
    before, after = recorded(d)
    assert before["pid"] != after["pid"]


async def test_each_generation_imports_the_code_afresh(tmp_path):
    d = unpack(tmp_path)
    table, _ = setup(tmp_path, {"A": [cp("record_event")]})
    (h1,) = table.lookup("py", "A")
    await h1.run(event("A"))
    (d / "middleware.py").write_text((d / "middleware.py").read_text().replace("VERSION = 1", "VERSION = 2"))
    table2, _ = setup(tmp_path, {"A": [cp("record_event")]})
    (h2,) = table2.lookup("py", "A")
    await h2.run(event("A"))
    await h1.run(event("A"))  # the old generation, until it is retired, runs the old code
    await h1.close()
    await h2.close()
    assert [(r["version"], r["calls"]) for r in recorded(d)] == [(1, 1), (2, 1), (1, 2)]
    with pytest.raises(PythonHandlerError, match="closed"):
        await h1.run(event("A"))


def test_what_a_cp_dynamic_handler_is_depends_on_the_driver(tmp_path):
    unpack(tmp_path)
    table, problems = setup(
        tmp_path,
        {
            "A": [
                cp("record_event"),
                cp("no_such"),
                cp("not_an_event"),
                {"handler_name": "cp_dynamic_handler"},
            ]
        },
    )
    assert len(table.lookup("py", "A")) == 1
    msgs = [(p.level, p.message) for p in problems]
    assert msgs[0][0] == logging.ERROR and "has no @Event function 'no_such'" in msgs[0][1]
    assert "found: exit_event, fail_event, hang_event, log_event, record_event" in msgs[0][1]
    assert "has no @Event function 'not_an_event'" in msgs[1][1]
    assert msgs[2] == (
        logging.ERROR,
        "Failed to init event handler: handler_meta.name: the name of a handler function is required",
    )


def test_grpc_forwarders_are_skipped_with_info_and_other_drivers_warned(tmp_path):
    _, problems = setup(
        tmp_path,
        {"A": [cp("tykevents")]},
        custom_middleware={"driver": "grpc"},
        custom_middleware_bundle="",
    )
    assert [(p.level, "forwarder" in p.message) for p in problems] == [(logging.INFO, True)]
    _, problems = setup(
        tmp_path, {"A": [cp("fn")]}, custom_middleware={"driver": "otto"}, custom_middleware_bundle=""
    )
    assert [p.level for p in problems] == [logging.WARNING]
    assert "cp_dynamic_handler" in problems[0].message and "not supported" in problems[0].message


def test_a_python_api_without_its_bundle_or_with_a_broken_one_is_reported(tmp_path):
    _, problems = setup(tmp_path, {"A": [cp("record_event")]})
    assert problems[0].level == logging.ERROR and "is not unpacked in" in problems[0].message
    d = unpack(tmp_path)
    (d / "middleware.py").write_text("from tyk.decorators import *\n\n@Event\ndef broken(event, spec)\n")
    _, problems = setup(tmp_path, {"A": [cp("broken")]})
    assert "SyntaxError" in problems[0].message and "middleware.py" in problems[0].message
    assert "worker.py" not in problems[0].message


async def test_an_unpacked_copy_named_after_the_bundle_and_a_one_file_bundle(tmp_path):
    d = unpack(tmp_path, dirname="events")  # events.zip without its extension
    (d / "middleware.py").rename(d / "handlers.py")
    (d / "manifest.json").write_text(
        json.dumps({"file_list": ["handlers.py"], "custom_middleware": {"driver": "python"}})
    )
    table, problems = setup(tmp_path, {"A": [cp("fail_event")]}, custom_middleware={"driver": ""})
    assert problems == []  # the manifest's driver is the API's, as in Tyk
    (h,) = table.lookup("py", "A")
    with pytest.raises(PythonHandlerError, match="handlers.py"):
        await h.run(event("A"))
    await h.close()


def test_the_tyk_package_is_not_importable_in_the_daemon():
    with pytest.raises(ModuleNotFoundError):
        __import__("tyk")
    with pytest.raises(ModuleNotFoundError):
        __import__("gateway")


def test_counters_are_exposed_as_one_metric_family():
    (fam,) = collect()
    assert fam.name == "tykevents_python"
    assert {s.labels["what"] for s in fam.samples} == {
        "calls",
        "failures",
        "timeouts",
        "restarts",
        "load_errors",
    }
