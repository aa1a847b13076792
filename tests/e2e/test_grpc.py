"""Tyk's coprocess gRPC bridge end to end: a client generated from coprocess.proto plays a stock
gateway (DispatchEvent with the cp_dynamic_handler envelope, Dispatch with an Object) against
the real daemon; webhooks and log handlers run, a full lane holds the call, bad payloads are
counted, and the committed generated modules match the .proto."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.unknown_fields import UnknownFieldSet

from tests.support.daemon import DaemonProcess, classic_api, log_handler
from tests.support.servers import free_port
from tykevents.config import ConfigError, load_config
from tykevents.ingest.grpc import coprocess_pb2 as pb
from tykevents.ingest.grpc import coprocess_pb2_grpc as pb_grpc
from tykevents.ingest.grpc.generate import GENERATED, PROTO, ROOT, generate
from tykevents.ingest.grpc.wire import event_payload

pytestmark = pytest.mark.e2e

KEY_META = {
    "Message": "Auth Failure",
    "OriginatingRequest": "",
    "Path": "/",
    "Origin": "10.0.0.7",
    "Key": "abcdefgh1234",
}
BUNDLE = ROOT / "tests" / "data" / "gateway" / "bundle"
JS = ROOT / "tests" / "data" / "js"
TS = "2024-03-05 14:07:09.123456789 +0000 UTC"


def envelope(type: str, api_id: str, meta: Any, handler: str = "tykevents", org: str = "org1") -> str:
    """What Tyk's cp_dynamic_handler sends (its HandleEvent's JSON, key order included)."""
    return json.dumps(
        {
            "message": {"Type": type, "Meta": meta, "TimeStamp": TS},
            "handler_name": handler,
            "spec": {"APIID": api_id, "OrgID": org},
        },
        separators=(",", ":"),
    )


def hook(url: str, **meta: Any) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 0, **meta},
    }


def start(
    run_daemon: Any, tmp_path: Path, apps: dict[str, Any], **tykevents: Any
) -> tuple[DaemonProcess, str]:
    """The daemon with a gRPC listener on TCP and on a Unix socket; returns it and the TCP target."""
    port = free_port()
    listen = {"grpc": [f"127.0.0.1:{port}", f"unix:{tmp_path / 'grpc.sock'}"]}
    conf = {"tykevents": {"listen": listen, **tykevents}}
    return run_daemon(conf=conf, apps=apps), f"127.0.0.1:{port}"


@asynccontextmanager
async def gateway(target: str, creds: grpc.ChannelCredentials | None = None) -> AsyncIterator[Any]:
    """The generated client, as Tyk's gateway holds it: one channel, both methods."""
    if creds is None:
        channel = grpc.aio.insecure_channel(target)
    else:
        channel = grpc.aio.secure_channel(
            target, creds, options=[("grpc.ssl_target_name_override", "localhost")]
        )
    async with channel:
        yield pb_grpc.DispatcherStub(channel)


