"""Webhooks through the running daemon: what a receiver sees, cooldowns, retries, drain and
dead letters."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event
from tests.support.threaded import threaded_receivers
from tests.webhook.receiver import Action

pytestmark = pytest.mark.e2e

QUOTA_META = {
    "Message": "Key \"Quota\" <Limit> & 'x' +1",
    "Path": "/api/v1/x?a=1&b=2",
    "Origin": "10.0.0.1",
    "Key": "abc+def/=",
}
QUOTA_BODY = (
    b'\n{\n    "event": "QuotaExceeded",\n    "message": "Key &#34;Quota&#34; &lt;Limit&gt; &amp; '
    b'&#39;x&#39; &#43;1",\n    "path": "/api/v1/x?a=1&amp;b=2",\n    "origin": "10.0.0.1",\n'
    b'    "key": "abc&#43;def/="\n}\n\n\n'
)
FAST = {"timeout": 2.0, "backoff_base": 0.05, "backoff_max": 0.2, "max_attempts": 3}


def hook(url: str, **meta) -> dict:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 10, **meta},
    }


@pytest.fixture
def receivers():
    yield from threaded_receivers()


@pytest.fixture
def daemon(run_daemon):
    def make(**kw) -> DaemonProcess:
        kw.setdefault("conf", {})
        kw["conf"].setdefault("tykevents", {}).setdefault("webhooks", {}).update(FAST)
        return run_daemon(**kw)

    return make


def test_receiver_sees_tyks_request(daemon, receivers):
    r = receivers()
    d = daemon(
        apps={
            "a.json": classic_api(
                "a", {"QuotaExceeded": [hook(r.url("/quota?x=1"), header_map={"x-tyk-test": "TEST"})]}
            )
        }
    )
    d.send_udp([event("QuotaExceeded", "a", QUOTA_META)])
    req = r.wait_for(1)[0]
    assert req.request_line == "POST /quota?x=1 HTTP/1.1"
    assert req.body == QUOTA_BODY
    names = [n for n, _ in req.header_lines]
    assert names[:3] == ["Host", "User-Agent", "Content-Length"]  # Go wire order: docs/webhooks.md
    assert req.header("User-Agent") == "Tyk-Hookshot"
    assert req.header("X-Tyk-Test") == "TEST"  # canonicalised header_map name
    assert req.header("Content-Type") == "application/json"
    assert req.header("Content-Length") == str(len(QUOTA_BODY))


def test_cooldown_suppresses_repeats_and_zero_means_none(daemon, receivers):
    r = receivers()
    d = daemon(
        apps={
            "a.json": classic_api(
                "a",
                {
                    "QuotaExceeded": [hook(r.url("/cool"))],
                    "AuthFailure": [hook(r.url("/nocool"), event_timeout=0)],
                },
            )
        }
    )
    for _ in range(3):
        d.send_udp([event("QuotaExceeded", "a", QUOTA_META), event("AuthFailure", "a", QUOTA_META)])
        time.sleep(0.2)
    r.wait_for(4)
    time.sleep(0.5)
    paths = [q.target for q in r.requests]
    assert paths.count("/cool") == 1  # identical body within event_timeout: suppressed
    assert paths.count("/nocool") == 3  # event_timeout 0: no cooldown (Tyk: suppressed forever)


def test_oas_webhook_and_global_token_webhook(daemon, receivers):
    r = receivers()
    oas = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": "o1", "orgId": "org1", "name": "oas"},
            "server": {
                "eventHandlers": [
                    {
                        "enabled": True,
                        "type": "webhook",
                        "trigger": "BreakerTripped",
                        "url": r.url("/breaker"),
                        "method": "PUT",
                        "cooldownPeriod": "1m",
                        "headers": [{"name": "X-Source", "value": "oas"}],
                    }
                ]
            },
        },
    }
    conf = {"event_handlers": {"events": {"TokenCreated": [hook(r.url("/token"))]}}}
    d = daemon(apps={"o.json": oas}, conf=conf)
    d.send_udp(
        [
            event(
                "BreakerTripped",
                "o1",
                {"Message": "Breaker Tripped", "Path": "test", "APIID": "o1", "CircuitEvent": 0},
            )
        ]
    )
    d.send_udp([event("TokenCreated", "", {"Message": "Key generated.", "Org": "org1", "Key": "k1"})])
    reqs = {q.target: q for q in r.wait_for(2)}
    b = reqs["/breaker"]
    assert b.method == "PUT" and b.header("X-Source") == "oas"
    assert json.loads(b.body) == {
        "event": "BreakerTripped",
        "message": "Breaker Tripped",
        "api_id": "o1",
        "path": "test",
    }
    # Tyk's default template cannot render Token events; ours sends valid JSON
    assert json.loads(reqs["/token"].body) == {
        "event": "TokenCreated",
        "message": "Key generated.",
        "org": "org1",
        "key": "k1",
    }


def test_retries_then_delivers_once(daemon, receivers):
    replies = iter([500, 503])
    r = receivers(lambda req: next(replies, 200))
    d = daemon(apps={"a.json": classic_api("a", {"QuotaExceeded": [hook(r.url("/flaky"))]})})
    d.send_udp([event("QuotaExceeded", "a", QUOTA_META)])
    r.wait_for(3)
    time.sleep(0.5)
    assert len(r.requests) == 3
    assert all(q.body == QUOTA_BODY for q in r.requests)


def test_sigterm_drains_deliveries_and_dead_letters_the_rest(daemon, receivers, tmp_path: Path):
    async def slow(req):
        await asyncio.sleep(0.5)
        return 200

    ok = receivers(slow)
    stuck = receivers(lambda req: Action("hang"))
    d = daemon(
        apps={
            "a.json": classic_api(
                "a",
                {
                    "QuotaExceeded": [hook(ok.url("/slow"), event_timeout=0)],
                    "AuthFailure": [hook(stuck.url("/stuck"), event_timeout=0)],
                },
            )
        },
        conf={"tykevents": {"drain_timeout": 3, "webhooks": {"timeout": 30}}},
    )
    d.send_tcp(
        [event("QuotaExceeded", "a", {**QUOTA_META, "Path": f"/p{i}"}) for i in range(5)]
        + [event("AuthFailure", "a", QUOTA_META)]
    )
    stuck.wait_for(1)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(20) == 0
    assert time.monotonic() - t0 < 10
    assert len(ok.requests) == 5  # accepted deliveries finished during the drain
    listing = subprocess.run(
        [sys.executable, "-m", "tykevents", "deadletter", "list", "-c", str(d.conf_path), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert listing.returncode == 0, listing.stderr
    assert "/stuck" in listing.stdout and "abc+def" not in listing.stdout
    # the receiver is fixed: replay delivers the dead letter
    good = receivers()
    conf = json.loads(d.conf_path.read_text())
    dl = Path(conf["tykevents"]["webhooks"]["dead_letter_path"])
    dl.write_text(dl.read_text().replace(stuck.url("/stuck"), good.url("/stuck")))
    rep = subprocess.run(
        [sys.executable, "-m", "tykevents", "deadletter", "replay", "--all", "-c", str(d.conf_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert rep.returncode == 0, rep.stdout + rep.stderr
    replayed = good.wait_for(1)[0]
    assert replayed.body == QUOTA_BODY.replace(b"QuotaExceeded", b"AuthFailure")


def test_oas_handler_naming_a_global_webhook_by_id(daemon, receivers, tmp_path: Path):
    r = receivers()
    (tmp_path / "global-webhooks.json").write_text(
        json.dumps(
            [
                {
                    "id": "ops",
                    "name": "ops",
                    "method": "POST",
                    "target_path": r.url("/ops"),
                    "header_map": {"X-Team": "ops"},
                    "event_timeout": 0,
                }
            ]
        )
    )
    oas = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": "o1", "orgId": "org1", "name": "oas"},
            "server": {
                "eventHandlers": [{"enabled": True, "type": "webhook", "trigger": "AuthFailure", "id": "ops"}]
            },
        },
    }
    d = daemon(apps={"o.json": oas}, conf={"tykevents": {"global_webhooks": "global-webhooks.json"}})
    d.send_udp([event("AuthFailure", "o1", QUOTA_META)])
    req = r.wait_for(1)[0]
    assert req.target == "/ops" and req.header("X-Team") == "ops"
    assert req.body == QUOTA_BODY.replace(b"QuotaExceeded", b"AuthFailure")
