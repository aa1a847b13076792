"""What reaches a real receiver, byte for byte (docs/webhooks.md; TestGet/TestPost style)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.webhook.receiver import Receiver
from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.client import HttpSender
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    s = HttpSender(WebhookSettings(timeout=5))
    await s.start()
    yield s
    await s.close()


async def send(
    sender: HttpSender,
    receiver: Receiver,
    method: str,
    path: str,
    body: bytes,
    header_map: dict[str, str] | None = None,
    ct: str = JSON,
    ignore: bool = False,
    url: str | None = None,
) -> Any:
    plan = RequestPlan(method, url or receiver.url(path), tyk_header(header_map or {}, ct, ignore))
    res = await sender.send(plan, body)
    assert res.ok, res
    return receiver.requests[-1]


async def test_post_default_template_request(sender: HttpSender, receiver: Receiver) -> None:
    req = await send(sender, receiver, "POST", "/post", b'{"event": "x"}', {"x-tyk-test": "TEST"})
    assert (
        req.head
        == (
            f"POST /post HTTP/1.1\r\nHost: 127.0.0.1:{receiver.port}\r\nUser-Agent: Tyk-Hookshot\r\n"
            "Content-Length: 14\r\nContent-Type: application/json\r\nX-Tyk-Test: TEST\r\n"
            "Accept-Encoding: gzip\r\n\r\n"
        ).encode()
    )
    assert req.body == b'{"event": "x"}'


async def test_get_and_delete_carry_the_body(sender: HttpSender, receiver: Receiver) -> None:
    for method in ("GET", "DELETE"):
        req = await send(sender, receiver, method, "/get", b"payload")
        assert req.request_line == f"{method} /get HTTP/1.1"
        assert req.header("Content-Length") == "7" and req.body == b"payload"


@pytest.mark.parametrize(
    "method, has_cl", [("GET", False), ("DELETE", False), ("POST", True), ("PUT", True), ("PATCH", True)]
)
async def test_empty_body_content_length(
    sender: HttpSender, receiver: Receiver, method: str, has_cl: bool
) -> None:
    req = await send(sender, receiver, method, "/x", b"")
    assert (req.header("Content-Length") == "0") is has_cl
    if not has_cl:
        assert req.header("Content-Length") is None


async def test_non_json_template_sends_an_empty_content_type(sender: HttpSender, receiver: Receiver) -> None:
    req = await send(sender, receiver, "POST", "/x", b"a=1", ct="")
    assert b"\r\nContent-Type: \r\n" in req.head


async def test_header_map_quirks_on_the_wire(sender: HttpSender, receiver: Receiver) -> None:
    req = await send(
        sender,
        receiver,
        "POST",
        "/x",
        b"{}",
        {
            "User-Agent": "",
            "x_under": "1",
            "X-CertificateOuid": "o",
            "etag": " padded\t",
            "Host": "evil.example",
            "Content-Length": "999",
            "Transfer-Encoding": "chunked",
            "Trailer": "X",
            "Content-Type": "",
            "X-Utf8": "é",
        },
    )
    assert req.header_lines == [
        ("Host", f"127.0.0.1:{receiver.port}"),
        ("Content-Length", "2"),
        ("Content-Type", JSON),
        ("Etag", "padded"),
        ("X-Certificateouid", "o"),
        ("X-Utf8", "Ã©"),
        ("X_under", "1"),
        ("Accept-Encoding", "gzip"),
    ]
    assert "é".encode() in req.head  # UTF-8 bytes, as Go writes them


async def test_ignore_canonical_sends_both_content_types(sender: HttpSender, receiver: Receiver) -> None:
    req = await send(
        sender,
        receiver,
        "POST",
        "/x",
        b"{}",
        {"content-type": "text/plain", "X-CertificateOuid": "v"},
        ignore=True,
    )
    names = [k for k, _ in req.header_lines]
    assert names == [
        "Host",
        "User-Agent",
        "Content-Length",
        "Content-Type",
        "X-CertificateOuid",
        "content-type",
        "Accept-Encoding",
    ]


async def test_url_forms(sender: HttpSender, receiver: Receiver) -> None:
    base = f"127.0.0.1:{receiver.port}"
    cases = {
        f"http://u:p%40ss@{base}/a/../b//c%2Fd?q=1#frag": "/a/../b//c%2Fd?q=1",
        f"http://{base}": "/",
        f"http://{base}/p?": "/p?",
        f"http://{base}/a b/é": "/a%20b/%C3%A9",
    }
    for url, target in cases.items():
        req = await send(sender, receiver, "GET", "", b"", url=url)
        assert req.target == target
    first = receiver.requests[0]
    assert first.header("Authorization") == "Basic dTpwQHNz"


async def test_connections_are_reused(sender: HttpSender, receiver: Receiver) -> None:
    for _ in range(5):
        await send(sender, receiver, "POST", "/x", b"{}")
    assert receiver.connections == 1


async def test_gzip_reply_is_not_decoded(sender: HttpSender, receivers: Any) -> None:
    from tests.webhook.receiver import response

    r = await receivers(lambda req: response(200, {"Content-Encoding": "gzip"}, b"not gzip at all"))
    res = await sender.send(RequestPlan("POST", r.url("/"), tyk_header({}, JSON, False)), b"{}")
    assert res.ok and res.body == b"not gzip at all"


async def test_https_with_an_untrusted_certificate_fails_without_retry(
    tmp_path: Any, services: Any, receivers: Any
) -> None:
    import ssl
    import subprocess

    from tests.webhook.test_service import dead_letters, delivery, wait_idle

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    r = await receivers(ssl=ctx)
    svc = await services()
    svc.submit(delivery(r.url("/hook")))
    await wait_idle(svc)
    [dl] = dead_letters(svc)
    assert dl["attempts"] == 1 and "certificate verify failed" in dl["error"] and r.requests == []
