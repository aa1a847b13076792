"""The Tyk JS API as scripts see it (docs/compatibility.md): argument coercion and return shapes.

Each case is evaluated in the VM and returned as JSON `{"t": typeof, "v": value}`, so that
JS undefined and null stay apart. Ported from Tyk's jsvm_api_test.go where it has a case.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time

import orjson
import pytest

from tests.webhook.receiver import Action, Receiver, response
from tykevents.deliver.jsvm.runtime import JSError

PROBE = (
    "function probe(src) { var v = eval(src); "
    "return JSON.stringify({t: typeof v, v: v === undefined ? null : v}); }"
)


@pytest.fixture
def rt(make_runtime):
    r = make_runtime()
    r.load_source(PROBE, "probe.js")
    return r


async def js(rt, src: str):
    out = orjson.loads(await rt.call("probe", src))
    return out["v"] if out["t"] != "undefined" else Undefined


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


Undefined = _Undefined()


@pytest.mark.parametrize(
    "src, expected",
    [
        ('b64enc("test")', "dGVzdA=="),
        ("b64enc()", base64.b64encode(b"undefined").decode()),
        ("b64enc({a: 1})", base64.b64encode(b"[object Object]").decode()),
        ("b64enc(12.5)", base64.b64encode(b"12.5").decode()),
        ('b64enc("é😀")', base64.b64encode("é😀".encode()).decode()),
        ('b64dec("dGVzdA==")', "test"),
        ('b64dec("dGVzdA")', "test"),  # std fails, raw std succeeds
        ('b64dec("dGVz\\r\\ndA==")', "test"),  # Go skips CR and LF
        ('b64dec("!!!!!invalid!!!!!")', Undefined),
        ('b64dec("dGVzdA=")', Undefined),
        ('b64dec("AGEA").length', 3),  # NUL bytes survive the trip
        ('b64dec("AGEA").charCodeAt(0)', 0),
        ('b64dec(b64enc("é😀"))', "é😀"),
        ('b64dec("/w==")', "\ufffd"),  # invalid UTF-8 reads as U+FFFD, as in Go
        ('rawb64enc("test")', "dGVzdA"),
        ('rawb64dec("dGVzdA")', "test"),
        ('rawb64dec("dGVzdA==")', Undefined),
        ('rawb64dec("!!!!!invalid!!!!!")', Undefined),
        ('log("x")', Undefined),
        ('rawlog("x")', Undefined),
        ('TykJsResponse({Body: "b"}, {k: 1})', '{"Response":{"Body":"b"},"SessionMeta":{"k":1}}'),
        ('TykMakeHttpRequest("undefined")', Undefined),
        ("TykMakeHttpRequest()", Undefined),
        ('TykMakeHttpRequest("{not valid json}")', Undefined),
        ('TykMakeHttpRequest(JSON.stringify({Method: "GET"}))', Undefined),  # empty URL
        ("TykMakeHttpRequest(JSON.stringify({Domain: 5}))", Undefined),  # Go: type mismatch
        ('TykMakeHttpRequest(JSON.stringify({Domain: "ftp://h", Resource: "/x"}))', Undefined),
        ('TykBatchRequest("{invalid json}")', Undefined),
        ("TykBatchRequest(JSON.stringify({requests: []}))", "[]"),
        (
            'TykBatchRequest(JSON.stringify({requests: [{method: "G ET", relative_url: "http://x/"}]}))',
            Undefined,
        ),
        ('TykGetKeyData("nonexistent", "api")', '{"status":"error","message":"Key not found"}'),
        ('TykSetKeyData("k", "not valid json")', Undefined),
        ("typeof TykJS.TykEventHandlers.NewEventHandler.prototype.NewHandler", "function"),
        (
            "new TykJS.TykEventHandlers.NewEventHandler({}).constructor"
            " === TykJS.TykEventHandlers.NewEventHandler",
            True,
        ),
    ],
)
async def test_api_shapes(rt, src, expected):
    assert await js(rt, src) == expected


async def test_log_coerces_like_otto(rt, js_logs, caplog):
    await js(rt, 'log({a: 1}); log(); log(null); log(1.5); log([1, "a"]); log("a\\u0000b")')
    assert js_logs()[-6:] == ["[object Object]", "undefined", "null", "1.5", "1,a", "a\x00b"]
    rec = [r for r in caplog.records if r.getMessage() == "1.5"][0]
    assert rec.levelno == logging.INFO and rec.prefix == "jsvm" and rec.type == "log-msg"


async def test_rawlog_and_console(make_runtime, capsys):
    raw = io.StringIO()
    rt = make_runtime(raw_stream=raw)
    rt.load_source(PROBE, "probe.js")
    await js(rt, 'rawlog("plain line"); console.log("a", 1, {}); console.error("bad", null)')
    assert raw.getvalue() == "plain line\n"
    out = capsys.readouterr()
    assert out.out == "a 1 [object Object]\n" and out.err == "bad null\n"


async def test_failed_base64_is_logged(rt, caplog):
    assert await js(rt, 'b64dec("!!!!!invalid!!!!!")') is Undefined
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR][0].startswith(
        "Failed to base64 decode"
    )


# -- TykMakeHttpRequest against a real local receiver (jsvm_api_test.go:42-118) -------------


def req(**kw) -> str:
    return json.dumps(json.dumps(kw))  # a JS string literal holding the request JSON


async def test_get_returns_tyks_reply_shape(rt, receiver: Receiver):
    receiver.respond = lambda r: response(200, {"X-Reply": "yes", "set-cookie": "a=1"}, b"response body <&>")
    out = await js(
        rt, f"TykMakeHttpRequest({req(Method='GET', Domain=receiver.url(''), Resource='/get?x=1')})"
    )
    assert isinstance(out, str) and "response body" in out
    reply = orjson.loads(out)
    assert list(reply) == ["Code", "Body", "Headers", "code", "body", "headers"]
    assert reply["Code"] == reply["code"] == 200
    assert reply["Body"] == reply["body"] == "response body <&>"
    assert "\\u003c\\u0026\\u003e" in out  # Go's json.Marshal escapes
    assert (
        reply["Headers"]
        == reply["headers"]
        == {"Content-Length": ["17"], "Set-Cookie": ["a=1"], "X-Reply": ["yes"]}
    )
    [r] = receiver.requests
    assert r.request_line == "GET /get?x=1 HTTP/1.1"
    assert r.header_lines == [
        ("Host", f"127.0.0.1:{receiver.port}"),
        ("User-Agent", "Go-http-client/1.1"),
        ("Connection", "close"),
        ("Accept-Encoding", "gzip"),
    ]


async def test_post_body_and_headers_on_the_wire(rt, receiver: Receiver):
    receiver.respond = lambda r: 201
    out = await js(
        rt,
        "JSON.parse(TykMakeHttpRequest("
        + req(
            Method="POST",
            Body="test body",
            Domain=receiver.url(""),
            Resource="/post",
            Headers={"x-custom-header": "v1", "content-type": "text/plain", "Host": "ignored"},
        )
        + ")).Code",
    )
    assert out == 201
    [r] = receiver.requests
    assert r.request_line == "POST /post HTTP/1.1"
    assert r.header_lines == [
        ("Host", f"127.0.0.1:{receiver.port}"),
        ("User-Agent", "Go-http-client/1.1"),
        ("Connection", "close"),
        ("Content-Length", "9"),
        ("Content-Type", "text/plain"),
        ("X-Custom-Header", "v1"),
        ("Accept-Encoding", "gzip"),
    ]
    assert r.body == b"test body"


async def test_form_data_is_url_encoded_with_sorted_keys(rt, receiver: Receiver):
    receiver.respond = lambda r: response(200, body=b"form ok")
    out = await js(
        rt,
        "TykMakeHttpRequest("
        + req(
            Method="POST",
            Domain=receiver.url(""),
            Resource="/form",
            FormData={"key": "value", "b": "x y&z", "a": "1"},
        )
        + ")",
    )
    assert "form ok" in out
    [r] = receiver.requests
    assert r.body == b"a=1&b=x+y%26z&key=value"
    assert r.header("Content-Type") is None  # Tyk sets none


async def test_redirects_and_gzip_like_gos_client(rt, receiver: Receiver):
    import gzip

    def respond(r):
        if r.target == "/old":
            return response(302, {"Location": "/new"})
        return response(200, {"Content-Encoding": "gzip"}, gzip.compress(b"moved here"))

    receiver.respond = respond
    reply = orjson.loads(
        await js(
            rt,
            "TykMakeHttpRequest("
            + req(Method="POST", Body="x", Domain=receiver.url(""), Resource="/old")
            + ")",
        )
    )
    assert reply["Code"] == 200 and reply["Body"] == "moved here"
    assert "Content-Encoding" not in reply["Headers"] and "Content-Length" not in reply["Headers"]
    first, second = receiver.requests
    assert first.method == "POST" and second.method == "GET" and second.body == b""
    assert second.header("Referer") == receiver.url("/old")


async def test_http_timeout_below_the_call_limit_is_undefined(make_runtime, receiver: Receiver, caplog):
    rt = make_runtime(call_time_limit=2.0, http_timeout=0.3)
    rt.load_source(PROBE, "probe.js")
    receiver.respond = lambda r: Action("hang")
    assert (
        await js(rt, "TykMakeHttpRequest(" + req(Domain=receiver.url(""), Resource="/slow") + ")")
        is Undefined
    )
    assert rt.stats.timeouts == 0
    assert any(
        "Client.Timeout exceeded" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
    )


async def test_the_call_limit_cuts_its_http_request(make_runtime, receiver: Receiver, caplog):
    """The call's time limit covers its HTTP: a request is cut where the limit runs out, and
    the call ends there as a timeout (the script cannot catch it)."""
    rt = make_runtime(call_time_limit=0.3, http_timeout=5.0)
    rt.load_source(PROBE, "probe.js")
    receiver.respond = lambda r: Action("hang")
    src = (
        "var r; try { r = TykMakeHttpRequest("
        + req(Domain=receiver.url(""), Resource="/slow")
        + "); } catch (e) { log('caught'); } log('went on'); r"
    )
    t0 = time.monotonic()
    with pytest.raises(JSError, match="stopped by the time limit"):
        await rt.call("probe", src)
    assert 0.25 <= time.monotonic() - t0 < 0.8
    assert rt.stats.timeouts == 1
    messages = [r.getMessage() for r in caplog.records]
    assert f'Request failed: Get "{receiver.url("/slow")}": context deadline exceeded' in messages
    assert "caught" not in messages and "went on" not in messages
    # A batch is cut the same way; time spent before the request counts too.
    batch = {"requests": [{"method": "GET", "relative_url": receiver.url(f"/{i}")} for i in range(3)]}
    busy = "var t = Date.now(); while (Date.now() - t < 150) {} "
    t0 = time.monotonic()
    with pytest.raises(JSError, match="stopped by the time limit"):
        await rt.call("probe", busy + f"TykBatchRequest({json.dumps(json.dumps(batch))})")
    assert 0.25 <= time.monotonic() - t0 < 0.8
    assert rt.stats.timeouts == 2
    assert "Batch request error: 3 batch requests: context deadline exceeded" in [
        r.getMessage() for r in caplog.records
    ]


async def test_connection_refused_is_undefined(rt, caplog):
    from tests.support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert await js(rt, "TykMakeHttpRequest(" + req(Domain=url, Resource="/") + ")") is Undefined
    assert any(r.getMessage().startswith("Request failed") for r in caplog.records)


# -- TykBatchRequest -----------------------------------------------------------------------


async def test_batch_sequential_in_order_with_zero_entries(rt, receiver: Receiver):
    receiver.respond = lambda r: response(
        200 if r.target == "/a" else 404, {"X-T": r.target}, r.target.encode()
    )
    dead = "http://127.0.0.1:1/unreachable"
    batch = {
        "suppress_parallel_execution": True,
        "requests": [
            {"method": "GET", "relative_url": receiver.url("/a"), "headers": {"x-one": "1"}},
            {"method": "POST", "relative_url": receiver.url("/b"), "body": "payload"},
            {"method": "GET", "relative_url": dead},
        ],
    }
    out = await js(rt, f"TykBatchRequest({json.dumps(json.dumps(batch))})")
    assert orjson.loads(out) == [
        {
            "relative_url": receiver.url("/a"),
            "code": 200,
            "headers": {"Content-Length": ["2"], "X-T": ["/a"]},
            "body": "/a",
        },
        {
            "relative_url": receiver.url("/b"),
            "code": 404,
            "headers": {"Content-Length": ["2"], "X-T": ["/b"]},
            "body": "/b",
        },
        {"relative_url": "", "code": 0, "headers": None, "body": ""},
    ]
    a, b = receiver.requests
    assert a.header_lines == [
        ("Host", f"127.0.0.1:{receiver.port}"),
        ("User-Agent", "Go-http-client/1.1"),
        ("X-One", "1"),
        ("Accept-Encoding", "gzip"),
    ]
    assert b.body == b"payload" and b.header("Connection") is None


async def test_batch_parallel(rt, receiver: Receiver):
    batch = {"requests": [{"method": "GET", "relative_url": receiver.url(f"/{i}")} for i in range(4)]}
    out = orjson.loads(await js(rt, f"TykBatchRequest({json.dumps(json.dumps(batch))})"))
    assert sorted(u["relative_url"] for u in out) == [receiver.url(f"/{i}") for i in range(4)]
    assert {u["code"] for u in out} == {200}


# -- sessions through the API (the store itself: tests/store) ------------------------------


async def test_set_key_data_rules(make_runtime, caplog):
    from tykevents.store.sessions import MemorySessionStore

    caplog.set_level(logging.INFO, logger="tykevents.jsvm")
    store = MemorySessionStore()
    rt = make_runtime(store=store)
    rt.load_source(PROBE, "probe.js")
    rights = {"api-1": {"api_id": "api-1", "versions": ["Default"]}}
    session = {"quota_max": 10, "quota_remaining": 2, "quota_renewal_rate": 60, "access_rights": rights}
    # No access rights: Tyk refuses (allow_master_keys is off).
    await js(rt, f"TykSetKeyData('key-no-rights', {json.dumps(json.dumps({'quota_max': 1}))})")
    assert store.get_session("key-no-rights") is None
    assert any("Master keys disallowed" in r.getMessage() for r in caplog.records)
    # Type errors are refused as Go's json.Unmarshal would.
    await js(rt, f"TykSetKeyData('key-bad', {json.dumps(json.dumps({**session, 'expires': 'soon'}))})")
    assert store.get_session("key-bad") is None
    assert any("SessionState.expires of type int64" in r.getMessage() for r in caplog.records)
    # The third argument is compared as a string with "1": the number 1 suppresses too.
    await js(rt, f"TykSetKeyData('key-1', {json.dumps(json.dumps(session))}, 1)")
    assert store.get_session("key-1") == session
    await js(rt, f"TykSetKeyData('key-2', {json.dumps(json.dumps(session))}, true)")
    assert store.get_session("key-2")["quota_remaining"] == 10
    assert all("key-1" not in r.getMessage() for r in caplog.records)  # keys stay out of logs
    assert [r for r in caplog.records if r.getMessage() == "Key added or updated."][0].key == "****ey-1"

    rt2 = make_runtime(config={"allow_master_keys": True}, store=store)
    rt2.load_source(PROBE, "probe.js")
    await js(rt2, f"TykSetKeyData('key-master', {json.dumps(json.dumps({'quota_max': 1}))})")
    assert store.get_session("key-master")["quota_remaining"] == 1


async def test_header_values_go_out_as_utf8_and_head_has_no_body(rt, receiver: Receiver):
    out = orjson.loads(
        await js(
            rt,
            "TykMakeHttpRequest("
            + req(Method="HEAD", Domain=receiver.url(""), Resource="/h", Headers={"x-name": "café"})
            + ")",
        )
    )
    assert out["Code"] == 200 and out["Body"] == ""
    [r] = receiver.requests
    assert "X-Name: café".encode() in r.head
    assert r.header("Accept-Encoding") is None  # Go's transport asks for gzip except on HEAD
