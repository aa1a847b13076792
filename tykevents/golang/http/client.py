"""Go's http.Client on our own Transport (golang/http/transport.py): asyncio protocols,
httptools parsing, per-host keep-alive pools.

A request carries exactly the bytes GoRequest.wire gives (Go's header lines, in Go's order), and
nothing else. Proxies come from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as Go's default transport
takes them (or none, or given ones, or a Transport.Proxy function such as
proxy.StaticProxy). TLS is an ssl.SSLContext (golang/http/tls.py builds Go's); a Transport's
MaxIdleConns / MaxIdleConnsPerHost / IdleConnTimeout / TLSHandshakeTimeout are honoured.
Redirects follow Client.do's rules (golang/http/header.py). Client.Timeout bounds the request,
its redirects and the body read together.

A response body is read up to `read_limit` bytes; a longer one is not buffered: the
connection is closed instead of being returned to the pool. Errors are GoClientError, Go's
*url.Error: `Method "URL": what`, the URL without password or query, and the texts of
library errors scrubbed of the secrets of every URL of the redirect chain.
"""

from __future__ import annotations

import gzip
import ssl
import zlib
from collections.abc import Callable

from multidict import CIMultiDict, CIMultiDictProxy

from tykevents.golang import url as gourl
from tykevents.golang.http import header as gh
from tykevents.golang.http.deadlines import Deadlines
from tykevents.golang.http.header import Header
from tykevents.golang.http.proxy import env_proxies, proxy_for
from tykevents.golang.http.request import GoRequest
from tykevents.golang.http.transport import (
    DialError,
    ExchangeError,
    PoolKey,
    Response,
    Transport,
    proxy_authorization,
)

# Transport.Proxy: the proxy URL for a request's URL, or None.
ProxyFunc = Callable[[gourl.GoURL], "str | None"]

# GoClientError.kind: what went wrong, for callers that decide whether to try again.
TIMEOUT = "timeout"  # Client.Timeout exceeded
CONNECTION = "connection"  # dial, reset, EOF: the network, maybe for a moment
TLS = "tls"  # the certificate: trying again cannot fix it
INVALID = "invalid"  # the request cannot be made (an invalid URL, a port out of range)
REFUSED = "refused"  # the Transport would not send it (GoRequest.refusal)
REDIRECT = "redirect"  # the redirect policy stopped: 10 redirects, an unreadable Location
RESPONSE = "response"  # the reply cannot be decoded (a broken gzip body)

_TIMEOUT_TEXT = "context deadline exceeded (Client.Timeout exceeded)"
_SLURP = 2048  # of a redirect's body, read before its connection is reused (as Go)
# Request.isReplayable: what Go sends again on a fresh connection when a reused one fails
# before any answer (a server that closed a kept-alive connection as we wrote).
_REPLAYABLE = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))


class GoClientError(Exception):
    """Client.Do failed. `req` is the request the error is about (a redirect's, after
    one), `first` the one given to do(), `err` the text after `Method "URL": `, `status`
    the redirect response's status for REDIRECT errors and a refused redirect."""

    def __init__(
        self, kind: str, err: str, first: GoRequest, req: GoRequest, status: int | None = None
    ) -> None:
        super().__init__(err)
        self.kind = kind
        self.err = err
        self.first = first
        self.req = req
        self.status = status

    def __str__(self) -> str:
        return f"{self.req.op}: {self.err}"


