"""JS event handlers through the running daemon: Tyk-style scripts, the session store in
memory and in a real redis-server in Tyk's layout, HTTP calls, time limits and reload."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import redis

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event
from tests.support.threaded import ThreadedReceiver

pytestmark = pytest.mark.e2e

JS = ROOT / "tests" / "data" / "js"

SESSION = {
    "org_id": "org1",
    "expires": 1700000000,
    "quota_max": 100,
    "quota_remaining": 40,
    "quota_renewal_rate": 3600,
    "access_rights": {"a": {"api_id": "a", "api_name": "A", "versions": ["Default"]}},
}

SEED = """
var seedHandler = new TykJS.TykEventHandlers.NewEventHandler({});
seedHandler.NewHandler(function(event, context) {
    TykSetKeyData(event.Meta.Key, JSON.stringify(%s), "1");
    log("seeded");
});
""" % json.dumps(SESSION)


def js_handler(name: str, path: str) -> dict:
    return {"handler_name": "eh_dynamic_handler", "handler_meta": {"name": name, "path": path}}


@pytest.fixture
def daemon(run_daemon, tmp_path: Path):
    def make(**kw) -> DaemonProcess:
        (tmp_path / "event_handlers").mkdir(exist_ok=True)
        for name in ("sample_event_handler.js", "session_editor.js", "http_forwarder.js", "endless_loop.js"):
            shutil.copy(JS / name, tmp_path / "event_handlers" / name)
        kw.setdefault("conf", {}).update({"enable_jsvm": True})
        kw["conf"].setdefault("tykevents", {})["js"] = {"call_time_limit": 0.5}
        return run_daemon(**kw)

    return make


def apps() -> dict:
    return {
        "a.json": classic_api(
            "a",
            {
                "AuthFailure": [js_handler("sampleHandler", "event_handlers/sample_event_handler.js")],
                "KeyExpired": [js_handler("sessionHandler", "event_handlers/session_editor.js")],
                "TokenSeed": [js_handler("seedHandler", "event_handlers/seed.js")],
                "Forward": [js_handler("forwardHandler", "event_handlers/http_forwarder.js")],
                "Spin": [js_handler("spinHandler", "event_handlers/endless_loop.js")],
            },
        )
    }


def test_logging_handler_and_session_editor_in_memory(daemon, tmp_path: Path):
    (tmp_path / "event_handlers").mkdir(exist_ok=True)
    (tmp_path / "event_handlers" / "seed.js").write_text(SEED)
    d = daemon(apps=apps())
    d.wait_log(r"Sample JS event handler initialised")
    d.send_udp([event("AuthFailure", "a", {"Path": "/x", "Key": "k"})])
    d.wait_log(r"Running sample JSVM Handler: AuthFailure on a \(org1\) path /x")
    d.send_tcp([event("TokenSeed", "a", {"Key": "user-key-1"})])
    d.wait_log(r"seeded")
    d.send_tcp([event("KeyExpired", "a", {"Key": "user-key-1"})])
    d.wait_log(r"Expires now: 1700001000")
    d.send_tcp([event("KeyExpired", "a", {"Key": "user-key-1"})])
    d.wait_log(r"Expires now: 1700002000")
    assert "user-key-1" not in d.log()  # keys stay out of the log


def test_session_editor_on_redis_in_tyks_layout(daemon, redis_url: str, redis_server):
    r = redis.Redis.from_url(redis_url)
    r.set("apikey-user-key-2", json.dumps(SESSION))
    d = daemon(
        apps=apps(),
        conf={"storage": {"host": "127.0.0.1", "port": redis_server.port}, "tykevents": {"state": "redis"}},
    )
    d.send_tcp([event("KeyExpired", "a", {"Key": "user-key-2"})])
    d.wait_log(r"Expires now: 1700001000")
    stored = json.loads(r.get("apikey-user-key-2"))
    assert stored["expires"] == 1700001000
    assert stored["quota_remaining"] == stored["quota_max"] == 100  # no "1": quota reset, as Tyk
    r.close()


def test_http_request_and_endless_loop_is_stopped(daemon):
    rcv = ThreadedReceiver()
    try:
        d = daemon(apps=apps())
        d.send_tcp([event("Spin", "a", {})])
        t0 = time.monotonic()
        d.send_tcp([event("Forward", "a", {"Collector": rcv.url("").rstrip("/")})])
        req = rcv.wait_for(1, timeout=15)[0]
        assert req.target == "/events?api=a"
        assert json.loads(req.body)["type"] == "Forward"
        d.wait_log(r"Collector answered 200")
        d.wait_log(r"spinHandler.*(time limit|timed out|interrupted)")
        assert time.monotonic() - t0 < 10
        assert d.health()["status"] == "running"
    finally:
        rcv.close()


def test_reload_reloads_every_script(daemon, tmp_path: Path):
    d = daemon(apps=apps())
    d.send_udp([event("AuthFailure", "a", {"Path": "/before"})])
    d.wait_log(r"Running sample JSVM Handler: AuthFailure on a \(org1\) path /before")
    script = tmp_path / "event_handlers" / "sample_event_handler.js"
    script.write_text(
        script.read_text().replace(
            "NewHandler(function(event, context) {",
            "NewHandler(function(event, context) {\n    log('v2 of the script');",
        )
    )
    d.reload(expect_generation=2)
    d.send_udp([event("AuthFailure", "a", {"Path": "/after"})])
    d.wait_log(r"v2 of the script")
