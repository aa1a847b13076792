"""A request as Go's client sends it: http.NewRequest, then what Client.send and
Request.write derive from it (Authorization from userinfo, the Host line, the header lines
in wire order, the Transport's refusals), worked out once. Bodies vary per send: only the
Content-Length line depends on them.
"""

from __future__ import annotations

from tykevents.golang import url as gourl
from tykevents.golang.http import header as gh
from tykevents.golang.http.header import Header


class NewRequestError(ValueError):
    """http.NewRequest failed: an invalid method or URL (the text is Go's)."""


def new_request(method: str, url: str) -> tuple[str, gourl.GoURL]:
    """http.NewRequest's checks: "" means GET, the method must be a token, the URL parse."""
    method = method or "GET"
    if not gh.valid_method(method):
        raise NewRequestError(f"net/http: invalid method {gourl._go_quote(method)}")
    try:
        return method, gourl.new_request_url(url)
    except gourl.GoURLError as e:
        raise NewRequestError(str(e)) from None


class GoRequest:
    """One request shape: method, URL, headers, req.Close.

    `refusal`: why the Transport would not send it (unsupported scheme, no host, an invalid
    header field, a host that cannot be punycoded), without the `Op "URL": ` prefix;
    `send_error` is the whole text. `raw_url` is the URL as the caller wrote it (error texts
    are scrubbed of its secrets).
    """

    __slots__ = (
        "method",
        "url",
        "header",
        "close",
        "raw_url",
        "host",
        "uri",
        "host_key",
        "refusal",
        "gzip",
        "op",
        "route",
        "wants_close",
        "_head",
        "_tail",
        "_body_cl",
        "_wire",
    )

    def __init__(
        self,
        method: str,
        url: gourl.GoURL,
        header: Header,
        *,
        close: bool = False,
        raw_url: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.header = header
        self.close = close
        self.raw_url = url.string() if raw_url is None else raw_url
        self.uri = url.request_uri()
        self.op = f'{gh.url_error_op(method)} "{url.safe()}"'  # logged: no password, no query
        self.route: tuple[str, int, bool] | None = None  # the client's (host, port, TLS), made once
        self.wants_close = close  # Request.wantsClose: req.Close or a Connection: close line
        self._wire: tuple[bytes, bytes] | None = None
        self.refusal: str | None = None
        self.gzip = False
        self._head: tuple[tuple[str, str], ...] = ()
        self._tail: tuple[tuple[str, str], ...] = ()
        self._body_cl = method in gh.BODY_METHODS
        hostname, port = url.hostname().lower(), url.port()
        self.host_key = "-"
        if hostname:
            default = {"http": "80", "https": "443"}.get(url.scheme, "")
            self.host_key = f"{hostname}:{port or default}"
        self.host = ""
        self.refusal = self._check()
        try:
            self.host = gh.host_header(url)
        except ValueError as e:  # Request.write fails on it
            self.refusal = self.refusal or str(e)
            return
        self._head, self._tail, self.gzip = gh.wire_parts(self.host, method, self.effective_header(), close)
        self.wants_close = close or any(
            k.lower() == "connection" and gh.has_token(v, "close") for k, v in (*self._head, *self._tail)
        )

    @property
    def send_error(self) -> str | None:
        return None if self.refusal is None else f"{self.op}: {self.refusal}"

    def effective_header(self) -> Header:
        """The headers Go's client sends: Authorization added from user:pass@ if not set."""
        auth = self.url.basic_auth()
        if auth is None or gh.header_get(self.header, "Authorization") != "":
            return self.header
        h = dict(self.header)
        h["Authorization"] = [auth]
        return h

    def _check(self) -> str | None:
        u = self.url
        if u.scheme not in ("http", "https"):
            return f"unsupported protocol scheme {gourl._go_quote(u.scheme)}"
        if not u.host:
            return "http: no Host in request URL"
        return gh.check_header(self.effective_header())

    def wire_headers(self, body_len: int) -> list[tuple[str, str]]:
        """The header lines Go writes for a body of this length, in Go's order."""
        if body_len > 0 or self._body_cl:
            return [*self._head, ("Content-Length", str(body_len)), *self._tail]
        return [*self._head, *self._tail]

    def wire(self, body_len: int) -> bytes:
        """The request line and header lines, as bytes, for a body of this length sent to the
        origin server. Encoded once per request: only the Content-Length line varies."""
        parts = self._wire
        if parts is None:
            head = f"{self.method} {self.uri} HTTP/1.1\r\n" + _lines(self._head)
            parts = self._wire = (_encode(head), _encode(_lines(self._tail) + "\r\n"))
        if body_len > 0 or self._body_cl:
            return b"%sContent-Length: %d\r\n%s" % (parts[0], body_len, parts[1])
        return parts[0] + parts[1]

    def proxy_wire(self, body_len: int, proxy_authorization: str) -> bytes:
        """wire() for a plain-HTTP request to a proxy: the absolute URI in the request line,
        and Proxy-Authorization last, where Go writes its extra headers."""
        lines = self.wire_headers(body_len)
        if proxy_authorization:
            lines.append(("Proxy-Authorization", proxy_authorization))
        uri = f"{self.url.scheme}://{self.host}{self.uri}"
        return _encode(f"{self.method} {uri} HTTP/1.1\r\n" + _lines(lines) + "\r\n")

    def redirect(self, first: GoRequest, status: int, location: str, strip: bool) -> tuple[GoRequest, bool]:
        """The next request of a redirect chain, as Client.do builds it (the caller drops
        the body unless redirect_method says to keep it). Raises GoURLError for a Location
        that does not parse."""
        dest = gourl.resolve(self.url, location)
        method, _ = gh.redirect_method(status, self.method)
        header, strip = gh.redirect_header(first.header, first.url, dest, gh.referer(self.url, dest), strip)
        # req.Close carries over, as the JS helper has always sent it (Go's Client.do drops it).
        return GoRequest(method, dest, header, close=first.close), strip


def _lines(lines: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in lines)


def _encode(text: str) -> bytes:
    # Go writes a header value's bytes as given; surrogateescape carries raw bytes through.
    return text.encode("utf-8", "surrogateescape")
