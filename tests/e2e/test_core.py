"""The daemon core end to end: every transport, routing, log handler, bad input, reload,
drain and systemd notification, against the real daemon in a subprocess."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event, log_handler

pytestmark = pytest.mark.e2e

KEY_META = {"Message": "Auth Failure", "Path": "/", "Origin": "127.0.0.1", "Key": "abcdefgh1234"}


@pytest.fixture
def daemon(run_daemon):
    return run_daemon


def basic_apps() -> dict:
    return {
        "a1.json": classic_api(
            "a1",
            {
                "AuthFailure": [log_handler("testprefix")],
                "BreakerTriggered": [log_handler("myBreakerEvent")],
                "MyCustomEvent": [log_handler("custom")],
            },
        ),
        "a2-oas.json": {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "x-tyk-api-gateway": {
                "info": {"id": "a2", "orgId": "org1", "name": "oas"},
                "server": {
                    "eventHandlers": [
                        {
                            "enabled": True,
                            "type": "log",
                            "trigger": "RatelimitExceeded",
                            "logPrefix": "oasprefix",
                        },
                        {"type": "log", "trigger": "RatelimitExceeded", "logPrefix": "never-enabled"},
                    ]
                },
            },
        },
    }


def test_every_transport_delivers_to_the_log_handler(daemon):
    d = daemon(apps=basic_apps())
    d.send_udp([event("AuthFailure", "a1", {**KEY_META, "Path": "/udp"})])
    d.send_unix_dgram([event("AuthFailure", "a1", {**KEY_META, "Path": "/unix-dgram"})])
    d.send_tcp([event("AuthFailure", "a1", {**KEY_META, "Path": "/tcp"})])
    d.send_unix_stream([event("AuthFailure", "a1", {**KEY_META, "Path": "/unix-stream"})])
    status, body = d.post_http(json.dumps(event("AuthFailure", "a1", {**KEY_META, "Path": "/http"})).encode())
    assert status == 202 and body == {"records": 1, "rejected": 0}
    for path in ("/udp", "/unix-dgram", "/tcp", "/unix-stream", "/http"):
        d.wait_log(rf"testprefix:AuthFailure:\*\*\*\*1234:127\.0\.0\.1:{path}\b")
    assert "abcdefgh1234" not in d.log()  # keys are obfuscated unless enable_key_logging


def test_log_lines_tyk_cases(daemon):
    d = daemon(apps=basic_apps())
    d.send_udp(
        [
            event(
                "BreakerTriggered",
                "a1",
                {"Message": "Breaker Reset", "Path": "/my-path", "APIID": "123abc", "CircuitEvent": 1},
            ),
            event("RatelimitExceeded", "a2", {"Path": "/r", "Origin": "10.0.0.1", "Key": "k"}),
            event("MyCustomEvent", "a1", {"Message": "hello"}),
        ]
    )
    d.wait_log(r"myBreakerEvent:BreakerTriggered:123abc:/my-path: \[STATUS\] 1")
    d.wait_log(r"oasprefix:RatelimitExceeded:--:10\.0\.0\.1:/r")  # short keys print as --
    d.wait_log(r"custom:MyCustomEvent\b")  # custom events are valid events
    assert "never-enabled:RatelimitExceeded" not in d.log()  # OAS `enabled` missing: disabled
    assert "skipping disabled log event handler with prefix never-enabled" in d.log()


def test_tyk_exact_log_detail_and_key_logging(daemon):
    d = daemon(apps=basic_apps(), conf={"enable_key_logging": True, "tykevents": {"log_detail": "tyk"}})
    d.send_udp([event("AuthFailure", "a1", KEY_META)])
    line = d.wait_log(r"testprefix:AuthFailure")[0]
    assert "message=testprefix:AuthFailure " in line + " "  # exactly prefix:Type, as Tyk >= 5.8


def test_raw_key_shown_only_with_enable_key_logging(daemon):
    d = daemon(apps=basic_apps(), conf={"enable_key_logging": True})
    d.send_udp([event("AuthFailure", "a1", KEY_META)])
    d.wait_log(r"testprefix:AuthFailure:abcdefgh1234:127\.0\.0\.1:/")


def test_global_handlers_get_system_events_and_coprocess_envelope(daemon):
    conf = {
        "event_handlers": {
            "events": {"TokenCreated": [log_handler("system")], "CoprocessThing": [log_handler("cp")]}
        }
    }
    d = daemon(apps=basic_apps(), conf=conf)
    d.send_udp([event("TokenCreated", "", {"Message": "Key generated.", "Org": "o", "Key": "k"})])
    d.send_udp(
        [
            {
                "message": {"Type": "CoprocessThing", "Meta": {"Message": "payload"}, "TimeStamp": "t"},
                "spec": {"APIID": "", "OrgID": "o"},
            }
        ]
    )
    d.send_udp(
        [
            {
                "message": {"Type": "AuthFailure", "Meta": KEY_META, "TimeStamp": "t"},
                "spec": {"APIID": "a1", "OrgID": "org1"},
            }
        ]
    )
    d.wait_log(r"system:TokenCreated")
    d.wait_log(r"cp:CoprocessThing")
    d.wait_log(r"testprefix:AuthFailure")


def test_batches_in_one_datagram_and_one_http_body(daemon):
    d = daemon(apps=basic_apps())
    batch = b"\n".join(
        json.dumps(event("AuthFailure", "a1", {**KEY_META, "Path": f"/b{i}"})).encode() for i in range(8)
    )
    d.send_udp([batch])
    d.wait_log(r"testprefix:AuthFailure:.*:/b\d", count=8)
    arr = json.dumps(
        [event("AuthFailure", "a1", {**KEY_META, "Path": f"/arr{i}"}) for i in range(3)]
    ).encode()
    status, body = d.post_http(arr)
    assert status == 202 and body["records"] == 3
    d.wait_log(r"/arr\d", count=3)


def test_bad_input_is_counted_and_never_stops_the_daemon(daemon):
    d = daemon(apps=basic_apps(), conf={"tykevents": {"max_record_bytes": 4096}})
    good = json.dumps(event("AuthFailure", "a1", {**KEY_META, "Path": "/still-alive"})).encode()
    d.send_udp([b"\x00\xff garbage \x80", b'{"Type": "AuthFailure", "APIID": "a1", "Meta": {"Pa'])
    d.send_udp([{"Type": 12, "APIID": "a1"}])  # wrong type for Type
    d.send_udp([{"APIID": "a1", "Meta": {}}])  # no Type
    d.send_udp([{"Kind": "nonsense"}])
    d.send_udp([event("AuthFailure", "no-such-api", KEY_META)])
    d.send_udp([event("AuthFailure", "a1", {**KEY_META, "Path": 5})])  # wrong type in Meta
    d.send_udp([b"{" + b" " * 60000 + b"}"])  # over max_record_bytes
    d.send_unix_dgram([b"{" + b" " * 70000 + b"}"])  # over the 64 KiB datagram limit
    big = b'{"Type":"AuthFailure","APIID":"a1","Meta":{"Message":"' + b"x" * (10 << 20) + b'"}}'
    d.send_tcp([], raw=big + b"\n" + good + b"\n")  # a 10 MB record on the lossless stream
    status, _ = d.post_http(big)  # and over HTTP (above max_record_bytes, below the body cap)
    assert status == 202
    d.send_udp([good])
    d.wait_log(r"/still-alive", count=2)
    d.wait_until(lambda: d.metric("tykevents_rejected_total", reason="meta_type") >= 1, 5, "meta_type count")
    m = {
        r: d.metric("tykevents_rejected_total", reason=r)
        for r in (
            "malformed_json",
            "invalid_record",
            "missing_type",
            "unknown_kind",
            "oversized",
            "meta_type",
        )
    }
    assert m["malformed_json"] >= 2
    assert m["invalid_record"] >= 1
    assert m["missing_type"] == 1
    assert m["unknown_kind"] == 1
    assert m["oversized"] >= 4
    assert m["meta_type"] == 1
    assert d.metric("tykevents_unrouted_total", reason="unknown_api") == 1
    # a bad Meta still leaves a trace of the event itself
    d.wait_log(r"message=testprefix:AuthFailure( |$)")
    assert d.health()["status"] == "running"


def test_flood_drops_on_datagrams_but_loses_nothing_on_the_stream(daemon):
    conf = {"tykevents": {"lanes": {"log_queue": 4, "log_workers": 1}, "logging": {"file": "flood.log"}}}
    d = daemon(apps=basic_apps(), conf=conf)
    n = 3000
    batch = [event("AuthFailure", "a1", {**KEY_META, "Path": f"/s{i}"}) for i in range(n)]
    d.send_tcp(batch)  # returns once the daemon consumed the whole stream
    d.wait_until(lambda: d.stats()["handled"].get("log", 0) >= n, 30, "every stream event handled")
    assert d.stats()["dropped"].get("log", 0) == 0
    # datagrams faster than the lane: some calls are dropped, each one counted
    chunk = [b"\n".join(json.dumps(e).encode() for e in batch[i : i + 30]) for i in range(0, n, 30)]
    for _ in range(3):
        d.send_udp(chunk)
    last: list[int] = []

    def settled() -> bool:
        s = d.stats()
        last.append(s["routed"])
        return (
            len(last) > 5
            and len(set(last[-5:])) == 1
            and s["handled"]["log"] + s["dropped"].get("log", 0) == s["routed"]
        )

    d.wait_until(settled, 30, "the flood to settle")
    s = d.stats()
    assert s["dropped"]["log"] > 0
    assert s["handled"]["log"] + s["dropped"]["log"] == s["routed"]
    assert d.health()["status"] == "running"


def test_reload_swaps_config_and_keeps_old_state_when_broken(daemon):
    d = daemon(apps=basic_apps())
    d.write_app("a3.json", classic_api("a3", {"AuthFailure": [log_handler("newapi")]}))
    d.reload(expect_generation=2)
    d.send_udp([event("AuthFailure", "a3", KEY_META)])
    d.wait_log(r"newapi:AuthFailure")
    # a broken API definition costs only itself
    d.write_app("a4.json", "{ not json")
    d.reload(expect_generation=3)
    d.wait_log(r"a4\.json: not valid JSON")
    d.send_udp([event("AuthFailure", "a3", {**KEY_META, "Path": "/after-bad-app"})])
    d.wait_log(r"newapi:AuthFailure:.*/after-bad-app")
    # a broken tyk.conf: the reload fails and the old generation keeps working
    d.conf_path.write_text("{ broken")
    d.reload(expect_generation=3)
    d.wait_log(r"reload failed, keeping generation 3")
    d.send_udp([event("AuthFailure", "a3", {**KEY_META, "Path": "/after-bad-conf"})])
    d.wait_log(r"newapi:AuthFailure:.*/after-bad-conf")
    assert d.stats_value("reload_failures") == 1


def test_the_configuration_is_frozen_out_of_full_collections(daemon):
    # A full collection walking every API's objects stalls every event (docs/operations.md).
    d = daemon(apps=basic_apps())
    start = d.metric("tykevents_gc_frozen_objects")
    assert start > 10_000, start  # modules, the generation's APIs and templates
    for i in range(40):
        d.write_app(f"more{i}.json", classic_api(f"m{i}", {"AuthFailure": [log_handler(f"m{i}")]}))
    d.reload(expect_generation=2)
    # Once the old generation is closed, the new one is frozen in its place.
    d.wait_until(lambda: d.metric("tykevents_gc_frozen_objects") > start + 400, 10, "refrozen")
    d.send_udp([event("AuthFailure", "m7", KEY_META)])
    d.wait_log(r"m7:AuthFailure")


def test_sigterm_drains_accepted_work(daemon):
    conf = {"tykevents": {"lanes": {"log_queue": 100000, "log_workers": 1}, "logging": {"file": "drain.log"}}}
    d = daemon(apps=basic_apps(), conf=conf)
    n = 20000
    d.send_tcp([event("AuthFailure", "a1", {**KEY_META, "Path": f"/d{i}"}) for i in range(n)])
    d.signal(signal.SIGTERM)
    assert d.proc.wait(30) == 0
    log = (d.tmp / "drain.log").read_text()
    final = log.splitlines()[-1]
    assert "stopped (drained, 0 handler calls abandoned)" in final, final
    assert log.count("testprefix:AuthFailure") == n


def test_systemd_notify_ready_reloading_stopping_watchdog(daemon, tmp_path: Path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(10)
    try:
        d = daemon(apps=basic_apps(), env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
        msgs: list[str] = []

        def until(word: str) -> None:
            while not any(word in m for m in msgs):
                msgs.append(sock.recv(4096).decode())

        until("READY=1")
        until("WATCHDOG=1")
        d.signal(signal.SIGHUP)
        until("RELOADING=1")
        n = len(msgs)
        while not any("READY=1" in m for m in msgs[n:]):
            msgs.append(sock.recv(4096).decode())
        d.signal(signal.SIGTERM)
        until("STOPPING=1")
        assert d.proc.wait(20) == 0
    finally:
        sock.close()


def test_check_reports_file_and_json_path(tmp_path: Path):
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "good.json").write_text(json.dumps(classic_api("g", {"AuthFailure": [log_handler("p")]})))
    (apps / "bad.json").write_text(
        json.dumps(
            classic_api(
                "b", {"AuthFailure": [{"handler_name": "eh_log_handler", "handler_meta": {"prefix": 7}}]}
            )
        )
    )
    (apps / "broken.json").write_text("{")
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"app_path": "apps"}))
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1, out.stdout
    assert "bad.json:$.event_handlers.events.AuthFailure[0]" in out.stdout
    assert "LogEventHandlerConf.prefix of type string" in out.stdout
    assert "broken.json: not valid JSON" in out.stdout
    (apps / "bad.json").unlink()
    (apps / "broken.json").unlink()
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout
    conf.write_text(json.dumps({"app_path": "apps", "tykevents": {"lanes": {"log_qeue": 5}}}))
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert "unknown field `log_qeue` - at `$.tykevents.lanes`" in out.stdout


def test_send_command_and_version(daemon, tmp_path: Path):
    d = daemon(apps=basic_apps())
    f = tmp_path / "events.json"
    f.write_text(json.dumps([event("AuthFailure", "a1", {**KEY_META, "Path": "/from-file"})]))
    for transport in (
        ["--udp", f"127.0.0.1:{d.udp}"],
        ["--tcp", f"127.0.0.1:{d.tcp}"],
        ["--unix", d.unix_dgram],
        ["--unix-stream", d.unix_stream],
        ["--http", f"http://127.0.0.1:{d.events_http}/events"],
    ):
        subprocess.run(
            [sys.executable, "-m", "tykevents", "send", *transport, "--file", str(f)],
            check=True,
            capture_output=True,
            cwd=ROOT,
            timeout=30,
        )
    d.wait_log(r"/from-file", count=5)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tykevents",
            "send",
            "--udp",
            f"127.0.0.1:{d.udp}",
            "--type",
            "AuthFailure",
            "--api-id",
            "a1",
            "--meta",
            json.dumps({**KEY_META, "Path": "/args"}),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=30,
    )
    d.wait_log(r"testprefix:AuthFailure:.*:/args")
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and out.stdout.startswith("tykevents ") and "hot path:" in out.stdout


def test_metrics_expose_counters(daemon):
    d = daemon(apps=basic_apps())
    d.send_udp([event("AuthFailure", "a1", KEY_META), event("KeyExpired", "a1", KEY_META)])
    d.wait_until(lambda: d.metric("tykevents_handled_total", kind="log") >= 1, 5, "handled")
    d.wait_until(lambda: d.metric("tykevents_unrouted_total", reason="no_handler") >= 1, 5, "no_handler")
    text = d.metrics()
    assert 'tykevents_datagrams_total{transport="udp"} 2.0' in text
    assert 'tykevents_queue_depth{lane="log"}' in text
    assert "abcdefgh1234" not in text
    # one family, one series: a scraper refuses a page that repeats one
    types = [ln for ln in text.splitlines() if ln.startswith("# TYPE ")]
    assert "# TYPE tykevents_webhook_pending gauge" in types
    assert len(types) == len(set(types)), [t for t in types if types.count(t) > 1]
    series = [ln.rsplit(" ", 1)[0] for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(series) == len(set(series)), [s for s in series if series.count(s) > 1]


def test_stale_socket_file_is_replaced_and_time_bound(tmp_path: Path):
    # A socket file left by a crashed run must not stop the next start.
    d = DaemonProcess(tmp_path, apps=basic_apps())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(d.unix_dgram)
    s.close()
    t0 = time.monotonic()
    d.start()
    try:
        d.send_unix_dgram([event("AuthFailure", "a1", KEY_META)])
        d.wait_log(r"testprefix:AuthFailure")
    finally:
        assert d.stop() == 0
    assert time.monotonic() - t0 < 30