async def raw_call(target: str, method: str, body: bytes) -> bytes:
    """A call with hand-made bytes (what the generated classes cannot write)."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(f"/coprocess.Dispatcher/{method}")
        return await call(body, timeout=10)


async def test_dispatch_event_runs_webhook_and_log_handlers(run_daemon, tmp_path: Path, receiver) -> None:
    apps = {"a1.json": classic_api("a1", {"AuthFailure": [hook(receiver.url("/hook")), log_handler("cp")]})}
    d, target = start(run_daemon, tmp_path, apps)
    async with gateway(target) as stub:
        reply = await stub.DispatchEvent(
            pb.Event(payload=envelope("AuthFailure", "a1", {**KEY_META, "Path": "/tcp"}))
        )
    assert reply == pb.EventReply()
    async with gateway(f"unix:{tmp_path / 'grpc.sock'}") as stub:
        await stub.DispatchEvent(
            pb.Event(payload=envelope("AuthFailure", "a1", {**KEY_META, "Path": "/unix"}))
        )
    requests = await receiver.wait_for(2)
    bodies = sorted(r.body for r in requests)
    assert all(b'"event": "AuthFailure"' in b and b'"origin": "10.0.0.7"' in b for b in bodies)
    assert [b'"path": "/tcp"' in bodies[0], b'"path": "/unix"' in bodies[1]] == [True, True]
    for path in ("/tcp", "/unix"):
        await asyncio.to_thread(d.wait_log, rf"cp:AuthFailure:\*\*\*\*1234:10\.0\.0\.7:{path}\b")
    assert d.metric("tykevents_datagrams_total", transport="grpc") == 2
    assert d.metric("tykevents_routed_total") == 2
    assert "abcdefgh1234" not in d.log()


async def test_malformed_payloads_are_counted_and_answered(run_daemon, tmp_path: Path) -> None:
    d, target = start(
        run_daemon, tmp_path, {"a1.json": classic_api("a1", {"AuthFailure": [log_handler("cp")]})}
    )
    async with gateway(target) as stub:
        for payload in (
            '{"message": {"Type": "AuthFailure"',  # cut short
            '{"message": {"Meta": {}}, "spec": {"APIID": "a1"}}',  # no Type
            '{"message": {"Type": 5}, "spec": {"APIID": "a1"}}',  # Type of the wrong JSON type
            "",
            envelope("AuthFailure", "no-such-api", KEY_META),
        ):
            assert await stub.DispatchEvent(pb.Event(payload=payload)) == pb.EventReply()
        # bytes that are not UTF-8: protobuf's writers refuse them, so they go by hand
        bad = b'{"message": {"Type": "Auth\xffFailure"}, "spec": {"APIID": "a1"}}'
        assert await raw_call(target, "DispatchEvent", bytes([0x0A, len(bad)]) + bad) == b""
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raw_call(target, "DispatchEvent", b"\x0a\x7f{}")  # a length past the end
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        await stub.DispatchEvent(
            pb.Event(payload=envelope("AuthFailure", "a1", {**KEY_META, "Path": "/alive"}))
        )
    d.wait_log(r"cp:AuthFailure:.*:/alive\b")
    counts = {
        r: d.metric("tykevents_rejected_total", reason=r)
        for r in ("malformed_json", "missing_type", "invalid_record", "invalid_utf8")
    }
    assert counts == {"malformed_json": 1, "missing_type": 1, "invalid_record": 2, "invalid_utf8": 1}
    assert d.metric("tykevents_unrouted_total", reason="unknown_api") == 1
    assert d.health()["status"] == "running"


def tyk_object() -> bytes:
    """An Object as Tyk's Go client writes it: fields in number order, so the request (3) and
    session (4), which our .proto leaves undeclared, sit between declared fields."""
    known = pb.Object(hook_type=pb.HOOK_TYPE_PRE, hook_name="MyPreHook", metadata={"m": "1"})
    request = b"\x0a\x03GET" + b"\x12\x04/foo" + b"\x1a\x0e\x0a\x0cx-forwarded"  # headers, url, ...
    session = b"\x08\x64" + b"\x22\x05org-1"
    tail = pb.Object(spec={"APIID": "a1", "OrgID": "org1", "config_data": "{}"}).SerializeToString()
    head = pb.Object(hook_type=known.hook_type, hook_name=known.hook_name).SerializeToString()
    unknown = bytes([3 << 3 | 2, len(request)]) + request + bytes([4 << 3 | 2, len(session)]) + session
    metadata = pb.Object(metadata=known.metadata).SerializeToString()
    response = b"\x08\xc8\x01" + b"\x1a\x02ok"
    return head + unknown + metadata + tail + bytes([7 << 3 | 2, len(response)]) + response


async def test_dispatch_returns_the_object_unchanged(run_daemon, tmp_path: Path) -> None:
    d, target = start(run_daemon, tmp_path, {})
    sent = tyk_object()
    assert await raw_call(target, "Dispatch", sent) == sent  # byte for byte, never parsed
    obj = pb.Object.FromString(sent)
    assert sorted(f.field_number for f in UnknownFieldSet(obj)) == [3, 4, 7]  # protobuf kept them
    async with gateway(target) as stub:
        back = await stub.Dispatch(obj)
    assert back == obj
    assert back.SerializeToString(deterministic=True) == obj.SerializeToString(deterministic=True)
    assert [(f.field_number, f.data) for f in UnknownFieldSet(back)] == [
        (f.field_number, f.data) for f in UnknownFieldSet(obj)
    ]
    assert back.hook_name == "MyPreHook" and back.spec["APIID"] == "a1"
    assert d.metric("tykevents_datagrams_total", transport="grpc") == 0  # not an event


async def test_a_full_lane_holds_the_call_until_there_is_room(run_daemon, tmp_path: Path, receivers) -> None:
    released = asyncio.Event()

    async def slow(req: Any) -> int:
        await released.wait()
        return 200

    r = await receivers(slow)
    apps = {"a1.json": classic_api("a1", {"AuthFailure": [hook(r.url("/slow"))]})}
    d, target = start(
        run_daemon,
        tmp_path,
        apps,
        lanes={"webhook_queue": 1, "webhook_workers": 1},
        webhooks={"pending_limit": 1, "max_per_host": 1, "max_attempts": 1},
    )
    n = 8
    async with gateway(target) as stub:
        calls = [
            asyncio.ensure_future(
                stub.DispatchEvent(
                    pb.Event(payload=envelope("AuthFailure", "a1", {**KEY_META, "Path": f"/p{i}"}))
                )
            )
            for i in range(n)
        ]
        await r.wait_for(1)
        await asyncio.sleep(1.0)
        held = [c for c in calls if not c.done()]
        assert held, "every call answered while the webhook lane was full"
        assert len(r.requests) == 1  # the target has not answered: nothing else got through
        released.set()
        await asyncio.wait_for(asyncio.gather(*calls), 30)
    await r.wait_for(n, timeout=30)
    assert sorted(q.body.split(b'"path": "')[1].split(b'"')[0] for q in r.requests) == sorted(
        f"/p{i}".encode() for i in range(n)
    )
    assert d.metric("tykevents_dropped_total", kind="webhook") == 0


async def test_sigterm_queues_the_calls_under_way_and_refuses_new_ones(
    run_daemon, tmp_path: Path, receivers
) -> None:
    released = asyncio.Event()

    async def slow(req: Any) -> int:
        await released.wait()
        return 200

    r = await receivers(slow)
    apps = {"a1.json": classic_api("a1", {"AuthFailure": [hook(r.url("/slow"))]})}
    d, target = start(
        run_daemon,
        tmp_path,
        apps,
        lanes={"webhook_queue": 1, "webhook_workers": 1},
        webhooks={"pending_limit": 1, "max_per_host": 1, "max_attempts": 1},
    )
    n = 6
    async with gateway(target) as stub:
        calls = [
            asyncio.ensure_future(
                stub.DispatchEvent(
                    pb.Event(payload=envelope("AuthFailure", "a1", {**KEY_META, "Path": f"/p{i}"}))
                )
            )
            for i in range(n)
        ]
        await r.wait_for(1)
        await asyncio.sleep(0.5)
        assert not all(c.done() for c in calls)
        d.signal(signal.SIGTERM)
        await asyncio.to_thread(d.wait_log, r"stopping: intake closed")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raw_call(target, "DispatchEvent", pb.Event(payload="{}").SerializeToString())
        # refused: by the closed port, or cancelled by the server shutting down
        assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert not (tmp_path / "grpc.sock").exists()
        released.set()
        await asyncio.wait_for(asyncio.gather(*calls), 30)  # every call under way is answered
    assert await asyncio.to_thread(d.proc.wait, 30) == 0
    assert len(r.requests) == n
    assert "stopped (drained, 0 handler calls abandoned)" in d.log()


async def test_mutual_tls(run_daemon, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    port = free_port()
    conf = {
        "tykevents": {
            "listen": {
                "grpc": [f"127.0.0.1:{port}"],
                "grpc_cert_file": str(pki["server.pem"]),
                "grpc_key_file": str(pki["server.key"]),
                "grpc_client_ca_file": str(pki["ca.pem"]),
            }
        }
    }
    d = run_daemon(conf=conf, apps={"a1.json": classic_api("a1", {"AuthFailure": [log_handler("tls")]})})
    ca, target = pki["ca.pem"].read_bytes(), f"127.0.0.1:{port}"
    client = grpc.ssl_channel_credentials(ca, pki["client.key"].read_bytes(), pki["client.pem"].read_bytes())
    async with gateway(target, client) as stub:
        await stub.DispatchEvent(pb.Event(payload=envelope("AuthFailure", "a1", KEY_META)), timeout=10)
    d.wait_log(r"tls:AuthFailure")
    async with gateway(target, grpc.ssl_channel_credentials(ca)) as stub:  # no client certificate
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.DispatchEvent(pb.Event(payload=envelope("AuthFailure", "a1", KEY_META)), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert d.metric("tykevents_datagrams_total", transport="grpc") == 1


def make_pki(where: Path) -> dict[str, Path]:
    """A CA, and a server (localhost, 127.0.0.1) and a client certificate it signed."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=where)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test CA")
    for name, ext in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(
            "req",
            "-x509",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            *key,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.pem",
            "-subj",
            f"/CN={name}",
            "-addext",
            ext,
        )
    return {p.name: p for p in where.iterdir()}


