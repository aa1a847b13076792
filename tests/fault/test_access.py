"""Who may send events and which files a handler may read: the events listener apart from the
read-only metrics listener, tyk.conf's `secret` on HTTP ingest, Unix socket permissions, the
warning for unauthenticated listeners off loopback, and templates confined to their
directories."""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, classic_api, event, log_handler
from tests.support.threaded import ThreadedReceiver
from tykevents.config import load_config
from tykevents.ingest.listeners import exposed_listeners

pytestmark = pytest.mark.e2e

APPS = {"a.json": classic_api("a", {"AuthFailure": [log_handler("access")]})}
SECRET = "s3cr3t-Value-0123"


def body(path: str) -> bytes:
    return json.dumps(event("AuthFailure", "a", {"Path": path})).encode()


@pytest.fixture
def receiver():
    r = ThreadedReceiver()
    yield r
    r.close()


def test_events_posted_to_the_metrics_listener_are_refused(run_daemon):
    d = run_daemon(apps=APPS)
    metrics = f"http://127.0.0.1:{d.http}"
    assert d.post_http(body("/m"), url=f"{metrics}/events")[0] in (404, 405)
    assert d.post_http(body("/m"), url=f"{metrics}/health")[0] == 405
    assert d.post_http(body("/m"), url=f"{metrics}/metrics")[0] == 405
    assert d.health()["status"] == "running" and "tykevents_records_total" in d.metrics()
    assert d.stats()["records"] == 0 and d.stats()["datagrams"]["http"] == 0
    assert d.post_http(body("/events-listener"))[0] == 202  # the events listener takes them
    d.wait_log(r"access:AuthFailure:.*/events-listener")


def test_http_auth_wants_the_secret_in_the_header(run_daemon):
    d = run_daemon(apps=APPS, conf={"secret": SECRET, "tykevents": {"listen": {"http_auth": True}}})
    events = f"http://127.0.0.1:{d.events_http}/events"
    assert d.post_http(body("/none"))[0] == 401
    assert d.post_http(body("/wrong"), {"x-tyk-authorization": SECRET + "x"})[0] == 403
    assert d.post_http(body("/short"), {"x-tyk-authorization": SECRET[:-1]})[0] == 403
    assert d.post_http(body("/query"), url=f"{events}?x-tyk-authorization={SECRET}")[0] == 401
    assert d.post_http(body("/query2"), url=f"{events}?secret={SECRET}")[0] == 401
    assert d.post_http(body("/bearer"), {"Authorization": SECRET})[0] == 401
    status, answer = d.post_http(body("/right"), {"X-Tyk-Authorization": SECRET})
    assert (status, answer) == (202, {"records": 1, "rejected": 0})
    d.wait_log(r"access:AuthFailure:.*/right")
    assert d.metric("tykevents_http_auth_failures_total", reason="missing") == 4
    assert d.metric("tykevents_http_auth_failures_total", reason="wrong") == 2
    assert d.stats()["records"] == 1  # nothing of the refused requests was taken
    d.wait_log(r"POST /events from 127\.0\.0\.1 refused: missing x-tyk-authorization header")
    assert d.stop() == 0
    assert SECRET not in d.log() and SECRET[:-1] not in d.log()


def test_http_auth_without_a_secret_does_not_start(run_daemon, tmp_path: Path):
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"tykevents": {"listen": {"udp": [], "http_auth": True}}}))
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2
    assert "$.tykevents.listen.http_auth: tyk.conf `secret` is empty" in out.stdout


def test_unix_sockets_get_mode_and_group_and_are_removed_on_stop(run_daemon):
    group = "nogroup"
    gid = grp.getgrnam(group).gr_gid
    if os.geteuid() != 0 and gid not in os.getgroups():
        pytest.skip("chown to another group needs root or membership")
    d = run_daemon(apps=APPS, conf={"tykevents": {"listen": {"unix_mode": "0620", "unix_group": group}}})
    for path in (d.unix_dgram, d.unix_stream):
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620 and st.st_gid == gid, path
    d.send_unix_stream([event("AuthFailure", "a", {"Path": "/unix"})])
    d.wait_log(r"access:AuthFailure:.*/unix")
    assert d.stop() == 0
    assert not os.path.exists(d.unix_dgram) and not os.path.exists(d.unix_stream)


def test_unix_sockets_default_to_0660(run_daemon):
    d = run_daemon(subdir="default", apps=APPS)
    for path in (d.unix_dgram, d.unix_stream):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660, path
    assert d.stop() == 0
    assert not os.path.exists(d.unix_dgram) and not os.path.exists(d.unix_stream)


def webhook(url: str, template: str) -> dict:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "template_path": template},
    }


