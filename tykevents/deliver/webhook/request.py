"""Tyk's webhook request and its cooldown checksum (docs/webhooks.md).

Tyk builds `http.NewRequest(method, target_path, body)`, sets `User-Agent: Tyk-Hookshot`,
applies header_map, fills Content-Type, and Go's client and transport then decide what goes on
the wire (tykevents.golang.http: header order, Host, Authorization from the URL). A
RequestPlan does all of that once per handler; per event only the body and its
Content-Length change. Headers are kept as Go keeps them: a dict of name -> values, names
canonicalised as textproto does (or verbatim with ignore_canonical_mime_header_key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tykevents.golang import url as gourl
from tykevents.golang.http.header import (
    BODY_METHODS,
    GO_USER_AGENT,
    Header,
    canonical_header_key,
    header_get,
    host_header,
)
from tykevents.golang.http.request import GoRequest

if TYPE_CHECKING:
    from tykevents.deliver.webhook.signing import Signer

VALID_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
METHOD_WARNING = "Method must be one of GET, PUT, POST, DELETE or PATCH, defaulting to GET"
TYK_USER_AGENT = "Tyk-Hookshot"
JSON = "application/json"


def request_method(method: str) -> tuple[str, bool]:
    """getRequestMethod: upper-cased; anything else than the five methods becomes GET."""
    m = method.upper()
    if m in VALID_METHODS:
        return m, True
    return "GET", False


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


class RequestPlan:
    """One request shape: method, URL and headers; bodies vary per event.

    `build_error`: http.NewRequest failed (Tyk: `Failed to create request object`, no
    cooldown). `send_error`: Go's client would refuse to send (unsupported scheme, no host,
    an invalid header); Tyk still sets the cooldown in that case. `request` is what the
    client sends (None after a build error). `signing`: the handler's own Standard Webhooks
    signer (docs/webhooks.md#signing), empty to sign nothing; None follows the global setting.
    The sender signs each attempt: the plan itself, like Tyk's request, has no such header.
    """

    __slots__ = (
        "method",
        "url",
        "header",
        "target",
        "request",
        "build_error",
        "host",
        "uri",
        "host_key",
        "_sum_prefix",
        "_body_cl",
        "signing",
    )

    def __init__(self, method: str, url: str, header: Header, signing: Signer | None = None) -> None:
        self.method = method
        self.url = url
        self.header = header
        self.signing = signing
        self.request: GoRequest | None = None
        self.build_error: str | None = None
        self.host = ""
        self.uri = "/"
        self.host_key = "-"
        self._body_cl = method in BODY_METHODS
        self._sum_prefix = hashlib.md5()
        try:
            self.target: gourl.GoURL | None = gourl.new_request_url(url)
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
        self.request = GoRequest(method, t, header, raw_url=url)
        self.host_key = self.request.host_key
        # Checksum: Write() of a header-less NewRequest (docs/webhooks.md).
        self._sum_prefix.update(
            f"{method} {self.uri} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {GO_USER_AGENT}\r\n".encode(
                "utf-8", "surrogateescape"
            )
        )

    @property
    def send_error(self) -> str | None:
        return self.request.send_error if self.request is not None else None

    def wire_headers(self, body_len: int) -> list[tuple[str, str]]:
        """The header lines Go writes for a body of this length, in Go's order."""
        return self.request.wire_headers(body_len) if self.request is not None else []

    def checksum(self, body: bytes) -> bytes:
        """md5 of Go's wire form of a header-less request with this body (docs/webhooks.md)."""
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


def header_items(h: Header) -> list[list[object]]:
    """JSON form for dead letters: [[name, [values...]], ...] (a list keeps duplicates of
    names that differ only in case, as ignore_canonical_mime_header_key allows)."""
    return [[k, list(v)] for k, v in h.items()]


def header_from_items(items: Iterable[Any]) -> Header:
    """header_items' inverse: [[name, [values...]], ...] -> Header."""
    h: Header = {}
    for k, v in items:
        h[str(k)] = [str(x) for x in v]
    return h