def test_config_checks_grpc_addresses_and_tls(tmp_path: Path) -> None:
    def problems(listen: dict[str, Any]) -> str:
        p = tmp_path / "tyk.conf"
        p.write_text(json.dumps({"tykevents": {"listen": listen}}))
        with pytest.raises(ConfigError) as err:
            load_config(p, env={})
        return str(err.value)

    assert "listen.grpc[1]: expected host:port" in problems({"grpc": ["127.0.0.1:1", "nowhere"]})
    assert 'listen.grpc[0]: expected "unix:PATH"' in problems({"grpc": ["unix:"]})
    assert "needs both grpc_cert_file and grpc_key_file" in problems({"grpc_cert_file": "c.pem"})
    assert "mutual TLS needs grpc_cert_file" in problems({"grpc_client_ca_file": "ca.pem"})
    p = tmp_path / "ok.conf"
    p.write_text(
        json.dumps({"tykevents": {"listen": {"grpc": [":9905", "unix:grpc.sock", "unix:///run/g.sock"]}}})
    )
    assert load_config(p, env={}).tykevents.listen.grpc == [":9905", "unix:grpc.sock", "unix:///run/g.sock"]


def test_event_payload_reads_what_protobuf_writes() -> None:
    for payload in ("", "x", "é" * 300, envelope("AuthFailure", "a1", KEY_META) * 100):
        msg = pb.Event(payload=payload).SerializeToString()
        assert event_payload(msg) == payload.encode()
        assert event_payload(msg + b"\x10\x01" + b"\x1a\x01z") == payload.encode()  # unknown fields skipped
    assert event_payload(b"\x0a\x01a\x0a\x01b") == b"b"  # the last one wins, as protobuf merges
    for bad in (
        b"\x0a\x05abc",
        b"\x0a",
        b"\x08",
        b"\x00\x01",
        b"\x0b",
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    ):
        assert event_payload(bad) is None, bad


