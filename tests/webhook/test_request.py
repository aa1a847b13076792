"""Request construction and the cooldown checksum (docs/webhooks.md), without a network."""

from __future__ import annotations

import pytest

from tykevents.deliver.webhook.request import JSON, RequestPlan, cert_checksum, request_method, tyk_header
from tykevents.golang import url as gourl
from tykevents.golang.http.header import canonical_header_key, redirect_header

# TestChecksum's body (gateway/event_handler_webhooks_test.go:83-107), 198 bytes.
CHECKSUM_BODY = (
    b'{\n\t\t"event": "QuotaExceeded",\n\t\t"message": "Key Quota Limit Exceeded",\n\t\t'
    b'"path": "/about-lonelycoder/",\n\t\t"origin": "",\n\t\t"key": "4321",\n\t\t'
    b'"timestamp": 2014-11-27 12:52:05.944549825 &#43;0000 GMT\n\t}'
)
TEST_HTTP_GET = "http://127.0.0.1:16500/get"


def plan(
    method: str = "GET",
    url: str = TEST_HTTP_GET,
    headers: dict | None = None,
    ct: str = JSON,
    ignore: bool = False,
) -> RequestPlan:
    return RequestPlan(method, url, tyk_header(headers or {}, ct, ignore))


def test_checksum_vector_get() -> None:
    assert len(CHECKSUM_BODY) == 198
    assert plan("GET").checksum(CHECKSUM_BODY).hex() == "62a6b4fa9b45cd372b871764296fb3a5"


def test_checksum_vector_post() -> None:
    assert plan("POST").checksum(CHECKSUM_BODY).hex() == "421943fa6f99db9d980ef1b6a77b6f80"


def test_cert_checksum_vector() -> None:
    digest = cert_checksum(
        "CertificateExpiringSoon", "123abc", "Cert Soon To Expire", "2025-01-02 03:04:05 +0000 UTC", "123abc"
    )
    assert digest.hex() == "2912d3017969fabedaf4f51ce350f12a"


def test_headers_are_not_in_the_checksum() -> None:
    a = plan("POST", headers={"X-A": "1"}).checksum(b"x")
    b = plan("POST", headers={"Authorization": "secret"}, ct="").checksum(b"x")
    assert a == b


def test_checksum_content_length_rule() -> None:
    # Empty body: POST/PUT/PATCH write Content-Length: 0, GET/DELETE write none.
    import hashlib

    def go(method: str, cl: str) -> bytes:
        return hashlib.md5(
            f"{method} /get HTTP/1.1\r\nHost: 127.0.0.1:16500\r\n"
            f"User-Agent: Go-http-client/1.1\r\n{cl}\r\n".encode()
        ).digest()

    assert plan("GET").checksum(b"") == go("GET", "")
    assert plan("DELETE").checksum(b"") == go("DELETE", "")
    assert plan("PATCH").checksum(b"") == go("PATCH", "Content-Length: 0\r\n")


@pytest.mark.parametrize(
    "given, want",
    [
        ("post", ("POST", True)),
        ("Patch", ("PATCH", True)),
        ("", ("GET", False)),
        ("OPTIONS", ("GET", False)),
        ("HEAD", ("GET", False)),
    ],
)
def test_request_method(given: str, want: tuple) -> None:
    assert request_method(given) == want


@pytest.mark.parametrize(
    "name, canon",
    [
        ("x-tyk-test", "X-Tyk-Test"),
        ("X-CertificateOuid", "X-Certificateouid"),
        ("x_under", "X_under"),
        ("etag", "Etag"),
        ("CONTENT-TYPE", "Content-Type"),
        ("-a--b-", "-A--B-"),
        ("x.y", "X.y"),
        ("X Foo", "X Foo"),
        ("ümlaut", "ümlaut"),
        ("x:y", "x:y"),
        ("", ""),
    ],
)
def test_canonical_header_key(name: str, canon: str) -> None:
    assert canonical_header_key(name) == canon


def test_build_request_defaults() -> None:
    # TestBuildRequest: helper handler (GET, x-tyk-test), default template content type.
    p = plan("GET", headers={"x-tyk-test": "TEST"})
    assert p.method == "GET"
    assert p.header == {"User-Agent": ["Tyk-Hookshot"], "X-Tyk-Test": ["TEST"], "Content-Type": [JSON]}


