"""Tyk's webhook request, byte for byte (spec 3.4, 3.4a), and its cooldown checksum (3.5).

Tyk builds `http.NewRequest(method, target_path, body)`, sets `User-Agent: Tyk-Hookshot`,
applies header_map, fills Content-Type, and Go's client and transport then decide what goes on
the wire. A RequestPlan does all of that once per handler; per event only the body and its
Content-Length change. Headers are kept as Go keeps them: a dict of name -> values, names
canonicalised as textproto does (or verbatim with ignore_canonical_mime_header_key).

On the wire (Go's Request.write + Transport): request line, Host, User-Agent,
Content-Length (if the body is non-empty, or always for POST/PUT/PATCH), the remaining headers
sorted by name with values trimmed, then `Accept-Encoding: gzip` unless the headers ask for an
encoding or a range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tykevents.golang import url as gourl

VALID_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))  # Content-Length: 0 even when empty
METHOD_WARNING = "Method must be one of GET, PUT, POST, DELETE or PATCH, defaulting to GET"
TYK_USER_AGENT = "Tyk-Hookshot"
GO_USER_AGENT = "Go-http-client/1.1"
JSON = "application/json"

# Written by Request.write itself, never from the header map.
_WRITE_EXCLUDED = frozenset(("Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"))
# Dropped from a redirected request to another domain (net/http shouldCopyHeaderOnRedirect).
SENSITIVE_ON_REDIRECT = frozenset(
    ("Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate")
)

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HOST_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&()*+,-.:;=['~]_")

Header = dict[str, list[str]]


def request_method(method: str) -> tuple[str, bool]:
    """getRequestMethod: upper-cased; anything else than the five methods becomes GET."""
    m = method.upper()
    if m in VALID_METHODS:
        return m, True
    return "GET", False


def canonical_header_key(s: str) -> str:
    """textproto.CanonicalMIMEHeaderKey: `x-tyk-test` -> `X-Tyk-Test`, `x_under` -> `X_under`.

    A name with a byte that is not a token character (a space, a non-ASCII letter) is
    returned unchanged, as Go does.
    """
    raw = s.encode("utf-8", "surrogateescape")
    if not raw or any(c not in _TOKEN for c in raw):
        return s
    out = bytearray(raw)
    upper = True
    for i, c in enumerate(out):
        if upper and 0x61 <= c <= 0x7A:
            c -= 0x20
        elif not upper and 0x41 <= c <= 0x5A:
            c += 0x20
        out[i] = c
        upper = c == 0x2D
    return out.decode("ascii")


def header_get(h: Header, key: str) -> str:
    """http.Header.Get: the first value under the canonical key, or ""."""
    values = h.get(canonical_header_key(key))
    return values[0] if values else ""


def valid_header_name(name: str) -> bool:
    raw = name.encode("utf-8", "surrogateescape")
    return bool(raw) and all(c in _TOKEN for c in raw)


def valid_header_value(value: str) -> bool:
    """httpguts.ValidHeaderFieldValue: no control bytes but tab (obs-text is allowed)."""
    return not any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value)


def _trim(v: str) -> str:
    return v.replace("\n", " ").replace("\r", " ").strip(" \t\r\n")


def tyk_header(header_map: dict[str, str], content_type: str, ignore_canonical: bool) -> Header:
    """BuildRequest's headers (event_handler_webhooks.go:232-253).

    header_map entries whose names canonicalise alike overwrite each other in the map's order
    (Go: random map order).
    """
    h: Header = {"User-Agent": [TYK_USER_AGENT]}
    for key, val in header_map.items():
        h[key if ignore_canonical else canonical_header_key(key)] = [val]
    if header_get(h, "Content-Type") == "":
        h["Content-Type"] = [content_type]
    return h


def host_header(u: gourl.GoURL) -> str:
    """The Host line: u.Host, punycoded, emptied when Go finds it invalid, zone removed."""
    host = u.host
    if not host.isascii():
        name, port = host, ""
        colon, bracket = host.rfind(":"), host.rfind("]")
        if colon > bracket:
            name, port = host[:colon], host[colon + 1 :]
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise ValueError(f"idna: invalid label {host!r}: {e}") from None
        host = f"{name}:{port}" if port else name
    if not all(ord(c) in _HOST_BYTES for c in host):
        host = ""  # Go 1.22+: an invalid Host is sent empty rather than truncated
    if host.startswith("["):
        i = host.rfind("]")
        j = host.rfind("%", 0, i) if i >= 0 else -1
        if j >= 0:
            host = host[:j] + host[i:]
    return host


def url_error_op(method: str) -> str:
    return method[:1] + method[1:].lower()


class RequestPlan:
    """One request shape: method, URL and headers; bodies vary per event.

    `build_error`: http.NewRequest failed (Tyk: `Failed to create request object`, no
    cooldown). `send_error`: Go's client would refuse to send (unsupported scheme, no host,
    an invalid header); Tyk still sets the cooldown in that case.
    """

    __slots__ = (
        "method",
        "url",
        "header",
        "target",
        "build_error",
        "send_error",
        "host",
        "uri",
        "host_key",
        "_sum_prefix",
        "_head",
        "_tail",
        "_body_cl",
        "connect_url",
    )

    def __init__(self, method: str, url: str, header: Header, target: gourl.GoURL | None = None) -> None:
        self.method = method
        self.url = url
        self.header = header
        self.build_error: str | None = None
        self.send_error: str | None = None
        self.host = ""
        self.uri = "/"
        self.host_key = "-"
        self._head: tuple[tuple[str, str], ...] = ()
        self._tail: tuple[tuple[str, str], ...] = ()
        self._body_cl = method in BODY_METHODS
        self._sum_prefix = hashlib.md5()
        self.connect_url: object = None  # the client's yarl URL, made on first send
        try:
            self.target: gourl.GoURL | None = target or gourl.new_request_url(url)
        except gourl.GoURLError as e:
            self.target = None
            self.build_error = f"Failed to create request object: {e}"
            return
        t = self.target
        self.uri = t.request_uri()
        try:
            self.host = host_header(t)
        except ValueError as e:
            self.build_error = f"Webhook checksum error: {e}"
            return
        hostname, port = t.hostname().lower(), t.port()
        if hostname:
            default = {"http": "80", "https": "443"}.get(t.scheme, "")
            self.host_key = f"{hostname}:{port or default}"
        # Checksum: Write() of a header-less NewRequest (spec 3.5).
        self._sum_prefix.update(
            f"{method} {self.uri} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {GO_USER_AGENT}\r\n".encode(
                "utf-8", "surrogateescape"
            )
        )
        self.send_error = self._check_send()
        self._head, self._tail = self._wire_parts()

    def effective_header(self) -> Header:
        """The headers Go's client sends: Authorization added from user:pass@ if not set."""
        auth = self.target.basic_auth() if self.target is not None else None
        if auth is None or header_get(self.header, "Authorization") != "":
            return self.header
        h = dict(self.header)
        h["Authorization"] = [auth]
        return h

    def _check_send(self) -> str | None:
        t = self.target
        assert t is not None
        op = f'{url_error_op(self.method)} "{t.safe()}"'  # logged: no password, no query
        if t.scheme not in ("http", "https"):
            return f"{op}: unsupported protocol scheme {gourl._go_quote(t.scheme)}"
        if not t.host:
            return f"{op}: http: no Host in request URL"
        for name, values in self.effective_header().items():
            if not valid_header_name(name):
                return f"{op}: net/http: invalid header field name {gourl._go_quote(name)}"
            if not all(valid_header_value(v) for v in values):
                return f"{op}: net/http: invalid header field value for {gourl._go_quote(name)}"
        return None

    def _wire_parts(self) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        h = self.effective_header()
        head = [("Host", self.host)]
        if "User-Agent" in h:
            ua = header_get(h, "User-Agent")
            if ua != "":
                head.append(("User-Agent", _trim(ua)))
        else:
            head.append(("User-Agent", GO_USER_AGENT))
        tail = [
            (k, _trim(v))
            for k in sorted(h, key=lambda k: k.encode("utf-8", "surrogateescape"))
            if k not in _WRITE_EXCLUDED
            for v in h[k]
        ]
        if header_get(h, "Accept-Encoding") == "" and header_get(h, "Range") == "":
            tail.append(("Accept-Encoding", "gzip"))
        return tuple(head), tuple(tail)

    def wire_headers(self, body_len: int) -> list[tuple[str, str]]:
        """The header lines Go writes for a body of this length, in Go's order."""
        if body_len > 0 or self._body_cl:
            return [*self._head, ("Content-Length", str(body_len)), *self._tail]
        return [*self._head, *self._tail]

    def checksum(self, body: bytes) -> bytes:
        """md5 of Go's wire form of a header-less request with this body (spec 3.5)."""
        h = self._sum_prefix.copy()
        if body or self._body_cl:
            h.update(b"Content-Length: %d\r\n\r\n" % len(body))
        else:
            h.update(b"\r\n")
        h.update(body)
        return h.digest()