def test_generated_modules_are_up_to_date(tmp_path: Path) -> None:
    """`make proto` writes them from coprocess.proto; run it after editing the .proto."""
    fresh = generate(tmp_path)
    for name, path in zip(GENERATED, fresh, strict=True):
        committed = ROOT / PROTO.parent / name
        assert path.read_bytes() == committed.read_bytes(), f"{committed} is stale: run `make proto`"


async def test_dispatch_event_runs_js_and_python_handlers(run_daemon, tmp_path: Path) -> None:
    """Bridged events reach every handler kind tykevents' own copy of the API registers: a JS
    handler (eh_dynamic_handler) on one API, a Python bundle's @Event function on another."""
    bundle_dir = Path("middleware") / "bundles" / hashlib.md5(b"events.zip").hexdigest()  # as Tyk unpacks it
    files = {str(bundle_dir / p.name): p.read_text() for p in BUNDLE.iterdir() if p.is_file()}
    files["event_handlers/sample_event_handler.js"] = (JS / "sample_event_handler.js").read_text()
    js = {
        "handler_name": "eh_dynamic_handler",
        "handler_meta": {"name": "sampleHandler", "path": "event_handlers/sample_event_handler.js"},
    }
    py = {"handler_name": "cp_dynamic_handler", "handler_meta": {"name": "record_event"}}
    apps = {
        "js.json": classic_api("js", {"AuthFailure": [js]}),
        "py.json": {
            **classic_api("py", {"KeyExpired": [py]}),
            "custom_middleware": {"driver": "python"},
            "custom_middleware_bundle": "events.zip",
        },
    }
    port = free_port()
    conf = {"enable_jsvm": True, "tykevents": {"listen": {"grpc": [f"127.0.0.1:{port}"]}}}
    d = run_daemon(conf=conf, apps=apps, files=files)
    async with gateway(f"127.0.0.1:{port}") as stub:
        await stub.DispatchEvent(pb.Event(payload=envelope("AuthFailure", "js", {**KEY_META, "Path": "/js"})))
        await stub.DispatchEvent(pb.Event(payload=envelope("KeyExpired", "py", {**KEY_META, "Path": "/py"})))
    await asyncio.to_thread(d.wait_log, r"Running sample JSVM Handler: AuthFailure on js \(org1\) path /js")
    out = d.tmp / bundle_dir / "events.jsonl"
    await asyncio.to_thread(d.wait_until, out.exists, 10, "the Python handler's record")
    (rec,) = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert rec["message"]["Type"] == "KeyExpired" and rec["message"]["Meta"]["Path"] == "/py"
    assert rec["handler_name"] == "record_event" and rec["spec"] == {"APIID": "py", "OrgID": "org1"}
    assert d.metric("tykevents_handled_total", kind="js") == 2
    assert d.metric("tykevents_datagrams_total", transport="grpc") == 2
