"""GoClient against real loopback receivers (tests/webhook/receiver.py): the bytes it
writes, Client.do's redirect policy, the Transport's gzip, limits, timeouts and errors."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from tests.support.servers import free_port
from tests.webhook.receiver import Action, RawRequest, Receiver, response
from tykevents.golang import url as gourl
from tykevents.golang.http import client as gc
from tykevents.golang.http.client import GoClient, GoClientError, GoResponse
from tykevents.golang.http.request import GoRequest


def req(url: str, method: str = "GET", header: dict | None = None, close: bool = False) -> GoRequest:
    return GoRequest(method, gourl.new_request_url(url), header or {}, close=close, raw_url=url)


async def do(client: GoClient, r: GoRequest, body: bytes = b"", **kw: Any) -> GoResponse:
    return await client.do(r, body, **kw)


async def fails(client: GoClient, r: GoRequest, body: bytes = b"", **kw: Any) -> GoClientError:
    with pytest.raises(GoClientError) as info:
        await client.do(r, body, **kw)
    return info.value


async def test_wire_bytes_and_keep_alive(clients: Any, receiver: Receiver) -> None:
    c = await clients()
    for _ in range(3):
        resp = await do(c, req(receiver.url("/a?b=1"), "POST", {"X-Custom": ["v"]}), b"body")
        assert resp.status == 200 and resp.request.url.path == "/a"
    first = receiver.requests[0]
    assert (
        first.head
        == (
            f"POST /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:{receiver.port}\r\nUser-Agent: Go-http-client/1.1\r\n"
            "Content-Length: 4\r\nX-Custom: v\r\nAccept-Encoding: gzip\r\n\r\n"
        ).encode()
    )
    assert first.body == b"body" and receiver.connections == 1


async def test_close_sends_connection_close_and_does_not_reuse(clients: Any, receiver: Receiver) -> None:
    c = await clients()
    for _ in range(2):
        await do(c, req(receiver.url("/"), close=True))
    assert receiver.requests[0].header("Connection") == "close"
    assert receiver.connections == 2


async def test_response_header_map_is_gos(clients: Any, receivers: Any) -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nx-one: 1\r\nSet-Cookie: a\r\nset-cookie: b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    r = await receivers(lambda q: raw)
    resp = await do(await clients(), req(r.url("/")))
    assert resp.body == b"abc"
    assert resp.header == {"X-One": ["1"], "Set-Cookie": ["a", "b"]}  # Transfer-Encoding moved out
    assert resp.headers.get("x-one") == "1"


async def test_redirects_follow_clients_rules(clients: Any, receivers: Any) -> None:
    def respond(q: RawRequest) -> Any:
        if q.target == "/a":
            return response(302, {"Location": "/b"})
        if q.target == "/b":
            return response(307, {"Location": f"http://localhost:{r.port}/c"})
        return 200

    r = await receivers(respond)
    first = req(f"http://127.0.0.1:{r.port}/a", "POST", {"Authorization": ["t"], "Cookie": ["c"]})
    resp = await do(await clients(), first, b"xyz")
    assert resp.status == 200 and resp.request.url.string() == f"http://localhost:{r.port}/c"
    a, b, c = r.requests
    assert (a.method, a.body, b.method, b.body, b.header("Content-Length")) == (
        "POST",
        b"xyz",
        "GET",
        b"",
        None,
    )
    assert b.header("Referer") == f"http://127.0.0.1:{r.port}/a" and b.header("Authorization") == "t"
    # 307 to another domain: method kept, credentials dropped.
    assert c.method == "GET" and c.header("Authorization") is None and c.header("Cookie") is None
    assert c.header("Referer") == f"http://127.0.0.1:{r.port}/b"


async def test_307_and_308_keep_method_and_body(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: response(308, {"Location": "/next"}) if q.index == 0 else 200)
    await do(await clients(), req(r.url("/first"), "PUT"), b"xyz")
    assert [(q.method, q.target, q.body) for q in r.requests] == [
        ("PUT", "/first", b"xyz"),
        ("PUT", "/next", b"xyz"),
    ]


async def test_ten_redirects_at_most(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: response(302, {"Location": f"/loop{q.index}"}))
    e = await fails(await clients(), req(r.url("/start"), "POST"), b"x")
    assert len(r.requests) == 10
    assert (e.kind, e.status) == (gc.REDIRECT, 302)
    assert str(e) == f'Get "{r.url("/loop8")}": stopped after 10 redirects'
    assert e.first.method == "POST"


async def test_a_redirect_without_location_is_the_answer(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: 301)
    assert (await do(await clients(), req(r.url("/")))).status == 301


async def test_unreadable_location(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: response(302, {"Location": "http://u:pw@[::1/x"}))
    e = await fails(await clients(), req(r.url("/")))
    assert (e.kind, e.status) == (gc.REDIRECT, 302)
    assert str(e).startswith(f'Get "{r.url("/")}": failed to parse Location header "http://u:***@[::1/x": ')
    assert "pw" not in str(e)


async def test_redirect_the_transport_refuses(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: response(301, {"Location": "ftp://elsewhere/x"}))
    e = await fails(await clients(), req(r.url("/"), "POST"))
    assert (e.kind, e.status) == (gc.REFUSED, 301)
    assert str(e) == 'Get "ftp://elsewhere/x": unsupported protocol scheme "ftp"'


async def test_a_refused_request_is_not_sent(clients: Any) -> None:
    e = await fails(await clients(), req("http://127.0.0.1:9/", header={"X-A": ["a\nb"]}))
    assert e.kind == gc.REFUSED and e.status is None
    assert str(e) == 'Get "http://127.0.0.1:9/": net/http: invalid header field value for "X-A"'


async def test_gzip_is_inflated_as_the_transport_asked(clients: Any, receivers: Any) -> None:
    packed = gzip.compress(b"hello")
    r = await receivers(lambda q: response(200, {"Content-Encoding": "gzip"}, packed))
    resp = await do(await clients(), req(r.url("/")))
    assert (
        resp.body == b"hello"
        and "Content-Encoding" not in resp.header
        and "Content-Length" not in resp.header
    )
    raw = await do(await clients(inflate=False), req(r.url("/")))
    assert raw.body == packed and raw.header["Content-Encoding"] == ["gzip"]
    # Asked for another encoding: the reply is the caller's to decode.
    mine = await do(await clients(), req(r.url("/"), header={"Accept-Encoding": ["gzip"]}))
    assert mine.body == packed


async def test_broken_gzip_is_an_error(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: response(200, {"Content-Encoding": "gzip"}, b"not gzip"))
    e = await fails(await clients(), req(r.url("/x")))
    assert e.kind == gc.RESPONSE and str(e).startswith(f'Get "{r.url("/x")}": gzip: ')


async def test_read_limit_cuts_or_fails(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: response(200, body=b"x" * 100))
    assert (await do(await clients(read_limit=10), req(r.url("/")))).body == b"x" * 10
    assert (
        await do(await clients(read_limit=100, over_limit_fails=True), req(r.url("/")))
    ).body == b"x" * 100
    e = await fails(await clients(read_limit=99, over_limit_fails=True), req(r.url("/")))
    assert e.kind == gc.RESPONSE and e.err == "response body larger than 99 bytes"


async def test_a_long_body_is_not_buffered(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: Action("huge", size=1 << 30, stream=8 << 20))
    c = await clients(read_limit=65536)
    assert len((await do(c, req(r.url("/")))).body) == 65536
    assert r.streamed < 8 << 20


async def test_timeout(clients: Any, receivers: Any) -> None:
    r = await receivers(lambda q: Action("hang"))
    c = await clients(timeout=0.2)
    e = await fails(c, req(r.url("/slow")))
    assert e.kind == gc.TIMEOUT
    assert str(e) == f'Get "{r.url("/slow")}": context deadline exceeded (Client.Timeout exceeded)'
    e = await fails(c, req(r.url("/slow")), timeout=0.05)  # a per-call deadline
    assert e.kind == gc.TIMEOUT


async def test_connection_refused_reads_like_go_without_secrets(clients: Any) -> None:
    port = free_port()
    e = await fails(await clients(), req(f"http://u:pw-1@127.0.0.1:{port}/x?token=tk-1", "POST"))
    assert e.kind == gc.CONNECTION
    assert str(e) == (
        f'Post "http://u:***@127.0.0.1:{port}/x?***": dial tcp 127.0.0.1:{port}: connect: connection refused'
    )


async def test_tls_verification(clients: Any, receivers: Any, tmp_path: Any) -> None:
    import ssl
    import subprocess

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    r = await receivers(ssl=ctx)
    e = await fails(await clients(), req(r.url("/")))
    assert e.kind == gc.TLS and "certificate verify failed" in e.err and r.requests == []
    assert (await do(await clients(verify_tls=False), req(r.url("/")))).status == 200


async def test_proxy_decision_per_scheme_and_host(clients: Any) -> None:
    c = await clients(proxies={"http": "http://p:1", "https": "", "no": "skip.example"})
    assert c._proxy(req("http://h.example/a")) == "http://p:1"
    assert c._proxy(req("https://h.example/a")) is None
    assert c._proxy(req("http://skip.example/a")) is None