def test_ignore_canonical_header_key() -> None:
    # TestBuildRequestIngoreCanonicalHeaderKey
    p = plan(headers={"X-CertificateOuid": "X-CertificateOuid"}, ignore=True)
    assert p.header["X-CertificateOuid"] == ["X-CertificateOuid"]
    # A lower-case content-type is not seen by Header.Get: Tyk adds a second one.
    p = plan(headers={"content-type": "text/plain"}, ignore=True)
    assert p.header["content-type"] == ["text/plain"] and p.header["Content-Type"] == [JSON]


def test_header_map_overrides() -> None:
    p = plan(headers={"user-agent": "mine", "Content-Type": "application/xml"})
    assert p.header["User-Agent"] == ["mine"] and p.header["Content-Type"] == ["application/xml"]
    assert plan(headers={"Content-Type": ""}).header["Content-Type"] == [JSON]
    assert plan(ct="").header["Content-Type"] == [""]


def test_wire_header_order() -> None:
    p = plan(
        "POST",
        headers={
            "zeta": "z",
            "Alpha": " a \t",
            "Host": "evil",
            "Content-Length": "9",
            "Transfer-Encoding": "chunked",
            "Trailer": "t",
        },
    )
    assert p.wire_headers(3) == [
        ("Host", "127.0.0.1:16500"),
        ("User-Agent", "Tyk-Hookshot"),
        ("Content-Length", "3"),
        ("Alpha", "a"),
        ("Content-Type", JSON),
        ("Zeta", "z"),
        ("Accept-Encoding", "gzip"),
    ]
    # Empty body: only POST/PUT/PATCH say Content-Length: 0.
    assert ("Content-Length", "0") in p.wire_headers(0)
    assert all(k != "Content-Length" for k, _ in plan("DELETE").wire_headers(0))
    assert ("Content-Length", "5") in plan("GET").wire_headers(5)


def test_user_agent_removed_and_accept_encoding_kept() -> None:
    p = plan(headers={"User-Agent": "", "Accept-Encoding": "br"})
    names = [k for k, _ in p.wire_headers(0)]
    assert "User-Agent" not in names
    assert p.wire_headers(0)[-1] == ("Content-Type", JSON) and ("Accept-Encoding", "br") in p.wire_headers(0)
    assert all(v != "gzip" for _, v in plan(headers={"Range": "bytes=0-1"}).wire_headers(0))


@pytest.mark.parametrize(
    "headers, error",
    [
        ({"X-A": "a\nb"}, 'invalid header field value for "X-A"'),
        ({"X-A": "a\rb"}, 'invalid header field value for "X-A"'),
        ({"X-A": "a\x00"}, 'invalid header field value for "X-A"'),
        ({"X A": "v"}, 'invalid header field name "X A"'),
        ({"": "v"}, 'invalid header field name ""'),
        ({"Host": "a\nb"}, 'invalid header field value for "Host"'),
    ],
)
def test_headers_go_refuses_to_send(headers: dict, error: str) -> None:
    p = plan("POST", headers=headers)
    assert p.build_error is None
    assert p.send_error is not None and error in p.send_error
    assert p.send_error.startswith('Post "http://127.0.0.1:16500/get": net/http: ')


def test_tab_and_obs_text_are_valid_values() -> None:
    assert plan(headers={"X-A": "a\tb", "X-B": "é"}).send_error is None


@pytest.mark.parametrize(
    "url, error",
    [
        ("http://[::1", "parse \"http://[::1\": missing ']' in host"),
        ("http://h:12a/", 'invalid port ":12a" after host'),
        ("http://h/%zz", 'invalid URL escape "%zz"'),
        ("http://ex ample/", 'invalid character " " in host name'),
        ("http://h/\x7f", "invalid control character in URL"),
        (":foo", "missing protocol scheme"),
        ("a:b/c", None),  # opaque: parses, fails at send
    ],
)
def test_urls_new_request_refuses(url: str, error: str | None) -> None:
    p = plan(url=url)
    if error is None:
        assert p.build_error is None and "unsupported protocol scheme" in (p.send_error or "")
    else:
        assert p.build_error is not None and error in p.build_error
        assert p.build_error.startswith("Failed to create request object: parse ")


