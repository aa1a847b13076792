"""GoClient's Transport settings against real loopback servers: MaxIdleConns (the oldest
idle connection makes room), MaxIdleConnsPerHost (one more is closed), TLSHandshakeTimeout,
a Transport.Proxy function, and crypto/tls's key-pair errors."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.support.mtls import make_pki
from tests.webhook.receiver import Receiver
from tykevents.golang import url as gourl
from tykevents.golang.http import client as gc
from tykevents.golang.http import tls as gtls
from tykevents.golang.http.client import GoClient, GoClientError
from tykevents.golang.http.proxy import StaticProxy
from tykevents.golang.http.request import GoRequest


def req(url: str) -> GoRequest:
    return GoRequest("GET", gourl.new_request_url(url), {}, raw_url=url)


async def slow(_: Any) -> int:
    await asyncio.sleep(0.15)
    return 200


def idle(c: GoClient) -> dict[int, int]:
    return {k.port: n for k, n in c.idle().items()}


async def test_idle_limits(client: Any, receivers: Any) -> None:
    a, b = await receivers(slow), await receivers(slow)
    c = await client(max_idle=4, max_idle_per_host=3)
    await asyncio.gather(*(c.do(req(a.url(f"/{i}"))) for i in range(5)))
    assert idle(c) == {a.port: 3} and a.connections == 5  # two closed on release
    await asyncio.gather(*(c.do(req(b.url(f"/{i}"))) for i in range(2)))
    assert idle(c) == {a.port: 2, b.port: 2}  # at 4 in all, the oldest of a's made room
    await asyncio.gather(*(c.do(req(a.url(f"/{i}"))) for i in range(2)))
    assert a.connections == 5  # reused


async def test_no_idle_limits_by_default(client: Any, receivers: Any) -> None:
    a = await receivers(slow)
    c = await client()
    await asyncio.gather(*(c.do(req(a.url(f"/{i}"))) for i in range(12)))
    assert idle(c) == {a.port: 12}


async def test_tls_handshake_timeout(client: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers the ClientHello
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        c = await client(tls_handshake_timeout=0.3)
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(GoClientError) as err:
            await c.do(req(f"https://127.0.0.1:{port}/x"))
        assert asyncio.get_running_loop().time() - t0 < 2.0
        assert err.value.kind == gc.CONNECTION
        assert str(err.value) == f'Get "https://127.0.0.1:{port}/x": net/http: TLS handshake timeout'
    finally:
        server.close()
        await server.wait_closed()


async def test_proxy_function_is_asked_per_scheme_and_host(client: Any, receiver: Receiver) -> None:
    c = await client(proxies=StaticProxy(f"invalid://127.0.0.1:{receiver.port}", "", "skip.example"))
    assert c._proxy(req("http://a.example/x")) == f"http://127.0.0.1:{receiver.port}"
    assert c._proxy(req("http://skip.example/x")) is None
    assert c._proxy(req("http://SKIP.example/x")) == f"http://127.0.0.1:{receiver.port}"  # exact
    resp = await c.do(req("http://a.example/via"))
    assert resp.status == 200 and receiver.requests[0].target == "http://a.example/via"


def test_key_pair_and_ca_errors(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    ctx = gtls.client_context(cert_file=str(pki["client.pem"]), key_file=str(pki["client.key"]))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    ctx = gtls.client_context(insecure_skip_verify=True, ca_file=str(pki["ca.pem"]))
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1
    (tmp_path / "enc.key").write_bytes(b"")
    for kw, err, text in (
        ({"cert_file": str(tmp_path / "no.pem"), "key_file": "k"}, gtls.KeyPairError, "open "),
        (
            {"cert_file": str(pki["client.pem"]), "key_file": str(pki["ca.key"])},
            gtls.KeyPairError,
            "does not match",
        ),
        (
            {"cert_file": str(pki["client.pem"]), "key_file": str(tmp_path / "enc.key")},
            gtls.KeyPairError,
            "key input",
        ),
        ({"ca_file": str(tmp_path / "enc.key")}, gtls.CAError, "failed to parse CA certificate"),
        ({"ca_file": str(tmp_path / "none.pem")}, gtls.CAError, "no such file or directory"),
    ):
        with pytest.raises(err, match=text):
            gtls.client_context(**kw)