class GoResponse:
    """Status, headers and the (capped) body of the last response of a chain."""

    __slots__ = ("status", "request", "body", "_raw", "_inflated", "_header", "_headers")

    def __init__(
        self,
        status: int,
        request: GoRequest,
        raw: list[tuple[bytes, bytes]],
        body: bytes,
        inflated: bool,
    ) -> None:
        self.status = status
        self.request = request  # the request that got this response (Go's resp.Request)
        self.body = body
        self._raw = raw
        self._inflated = inflated
        self._header: Header | None = None
        self._headers: CIMultiDictProxy[str] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers as received, for quick lookups by any case of a name (made on first use:
        most deliveries never look)."""
        h = self._headers
        if h is None:
            h = self._headers = CIMultiDictProxy(
                CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw)
            )
        return h

    @property
    def header(self) -> Header:
        """Go's resp.Header: canonical names, values as received (read as Latin-1), without
        Transfer-Encoding (and Content-Length beside it), and without Content-Encoding and
        Content-Length once the Transport has inflated a gzip body."""
        h = self._header
        if h is None:
            h = self._header = {}
            for k, v in self._raw:
                h.setdefault(gh.canonical_header_key(k.decode("latin-1")), []).append(v.decode("latin-1"))
            if h.pop("Transfer-Encoding", None) is not None:
                h.pop("Content-Length", None)
            if self._inflated:
                h.pop("Content-Encoding", None)
                h.pop("Content-Length", None)
        return h


def _raw_header(raw: list[tuple[bytes, bytes]], name: bytes) -> str:
    """The first value of header `name` (lower case), or ""."""
    for k, v in raw:
        if len(k) == len(name) and k.lower() == name:
            return v.decode("latin-1")
    return ""


def _unverified_context() -> ssl.SSLContext:
    """InsecureSkipVerify: TLS without checking the certificate or its name."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class GoClient:
    """One http.Client with its Transport. Create, start and close it on the loop it serves.

    `proxies`: env_proxies()-shaped; None reads the environment, {} means no proxy; or a
    ProxyFunc (Transport.Proxy). `inflate`: decode a gzip reply the Transport asked for (Go
    always does; a caller that only logs bodies may keep them as sent). `verify_tls` False is
    InsecureSkipVerify; `ssl_context`, when given, is the whole TLSClientConfig instead.
    `max_connections` and `max_per_host` bound the connections in use (0: no limit);
    `max_idle`, `max_idle_per_host` (0: no limit), `keepalive_timeout` (IdleConnTimeout) and
    `tls_handshake_timeout` are the Transport's. A body longer than `read_limit` is cut
    there, or with `over_limit_fails` is an error (RESPONSE); either way the rest is never
    read.
    """

    def __init__(
        self,
        *,
        timeout: float,
        read_limit: int,
        max_connections: int = 0,
        max_per_host: int = 0,
        keepalive_timeout: float = 30.0,
        proxies: dict[str, str] | ProxyFunc | None = None,
        inflate: bool = True,
        verify_tls: bool = True,
        over_limit_fails: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 0,
        max_idle_per_host: int = 0,
        tls_handshake_timeout: float | None = None,
    ) -> None:
        self.timeout = timeout
        self.read_limit = read_limit
        self.over_limit_fails = over_limit_fails
        self.proxies = env_proxies() if proxies is None else proxies
        self.inflate = inflate
        self.max_connections = max_connections  # in use, 0: no limit
        self.max_per_host = max_per_host
        self.keepalive_timeout = keepalive_timeout
        self.max_idle = max_idle
        self.max_idle_per_host = max_idle_per_host
        self.tls_handshake_timeout = tls_handshake_timeout
        self.transport: Transport | None = None
        self._verify_tls = verify_tls
        self._ssl_given = ssl_context
        self._ssl: ssl.SSLContext | None = None
        p = self.proxies
        self._use_proxy = callable(p) or bool(p.get("http") or p.get("https"))
        self._proxy_cache: dict[tuple[str, str], str | None] = {}
        self._deadlines = Deadlines()  # every request's timeout on one timer (deadlines.py)

    async def start(self) -> None:
        if self.transport is not None:
            return
        self.transport = Transport(
            max_connections=self.max_connections,
            max_per_host=self.max_per_host,
            max_idle=self.max_idle,
            max_idle_per_host=self.max_idle_per_host,
            keepalive_timeout=self.keepalive_timeout,
            tls_handshake_timeout=self.tls_handshake_timeout,
        )

    async def close(self) -> None:
        if self.transport is not None:
            t, self.transport = self.transport, None
            await t.close()

    def idle(self) -> dict[PoolKey, int]:
        """Idle connections per pool key (for tests and metrics)."""
        return {} if self.transport is None else self.transport.idle()

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = self._ssl
        if ctx is None:
            if self._ssl_given is not None:
                ctx = self._ssl_given
            elif self._verify_tls:
                ctx = ssl.create_default_context()
            else:
                ctx = _unverified_context()
            self._ssl = ctx
        return ctx

    async def do(self, req: GoRequest, body: bytes = b"", *, timeout: float | None = None) -> GoResponse:
        """Client.Do: the request and its redirects within `timeout` (default: the client's).
        Raises GoClientError; anything else is a bug (or a closed client)."""
        if req.refusal is not None:
            raise GoClientError(REFUSED, req.refusal, req, req)
        chain = [req]
        try:
            async with self._deadlines.after(self.timeout if timeout is None else timeout):
                return await self._do(chain, body)
        except TimeoutError:
            raise GoClientError(TIMEOUT, _TIMEOUT_TEXT, req, chain[-1]) from None
        except DialError as e:
            kind = TLS if e.tls else CONNECTION
            raise GoClientError(kind, _scrub(e.text, chain), req, chain[-1]) from None
        except ExchangeError as e:
            raise GoClientError(CONNECTION, _scrub(str(e), chain), req, chain[-1]) from None
        except OSError as e:
            text = _scrub(f"{type(e).__name__}: {e}", chain)
            raise GoClientError(CONNECTION, text, req, chain[-1]) from None
        except (ValueError, OverflowError) as e:  # e.g. a port out of range
            raise GoClientError(INVALID, _scrub(str(e), chain), req, chain[-1]) from None

    def _proxy(self, req: GoRequest) -> str | None:
        """proxy_for (or the ProxyFunc), decided once per scheme and host (NO_PROXY parsing
        is not free)."""
        p = self.proxies
        key = (req.url.scheme, req.url.host if callable(p) else req.host_key)
        try:
            return self._proxy_cache[key]
        except KeyError:
            pass
        if len(self._proxy_cache) >= 4096:  # hosts are few per configuration; bound it anyway
            self._proxy_cache.clear()
        proxy = p(req.url) if callable(p) else proxy_for(req.url, p)
        proxy = self._proxy_cache[key] = _proxy_url(proxy) if proxy else None
        return proxy

    async def _do(self, chain: list[GoRequest], body: bytes) -> GoResponse:
        transport = self.transport
        if transport is None:
            raise RuntimeError("GoClient.start() was not called")
        first = req = chain[0]
        strip = False
        while True:
            status, raw, data, _ = await self._send(transport, req, body)
            location = _raw_header(raw, b"location") if status in gh.REDIRECT_STATUSES else ""
            if not location:
                return self._response(chain, status, raw, data)
            if len(chain) >= gh.MAX_REDIRECTS:
                raise GoClientError(REDIRECT, gh.STOPPED_AFTER_REDIRECTS, first, req, status)
            try:
                nxt, strip = req.redirect(first, status, location, strip)
            except gourl.GoURLError as e:
                where = gourl._go_quote(gourl.redact(location))
                raise GoClientError(
                    REDIRECT, f"failed to parse Location header {where}: {e}", first, req, status
                ) from None
            chain.append(nxt)
            if nxt.refusal is not None:
                raise GoClientError(REFUSED, nxt.refusal, first, nxt, status)
            if not gh.redirect_method(status, req.method)[1]:
                body = b""
            req = nxt

    async def _send(self, transport: Transport, req: GoRequest, body: bytes) -> Response:
        """One exchange on a pooled connection; a redirect's body is read only in part."""
        route = req.route
        if route is None:
            route = req.route = _route(req)
        host, port, is_https = route
        proxy = self._proxy(req) if self._use_proxy else None
        key = PoolKey(req.url.scheme, host, port, proxy)
        if proxy is not None and not is_https:  # a plain-HTTP request to a proxy: absolute form
            wire = req.proxy_wire(len(body), proxy_authorization(proxy))
        else:
            wire = req.wire(len(body))
        if body:
            wire += body
        close = req.wants_close
        limit = self.read_limit + 1 if self.over_limit_fails else self.read_limit
        ctx = self._ssl_context() if is_https else None
        no_body = "HEAD" if req.method == "HEAD" else ""
        retried = False
        while True:
            conn = await transport.acquire(key, ctx, host)
            ok = False
            try:
                resp = await conn.exchange(wire, max(limit, _SLURP), no_body)
                ok = True
            except ExchangeError:
                # Go sends a replayable request again when a reused connection failed before
                # any answer: the server had closed it while it sat idle.
                if retried or not conn.reused or conn.got_bytes or not _replayable(req):
                    raise
                retried = True
                continue
            finally:
                transport.release(conn, ok and not close)
            return resp

    def _response(
        self, chain: list[GoRequest], status: int, raw: list[tuple[bytes, bytes]], data: bytes
    ) -> GoResponse:
        req = chain[-1]
        limit = self.read_limit
        if len(data) > limit:
            if self.over_limit_fails:
                raise GoClientError(RESPONSE, f"response body larger than {limit} bytes", chain[0], req)
            data = data[:limit]
        inflated = False
        if self.inflate and req.gzip and _raw_header(raw, b"content-encoding").lower() == "gzip":
            try:
                data = gzip.decompress(data) if data else data
            except (OSError, EOFError, zlib.error) as e:
                raise GoClientError(RESPONSE, f"gzip: {e}", chain[0], req) from None
            inflated = True
        return GoResponse(status, req, raw, data, inflated)


def _route(req: GoRequest) -> tuple[str, int, bool]:
    """Where a request's connection goes: host as dialled (IDNA, no brackets), port, TLS."""
    t = req.url
    host = t.hostname()
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    is_https = t.scheme == "https"
    port = t.port()
    n = int(port) if port else (443 if is_https else 80)
    if not 0 < n < 65536:
        raise ValueError(f"dial tcp: address {port}: invalid port")
    return host, n, is_https


def _replayable(req: GoRequest) -> bool:
    if req.method in _REPLAYABLE:
        return True
    return any(k in req.header for k in ("Idempotency-Key", "X-Idempotency-Key"))


def _proxy_url(proxy: str) -> str:
    """Go's Transport dials any proxy URL but socks5 as a plain HTTP proxy (TLS to it for
    https://)."""
    scheme, sep, rest = proxy.partition("://")
    if sep and scheme.lower() not in ("http", "https", "socks5", "socks5h"):
        return "http://" + rest
    return proxy


def _scrub(text: str, chain: list[GoRequest]) -> str:
    for r in chain:
        text = gourl.scrub(text, r.raw_url)
    return text