def test_a_template_outside_the_template_and_app_directories_is_refused(run_daemon, receiver, tmp_path):
    # The daemon runs in tmp/x/y, so that ../../etc/passwd names a file that exists.
    secret_file = tmp_path / "etc" / "passwd"
    secret_file.parent.mkdir()
    secret_file.write_text("root:x:0:0:SECRET-MARKER\n")
    (tmp_path / "x" / "y").mkdir(parents=True)
    apps = {
        "evil.json": classic_api(
            "evil",
            {
                "AuthFailure": [webhook(receiver.url("/rel"), "../../etc/passwd"), log_handler("evil-log")],
                "KeyExpired": [webhook(receiver.url("/abs"), str(secret_file))],
            },
        ),
        "good.json": classic_api("good", {"AuthFailure": [webhook(receiver.url("/good"), "apps/ok.tmpl")]}),
    }
    d = run_daemon(subdir="x/y", apps=apps, files={"apps/ok.tmpl": '{"ok": "{{.Type}}"}'})
    log = d.wait_log(r"Failed to init event handler: template_path", count=2)
    where = "evil.json:$.event_handlers.events."
    assert any(f"{where}AuthFailure[0]" in ln and "'../../etc/passwd'" in ln for ln in log)
    assert any(f"{where}KeyExpired[0]" in ln and str(secret_file) in ln for ln in log)
    d.send_udp([event("AuthFailure", "evil"), event("KeyExpired", "evil"), event("AuthFailure", "good")])
    d.wait_log(r"evil-log:AuthFailure")  # the rest of that API works
    [req] = receiver.wait_for(1)
    assert req.target == "/good" and req.body == b'{"ok": "AuthFailure"}'
    d.send_udp([event("AuthFailure", "good", {"Path": "/second"})])
    receiver.wait_for(2)
    assert [r.target for r in receiver.requests] == ["/good", "/good"]  # never /rel nor /abs
    assert all(b"SECRET-MARKER" not in r.body for r in receiver.requests)
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(d.conf_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 1
    assert f"{where}AuthFailure[0]: Failed to init event handler: template_path" in out.stdout


def test_allowed_paths_adds_a_root(run_daemon, receiver, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "t.tmpl").write_text("shared {{.Type}}")
    hook = webhook(receiver.url("/s"), str(shared / "t.tmpl"))
    apps = {"a.json": classic_api("a", {"AuthFailure": [hook]})}
    d = run_daemon(subdir="d", apps=apps, conf={"tykevents": {"allowed_paths": [str(shared)]}})
    d.send_udp([event("AuthFailure", "a")])
    assert receiver.wait_for(1)[0].body == b"shared AuthFailure"


def run_check(tmp_path: Path, conf: dict, *args: str) -> subprocess.CompletedProcess[str]:
    p = tmp_path / "tyk.conf"
    p.write_text(json.dumps(conf))
    (tmp_path / "apps").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(p), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_check_warns_for_unauthenticated_listeners_off_loopback(tmp_path: Path):
    listen = {"udp": ["0.0.0.0:9900"], "tcp": ["127.0.0.1:9901"], "http": ["0.0.0.0:9903", "[::1]:9904"]}
    out = run_check(tmp_path, {"tykevents": {"listen": listen}})
    assert out.returncode == 0, out.stdout
    lines = [ln for ln in out.stdout.splitlines() if "unauthenticated" in ln]
    assert len(lines) == 2, out.stdout
    conf = tmp_path / "tyk.conf"
    assert lines[0].startswith(f"warning: {conf}:$.tykevents.listen.udp[0]: unauthenticated udp")
    assert "$.tykevents.listen.http[0]: unauthenticated http ingest on 0.0.0.0:9903" in lines[1]
    assert "http_auth" in lines[1]
    assert run_check(tmp_path, {"tykevents": {"listen": listen}}, "--strict").returncode == 1
    # with http_auth, only the UDP listener is left to warn about
    out = run_check(tmp_path, {"secret": SECRET, "tykevents": {"listen": {**listen, "http_auth": True}}})
    assert [ln for ln in out.stdout.splitlines() if "unauthenticated" in ln] == lines[:1]
    assert SECRET not in out.stdout


def test_check_warns_for_grpc_off_loopback_without_client_certificates(tmp_path: Path):
    sock = tmp_path / "g.sock"
    grpc = ["0.0.0.0:5555", "127.0.0.1:5556", f"unix:{sock}", "gw.internal:5557"]
    out = run_check(tmp_path, {"tykevents": {"listen": {"udp": [], "grpc": grpc}}})
    assert out.returncode == 0, out.stdout
    lines = [ln for ln in out.stdout.splitlines() if "unauthenticated" in ln]
    assert [ln.split(": unauthenticated")[0].rsplit(":", 1)[1] for ln in lines] == [
        "$.tykevents.listen.grpc[0]",
        "$.tykevents.listen.grpc[3]",
    ], out.stdout
    assert "grpc_client_ca_file" in lines[0] and "0.0.0.0:5555" in lines[0]
    # with mutual TLS the gateways must show a certificate: nothing left to warn about
    p = tmp_path / "tls.conf"
    tls = {"grpc_cert_file": "c.pem", "grpc_key_file": "k.pem", "grpc_client_ca_file": "ca.pem"}
    p.write_text(json.dumps({"tykevents": {"listen": {"udp": [], "grpc": grpc, **tls}}}))
    assert exposed_listeners(load_config(p)) == []