def cert_checksum(event_type: str, cert_id: str, cert_name: str, when: str, api_id: str) -> bytes:
    """CertificateExpiringSoon / CertificateExpired: md5 of the fields, no separators."""
    return hashlib.md5(
        "".join((event_type, cert_id, cert_name, when, api_id)).encode("utf-8", "surrogateescape")
    ).digest()


def redirect_header(
    original: Header, initial: gourl.GoURL, dest: gourl.GoURL, referer: str, strip: bool
) -> tuple[Header, bool]:
    """Headers of a redirected request (net/http Client.do): the first request's headers,
    without credentials once a redirect has left the first host's domain (sticky), plus
    Referer. Returns the headers and the new sticky flag."""
    if not strip and initial.host != dest.host:
        i, d = initial.hostname().lower(), dest.hostname().lower()
        strip = not (d == i or d.endswith("." + i))
    h = {
        k: v for k, v in original.items() if not (strip and canonical_header_key(k) in SENSITIVE_ON_REDIRECT)
    }
    ref = header_get(h, "Referer") or referer
    if ref:
        h[canonical_header_key("Referer")] = [ref]
    return h, strip


def header_items(h: Header) -> list[list[object]]:
    """JSON form for dead letters: [[name, [values...]], ...] (a list keeps duplicates of
    names that differ only in case, as ignore_canonical_mime_header_key allows)."""
    return [[k, list(v)] for k, v in h.items()]


def header_from_items(items: Iterable[Iterable[object]]) -> Header:
    h: Header = {}
    for k, v in items:
        h[str(k)] = [str(x) for x in v]  # type: ignore[union-attr]
    return h
