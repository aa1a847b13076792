"""The admin API of the real daemon: auth, every route, redaction, reload."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.admin.helpers import HDR_SECRET, SECRET, call, conf, hook, secret_hook_api
from tests.support.daemon import classic_api, event, log_handler
from tests.support.threaded import threaded_receivers
from tykevents.admin.app import CONSOLE

pytestmark = pytest.mark.e2e

ROUTES = [
    ("GET", "/api/status"),
    ("GET", "/api/apis"),
    ("POST", "/api/reload"),
    ("GET", "/api/deliveries"),
    ("GET", "/api/deliveries/abc"),
    ("GET", "/api/deadletters"),
    ("POST", "/api/deadletters/replay"),
    ("POST", "/api/deadletters/purge"),
    ("GET", "/api/endpoints"),
    ("GET", "/api/nothing-here"),
]


@pytest.fixture
def receiver():
    yield from threaded_receivers()


def wait(cond, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_route_wants_the_secret_in_the_header(run_daemon):
    d = run_daemon(conf=conf(), apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("x")]})})
    for method, path in ROUTES:
        assert call(d, method, path, secret=None)[0] == 401, path
        assert call(d, method, path, secret=SECRET + "x")[0] == 403, path
        assert call(d, method, path, secret=SECRET[:-1])[0] == 403, path
        # a secret in the query string is ignored
        query = f"{path}?x-tyk-authorization={SECRET}&secret={SECRET}"
        assert call(d, method, query, secret=None)[0] == 401, path
        assert call(d, method, path, secret=None, headers={"Authorization": SECRET})[0] == 401, path
    status, body = call(d, "GET", "/api/status", secret=None)
    assert body == {"error": "missing x-tyk-authorization header"}
    assert call(d, "GET", "/api/status")[0] == 200
    assert call(d, "GET", "/api/nothing-here")[0] == 404
    assert call(d, "GET", "/api/reload")[0] == 405
    n = len(ROUTES)
    assert d.metric("tykevents_admin_auth_failures_total", reason="missing") == 3 * n + 1
    assert d.metric("tykevents_admin_auth_failures_total", reason="wrong") == 2 * n
    assert d.metric("tykevents_http_auth_failures_total", reason="missing") == 0  # the events listener's
    assert SECRET not in d.log()
    assert d.wait_log(r"admin API GET /api/status from 127\.0\.0\.1 refused: missing x-tyk-authorization")


def test_without_a_secret_the_admin_listener_does_not_start(run_daemon):
    d = run_daemon(apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("x")]})})
    d.wait_log(r"the admin API \(127\.0\.0\.1:\d+\) is off: tyk.conf `secret` is empty")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", d.admin), timeout=5).close()


def test_status_counts_what_the_daemon_did(run_daemon):
    d = run_daemon(conf=conf(), apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("x")]})})
    d.send_udp([event("AuthFailure", "a")] * 3)
    d.wait_log(r"x:AuthFailure", count=3)
    status, body = call(d, "GET", "/api/status")
    assert status == 200
    assert body["state"] == "running" and body["generation"] == 1 and body["uptime_s"] > 0
    c = body["counters"]
    assert c["records"] == 3 and c["routed"] == 3 and c["handled"] == {"log": 3}
    assert c["pending"] == 0 and c["dead_letters_stored"] == 0 and c["webhook_outcomes"] == {}


def test_apis_lists_handlers_and_problems_with_secrets_masked(run_daemon, receiver):
    r = receiver()
    apps = {
        "a.json": secret_hook_api("a", r.url("/hook")),
        "b.json": classic_api("b", {"AuthFailure": [{"handler_name": "eh_log_handlr", "handler_meta": {}}]}),
    }
    d = run_daemon(conf=conf(), apps=apps)
    status, body = call(d, "GET", "/api/apis")
    assert status == 200 and body["generation"] == 1
    by_id = {a["api_id"]: a for a in body["apis"]}
    a = by_id["a"]
    assert a["name"] == "API a" and a["org_id"] == "org1" and a["file"].endswith("apps/a.json")
    (h,) = a["handlers"]
    assert h["event"] == "AuthFailure" and h["kind"] == "webhook"
    assert h["target"] == f"POST http://****@127.0.0.1:{r.receiver.port}/hook?token=****&plain=****"
    assert h["headers"]["X-Api-Key"] == ["****"] and h["headers"]["X-Plain"] == ["visible"]
    assert by_id["b"]["handlers"] == []
    (p,) = [p for p in body["problems"] if "eh_log_handlr" in p["message"]]
    assert p["level"] == "warning" and p["where"].endswith("b.json:$.event_handlers.events.AuthFailure[0]")
    raw = json.dumps(body)
    assert "pa55word" not in raw and "tok-abc" not in raw and HDR_SECRET not in raw
    # reveal=1 is not enough without admin.allow_secrets
    assert "pa55word" not in json.dumps(call(d, "GET", "/api/apis?reveal=1")[1])


def test_reveal_shows_secrets_only_when_allowed(run_daemon, receiver):
    r = receiver()
    d = run_daemon(conf=conf(allow_secrets=True), apps={"a.json": secret_hook_api("a", r.url("/hook"))})
    masked = json.dumps(call(d, "GET", "/api/apis")[1])
    assert "pa55word" not in masked and HDR_SECRET not in masked
    (h,) = call(d, "GET", "/api/apis?reveal=1")[1]["apis"][0]["handlers"]
    assert "alice:pa55word@" in h["target"] and "token=tok-abc" in h["target"]
    assert h["headers"]["X-Api-Key"] == [HDR_SECRET]


def test_reload_by_post_is_sighup(run_daemon):
    d = run_daemon(conf=conf(), apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("x")]})})
    d.write_app("b.json", classic_api("b", {"AuthFailure": [log_handler("y")]}))
    assert call(d, "POST", "/api/reload") == (200, {"ok": True, "generation": 2})
    assert {a["api_id"] for a in call(d, "GET", "/api/apis")[1]["apis"]} == {"a", "b"}
    assert d.health()["generation"] == 2
    d.send_udp([event("AuthFailure", "b")])
    d.wait_log(r"y:AuthFailure")
    d.conf_path.write_text("{not json")
    status, body = call(d, "POST", "/api/reload")
    assert status == 200 and body["ok"] is False and body["generation"] == 2
    assert "not valid JSON" in body["error"]
    assert call(d, "GET", "/api/status")[1]["counters"]["reload_failures"] == 1


def test_console_needs_no_secret(run_daemon):
    d = run_daemon(conf=conf(), apps={})
    status, page = call(d, "GET", "/", secret=None)
    if CONSOLE.exists():
        assert status == 200 and page == CONSOLE.read_text()
    else:
        assert status == 404


def test_dead_letters_list_replay_and_purge(run_daemon, receiver):
    failing = {"on": True}
    r = receiver(lambda req: 500 if failing["on"] else 200)
    apps = {
        "a.json": secret_hook_api("a", r.url("/a")),
        "b.json": classic_api("b", {"AuthFailure": [hook(r.url("/b"))]}),
    }
    d = run_daemon(conf=conf(), apps=apps)
    d.send_udp([event("AuthFailure", "a"), event("AuthFailure", "b"), event("AuthFailure", "b")])
    wait(
        lambda: call(d, "GET", "/api/status")[1]["counters"]["dead_letters_stored"] == 3, 15, "3 dead letters"
    )
    status, body = call(d, "GET", "/api/deadletters")
    assert status == 200 and len(body["dead_letters"]) == 3
    (a,) = call(d, "GET", "/api/deadletters?api=a")[1]["dead_letters"]
    assert a["api_id"] == "a" and a["event"] == "AuthFailure" and a["status"] == 500 and a["attempts"] == 2
    assert a["url"] == f"http://****@127.0.0.1:{r.receiver.port}/a?token=****&plain=****"
    assert a["host"] == f"127.0.0.1:{r.receiver.port}"
    assert "pa55word" not in json.dumps(body) and "tok-abc" not in json.dumps(body)
    assert call(d, "GET", "/api/deadletters?status=500&limit=2")[1]["dead_letters"][0]["status"] == 500
    assert len(call(d, "GET", "/api/deadletters?limit=2")[1]["dead_letters"]) == 2
    assert call(d, "GET", "/api/deadletters?outcome=delivered")[1] == {"dead_letters": []}
    assert call(d, "GET", "/api/deadletters?since=2099-01-01T00:00:00Z")[1] == {"dead_letters": []}
    assert call(d, "GET", "/api/deadletters?colour=red")[0] == 400  # a misspelled filter
    assert call(d, "GET", "/api/deadletters?limit=0")[0] == 400
    assert call(d, "POST", "/api/deadletters/purge", {})[0] == 400  # nothing named: not everything
    assert call(d, "POST", "/api/deadletters/purge", {"filter": {"api": "a", "colour": 1}})[0] == 400
    # replay by filter: through the retry policy, and off the store once re-queued
    failing["on"] = False
    before = len(r.requests)
    assert call(d, "POST", "/api/deadletters/replay", {"filter": {"api": "b"}}) == (200, {"replayed": 2})
    wait(lambda: len(r.requests) == before + 2, 10, "2 replayed deliveries")
    assert {q.target for q in r.requests[before:]} == {"/b"}
    (left,) = call(d, "GET", "/api/deadletters")[1]["dead_letters"]
    assert left["api_id"] == "a"
    # purge by id
    assert call(d, "POST", "/api/deadletters/purge", {"ids": [left["id"]]}) == (200, {"purged": 1})
    assert call(d, "GET", "/api/deadletters")[1] == {"dead_letters": []}


def test_deliveries_and_their_attempts(run_daemon, receiver):
    calls = {"n": 0}

    def respond(req):
        calls["n"] += 1
        return 503 if calls["n"] == 1 else 200

    r = receiver(respond)
    d = run_daemon(conf=conf(), apps={"a.json": secret_hook_api("a", r.url("/a"))})
    d.send_udp([event("AuthFailure", "a")])
    r.wait_for(2)

    def delivered():
        items = call(d, "GET", "/api/deliveries")[1]["deliveries"]
        return items if items and items[0]["outcome"] == "delivered" else None

    wait(delivered, 10, "the delivery to be logged as delivered")
    (item,) = delivered()
    assert item["api_id"] == "a" and item["event"] == "AuthFailure" and item["attempts"] == 2
    assert item["status"] == 200 and item["host"] == f"127.0.0.1:{r.receiver.port}"
    assert "pa55word" not in json.dumps(item) and "tok-abc" not in json.dumps(item)
    assert item["url"].startswith("http://****@") and "token=****" in item["url"]
    status, one = call(d, "GET", f"/api/deliveries/{item['id']}")
    assert status == 200 and one["id"] == item["id"]
    assert [(a["n"], a["status"], a["outcome"]) for a in one["attempts"]] == [
        (1, 503, "retrying"),
        (2, 200, "delivered"),
    ]
    assert call(d, "GET", "/api/deliveries/nope")[0] == 404
    assert call(d, "GET", "/api/deliveries?outcome=dead_lettered")[1] == {"deliveries": []}
    assert call(d, "GET", "/api/deliveries?api=a&status=200")[1]["deliveries"][0]["id"] == item["id"]
    assert call(d, "GET", "/api/deliveries?outcome=nonsense")[0] == 400


def test_delivery_log_turned_off_answers_503(run_daemon):
    c = conf()
    c["tykevents"]["webhooks"]["log"] = {"enabled": False}
    d = run_daemon(conf=c, apps={})
    status, body = call(d, "GET", "/api/deliveries")
    assert status == 503 and "tykevents.webhooks.log.enabled" in body["error"]


def test_endpoints_show_each_target_host(run_daemon, receiver):
    r = receiver(lambda req: 500)
    d = run_daemon(conf=conf(), apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url("/a"))]})})
    d.send_udp([event("AuthFailure", "a")])
    r.wait_for(2)
    host = f"127.0.0.1:{r.receiver.port}"

    def seen():
        eps = call(d, "GET", "/api/endpoints")[1]["endpoints"]
        return [e for e in eps if e["host"] == host and e["attempts"] == 2]

    wait(seen, 10, "the endpoint's two attempts")
    (ep,) = seen()
    assert ep["success_rate"] == 0 and ep["breaker"] == "off" and ep["rate_limit"] is None
    assert set(ep["latency_ms"]) == {"p50", "p90", "p99"} and ep["last_error"]
