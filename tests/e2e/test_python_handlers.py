"""Python event handlers in the running daemon: a Tyk-style bundle's `@Event` functions run for
`cp_dynamic_handler` entries, a hung one is cut at its limit while other events flow, a raising
one is counted, and SIGHUP reloads the code."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, DaemonProcess, event, log_handler

pytestmark = pytest.mark.e2e

BUNDLE = ROOT / "tests" / "data" / "gateway" / "bundle"
BUNDLE_DIR = Path("middleware") / "bundles" / hashlib.md5(b"events.zip").hexdigest()  # as Tyk unpacks it


def cp(name: str) -> dict:
    return {"handler_name": "cp_dynamic_handler", "handler_meta": {"name": name}}


APPS = {
    "py.json": {
        "api_id": "py",
        "org_id": "org1",
        "name": "Python handlers",
        "custom_middleware": {"driver": "python"},
        "custom_middleware_bundle": "events.zip",
        "event_handlers": {
            "events": {
                "AuthFailure": [cp("record_event")],
                "KeyExpired": [cp("log_event")],
                "Hang": [cp("hang_event")],
                "Boom": [cp("fail_event")],
                "QuotaExceeded": [log_handler("flowing")],
            }
        },
    }
}


@pytest.fixture
def daemon(run_daemon) -> DaemonProcess:
    files = {str(BUNDLE_DIR / p.name): p.read_text() for p in BUNDLE.iterdir() if p.is_file()}
    return run_daemon(apps=APPS, files=files, conf={"tykevents": {"python": {"call_time_limit": 1}}})


def recorded(d: DaemonProcess, n: int, timeout: float = 10) -> list[dict]:
    out = d.tmp / BUNDLE_DIR / "events.jsonl"

    def lines() -> list[str]:
        return out.read_text().splitlines() if out.exists() else []

    d.wait_until(lambda: len(lines()) >= n, timeout, f"{n} recorded event(s)")
    return [json.loads(ln) for ln in lines()]


def failed(d: DaemonProcess) -> float:
    return d.metric("tykevents_handler_failed_total", kind="js")


def test_an_event_runs_the_event_function_of_the_apis_bundle(daemon):
    d = daemon
    d.send_tcp([event("AuthFailure", "py", {"Path": "/orders", "Key": "k1"})])
    (rec,) = recorded(d, 1)
    assert rec["message"]["Type"] == "AuthFailure" and rec["message"]["Meta"] == {
        "Path": "/orders",
        "Key": "k1",
    }
    assert rec["handler_name"] == "record_event" and rec["spec"] == {"APIID": "py", "OrgID": "org1"}
    d.send_udp([event("KeyExpired", "py")])
    d.wait_log(r"python saw KeyExpired on py")
    d.wait_log(r"printed by log_event")
    assert d.health()["status"] == "running"


def test_a_hung_handler_is_cut_at_its_limit_and_counted_while_other_events_flow(daemon):
    d = daemon
    d.send_tcp([event("AuthFailure", "py", {"Path": "/warm"})])  # its process is up
    recorded(d, 1)
    d.send_tcp([event("Hang", "py", {"hang": True})])
    t0 = time.monotonic()
    d.send_tcp([event("QuotaExceeded", "py"), event("AuthFailure", "py", {"Path": "/during"})])
    d.wait_log(r"flowing:QuotaExceeded")
    assert recorded(d, 2)[1]["message"]["Meta"]["Path"] == "/during"
    assert time.monotonic() - t0 < 0.9  # neither waited for the hung call (limit: 1 s)
    d.wait_log(r"hang_event .*timed out after 1s")
    assert failed(d) == 1
    d.send_tcp([event("Hang", "py", {"hang": False})])  # the next call gets a fresh process
    assert recorded(d, 3)[2]["handler_name"] == "hang_event"
    assert d.health()["status"] == "running"


def test_a_raising_handler_is_counted_and_logged_with_its_traceback(daemon):
    d = daemon
    d.send_tcp([event("Boom", "py", {"Path": "/p1"}), event("Boom", "py", {"Path": "/p2"})])
    d.wait_until(lambda: failed(d) == 2, 10, "two failed calls")
    d.wait_log(r"ValueError: boom at /p1")
    assert "middleware.py" in d.log()
    d.send_tcp([event("AuthFailure", "py")])
    recorded(d, 1)


def test_sighup_reloads_the_code(daemon):
    d = daemon
    d.send_tcp([event("AuthFailure", "py")])
    assert recorded(d, 1)[0]["version"] == 1
    mw = d.tmp / BUNDLE_DIR / "middleware.py"
    mw.write_text(mw.read_text().replace("VERSION = 1", "VERSION = 2"))
    d.reload(expect_generation=2)
    d.send_tcp([event("AuthFailure", "py")])
    second = recorded(d, 2)[1]
    assert (second["version"], second["calls"]) == (2, 1)  # imported afresh: new module state
