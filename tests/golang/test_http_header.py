"""net/http's header rules and GoRequest, without a network."""

from __future__ import annotations

import pytest

from tykevents.golang import url as gourl
from tykevents.golang.http import header as gh
from tykevents.golang.http.request import GoRequest, NewRequestError, new_request


def req(method: str = "GET", url: str = "http://h:1/p", header: dict | None = None, **kw: bool) -> GoRequest:
    return GoRequest(method, gourl.new_request_url(url), header or {}, **kw)


@pytest.mark.parametrize(
    "name, canon",
    [
        ("x-tyk-test", "X-Tyk-Test"),
        ("CONTENT-TYPE", "Content-Type"),
        ("x_under", "X_under"),
        ("X Foo", "X Foo"),
    ],
)
def test_canonical_header_key(name: str, canon: str) -> None:
    assert gh.canonical_header_key(name) == canon


def test_header_get_uses_the_canonical_key() -> None:
    h = {"Content-Type": ["a", "b"], "x-raw": ["r"]}
    assert gh.header_get(h, "content-type") == "a"
    assert gh.header_get(h, "x-raw") == ""  # not under its canonical name


def test_wire_order_of_a_plain_request() -> None:
    assert req().wire_headers(0) == [
        ("Host", "h:1"),
        ("User-Agent", "Go-http-client/1.1"),
        ("Accept-Encoding", "gzip"),
    ]


def test_wire_order_with_close_body_and_headers() -> None:
    r = req("POST", header={"Zeta": ["z"], "Alpha": [" a\t"], "User-Agent": [" mine "]}, close=True)
    assert r.wire_headers(3) == [
        ("Host", "h:1"),
        ("User-Agent", "mine"),  # trimmed, as Request.write does
        ("Connection", "close"),
        ("Content-Length", "3"),
        ("Alpha", "a"),
        ("Zeta", "z"),
        ("Accept-Encoding", "gzip"),
    ]
    # The caller's own Connection header already says close: no second line.
    lines = req(header={"Connection": ["keep-alive, Close"]}, close=True).wire_headers(0)
    assert [k for k, _ in lines].count("Connection") == 1


def test_content_length_and_gzip_rules() -> None:
    assert ("Content-Length", "0") in req("PATCH").wire_headers(0)
    assert all(k != "Content-Length" for k, _ in req("DELETE").wire_headers(0))
    head = req("HEAD")
    assert not head.gzip and all(k != "Accept-Encoding" for k, _ in head.wire_headers(0))
    assert not req(header={"Range": ["bytes=0-1"]}).gzip
    assert not req(header={"Accept-Encoding": ["br"]}).gzip and req().gzip


def test_write_excluded_headers_never_come_from_the_map() -> None:
    r = req("POST", header={"Host": ["evil"], "Content-Length": ["9"], "Transfer-Encoding": ["x"]})
    assert r.wire_headers(1) == [
        ("Host", "h:1"),
        ("User-Agent", "Go-http-client/1.1"),
        ("Content-Length", "1"),
        ("Accept-Encoding", "gzip"),
    ]


def test_userinfo_becomes_authorization_unless_set() -> None:
    assert ("Authorization", "Basic dTpw") in req(url="http://u:p@h/").wire_headers(0)
    set_ = req(url="http://u:p@h/", header={"Authorization": ["Bearer t"]})
    assert ("Authorization", "Bearer t") in set_.wire_headers(0)


@pytest.mark.parametrize(
    "url, header, refusal",
    [
        ("ftp://h/x", {}, 'unsupported protocol scheme "ftp"'),
        ("http:///x", {}, "http: no Host in request URL"),
        ("http://h/", {"X-A": ["a\nb"]}, 'net/http: invalid header field value for "X-A"'),
        ("http://h/", {"X A": ["v"]}, 'net/http: invalid header field name "X A"'),
    ],
)
def test_what_the_transport_refuses(url: str, header: dict, refusal: str) -> None:
    r = req("POST", url, header)
    assert r.refusal == refusal
    assert r.send_error == f'Post "{gourl.redact(url)}": {refusal}'


def test_tab_and_obs_text_are_valid_values() -> None:
    assert req(header={"X-A": ["a\tb"], "X-B": ["é"]}).refusal is None


def test_op_hides_password_and_query() -> None:
    assert req("DELETE", "http://u:secret@h/x?k=1").op == 'Delete "http://u:***@h/x?***"'


def test_new_request() -> None:
    assert new_request("", "http://h/")[0] == "GET"
    with pytest.raises(NewRequestError, match='net/http: invalid method "G ET"'):
        new_request("G ET", "http://h/")
    with pytest.raises(NewRequestError, match="missing ']' in host"):
        new_request("GET", "http://[::1")


@pytest.mark.parametrize(
    "status, method, want",
    [
        (301, "POST", ("GET", False)),
        (302, "PUT", ("GET", False)),
        (303, "HEAD", ("HEAD", False)),
        (303, "GET", ("GET", False)),
        (307, "POST", ("POST", True)),
        (308, "DELETE", ("DELETE", True)),
    ],
)
def test_redirect_method(status: int, method: str, want: tuple[str, bool]) -> None:
    assert gh.redirect_method(status, method) == want


def test_referer() -> None:
    prev = gourl.parse("https://u:p@a.example/x?q")
    assert gh.referer(prev, gourl.parse("https://b.example/")) == "https://a.example/x?q"
    assert gh.referer(prev, gourl.parse("http://a.example/")) == ""  # https -> http: none


def test_redirect_request_keeps_the_first_requests_headers() -> None:
    first = req("POST", "http://api.example.com/a", {"Authorization": ["t"], "X-A": ["1"]}, close=True)
    nxt, strip = first.redirect(first, 302, "/b", False)
    assert (nxt.method, nxt.url.string(), strip, nxt.close) == (
        "GET",
        "http://api.example.com/b",
        False,
        True,
    )
    assert nxt.header == {"Authorization": ["t"], "X-A": ["1"], "Referer": ["http://api.example.com/a"]}
    off, strip = nxt.redirect(first, 307, "http://other.example/c", strip)
    assert off.method == "GET" and strip and "Authorization" not in off.header
    back, strip = off.redirect(first, 307, "http://api.example.com/d", strip)
    assert strip and "Authorization" not in back.header  # sticky once stripped
    with pytest.raises(gourl.GoURLError):
        first.redirect(first, 302, "http://[::1", False)


def test_host_header() -> None:
    assert gh.host_header(gourl.parse("http://bücher.example:8080/")) == "xn--bcher-kva.example:8080"
    assert gh.host_header(gourl.parse("http://[fe80::1%25eth0]:1/")) == "[fe80::1]:1"