@pytest.mark.parametrize(
    "url, error",
    [
        ("`+testHttpPost+`", 'Get "%60+testHttpPost+%60": unsupported protocol scheme ""'),  # TestPost
        ("ftp://h/x", 'unsupported protocol scheme "ftp"'),
        ("http:///x", "http: no Host in request URL"),
        ("", 'Get "": unsupported protocol scheme ""'),
    ],
)
def test_urls_the_client_refuses(url: str, error: str) -> None:
    p = plan(url=url)
    assert p.build_error is None and error in (p.send_error or "")


@pytest.mark.parametrize(
    "url, host, uri",
    [
        ("http://127.0.0.1:16500/get", "127.0.0.1:16500", "/get"),
        ("HTTP://Example.COM:80", "Example.COM:80", "/"),
        ("http://h/a/../b//c%2Fd?x=1&y=%zz#frag", "h", "/a/../b//c%2Fd?x=1&y=%zz"),
        ("http://h/a b/é", "h", "/a%20b/%C3%A9"),
        ("http://h/p?", "h", "/p?"),
        ("http://h:/x", "h", "/x"),
        ("http://[::1]:8080/x", "[::1]:8080", "/x"),
        ("http://[fe80::1%25eth0]/", "[fe80::1]", "/"),
        ("http://bücher.example/x", "xn--bcher-kva.example", "/x"),
        ("http://u:p@h/x", "h", "/x"),
    ],
)
def test_host_and_request_uri(url: str, host: str, uri: str) -> None:
    p = plan(url=url)
    assert (p.host, p.uri) == (host, uri)


def test_userinfo_becomes_basic_auth_unless_set() -> None:
    p = plan("POST", url="http://us%40er:p%3Ass@h/x")
    assert ("Authorization", "Basic dXNAZXI6cDpzcw==") in p.wire_headers(0)
    assert "Authorization" not in p.header  # derived by the client, as Go does
    p = plan("POST", url="http://u:p@h/x", headers={"authorization": "Bearer t"})
    assert ("Authorization", "Bearer t") in p.wire_headers(0)


def test_url_redaction_in_errors() -> None:
    p = plan("POST", url="ftp://user:secret@h/x")
    assert "secret" not in (p.send_error or "") and "user:***@h" in (p.send_error or "")


def test_redirect_header_strips_credentials_off_domain() -> None:
    first = gourl.parse("http://api.example.com/a")
    orig = {"Authorization": ["x"], "cookie": ["c"], "X-A": ["1"]}
    sub, strip = redirect_header(orig, first, gourl.parse("http://sub.api.example.com/b"), "r", False)
    assert not strip and sub["Authorization"] == ["x"] and sub["Referer"] == ["r"]
    off, strip = redirect_header(orig, first, gourl.parse("http://other.com/"), "r", False)
    assert strip and set(off) == {"X-A", "Referer"}
    back, strip = redirect_header(orig, first, first, "r", True)  # sticky once stripped
    assert strip and "Authorization" not in back


@pytest.mark.parametrize(
    "ref, want",
    [
        ("d", "http://h:1/a/b/d"),
        ("../d", "http://h:1/a/d"),
        ("/x/../y", "http://h:1/y"),
        ("//o/p", "http://o/p"),
        ("?z", "http://h:1/a/b/c?z"),
        ("", "http://h:1/a/b/c?q"),
        ("../../../../x", "http://h:1/x"),
        (".", "http://h:1/a/b/"),
    ],
)
def test_location_resolution(ref: str, want: str) -> None:
    assert gourl.resolve(gourl.parse("http://h:1/a/b/c?q"), ref).string() == want


def test_parse_request_uri_is_stricter() -> None:
    gourl.parse_request_uri("http://h/x")
    gourl.parse_request_uri("/only/a/path")
    for bad in ("", "relative/path", "http://[::1"):
        with pytest.raises(gourl.GoURLError):
            gourl.parse_request_uri(bad)
