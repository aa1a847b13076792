"""Go's http.Client and default Transport, on one pooled aiohttp session.

aiohttp would add headers of its own (Accept, its User-Agent, a Content-Type for bytes, Host
without a default port, Authorization from the URL) and would reorder them; a request here
carries exactly the header lines GoRequest.wire_headers gives, in Go's order, and aiohttp's
own are switched off. Proxies come from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as Go's default
transport takes them (or none, or given ones, or a Transport.Proxy function such as
proxy.StaticProxy). TLS is an ssl.SSLContext (golang/http/tls.py builds Go's); a Transport's
MaxIdleConns / MaxIdleConnsPerHost / IdleConnTimeout / TLSHandshakeTimeout are honoured.
Redirects are followed here rather than by aiohttp, with Client.do's rules
(golang/http/header.py). Client.Timeout bounds the request, its redirects and the body read
together.

A response body is read up to `read_limit` bytes; a longer one is not buffered: the
connection is closed instead of being returned to the pool. Errors are GoClientError, Go's
*url.Error: `Method "URL": what`, the URL without password or query, and the texts of
library errors scrubbed of the secrets of every URL of the redirect chain.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import ssl
import zlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp import client_reqrep
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tykevents.golang import url as gourl
from tykevents.golang.http import header as gh
from tykevents.golang.http.header import Header
from tykevents.golang.http.proxy import env_proxies, proxy_for
from tykevents.golang.http.request import GoRequest

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
# aiohttp's automatic headers, all off: the header list is complete as given.
_SKIP_AUTO_MD: CIMultiDict[None] = CIMultiDict(
    (h, None) for h in ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
)

# The exact header lines of the request being sent. ClientSession merges the headers it is
# given case-insensitively, which would fold `content-type` and `Content-Type` (both sent by
# Tyk with ignore_canonical_mime_header_key) into one; the request class reads this instead.
_WIRE: ContextVar[list[tuple[str, str]] | None] = ContextVar("tykevents_go_wire", default=None)


class _WireRequest(client_reqrep.ClientRequest):
    """Sends the header lines of _WIRE as they are, and no Content-Length aiohttp would add
    for a body-less DELETE (Go sends none; the list has one whenever Go sends one)."""

    def update_headers(self, headers: Any) -> None:
        wire = _WIRE.get()
        if wire is None:
            super().update_headers(headers)
            return
        self.headers = CIMultiDict(wire)

    def update_auto_headers(self, skip_auto_headers: Any) -> None:
        if _WIRE.get() is None:
            super().update_auto_headers(skip_auto_headers)
        else:  # the list is complete: no Accept, no aiohttp User-Agent, no Accept-Encoding
            self._skip_auto_headers = _SKIP_AUTO_MD

    def update_body_from_data(self, body: Any, _stacklevel: int = 3) -> None:
        if body is None:
            self._body = None
            return
        super().update_body_from_data(body, _stacklevel + 1)

    def send(self, conn: Any) -> Any:  # super's coroutine itself: no extra frame per request
        # Request.wantsClose (req.Close, or a Connection header saying close): the connection
        # ends with this exchange, whatever the server answers.
        connection = self.headers.get("Connection")
        if connection and conn.protocol is not None and gh.has_token(connection, "close"):
            conn.protocol.force_close()
        return super().send(conn)


class _GoConnector(aiohttp.TCPConnector):
    """aiohttp's pool with a Go Transport's idle limits: at most `max_idle_per_host` idle
    connections per host (one more is closed as it is released) and `max_idle` in all (the
    oldest idle one is closed to make room), and a TLS handshake bounded by
    `tls_handshake_timeout`. 0 / None: no limit."""

    def __init__(
        self, *, max_idle: int, max_idle_per_host: int, tls_handshake_timeout: float | None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.max_idle = max_idle
        self.max_idle_per_host = max_idle_per_host
        self.tls_handshake_timeout = tls_handshake_timeout

    def idle(self) -> dict[Any, int]:
        """Idle connections per pool key (for tests and metrics)."""
        return {k: len(v) for k, v in self._conns.items() if v}

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        if not should_close and self.max_idle_per_host:
            should_close = len(self._conns.get(key) or ()) >= self.max_idle_per_host
        if not should_close and self.max_idle and sum(len(v) for v in self._conns.values()) >= self.max_idle:
            self._evict_oldest()
        super()._release(key, protocol, should_close=should_close)

    def _evict_oldest(self) -> None:
        oldest = min((v[0][1], k) for k, v in self._conns.items() if v)[1]
        protocol, _ = self._conns[oldest].popleft()
        if not self._conns[oldest]:
            del self._conns[oldest]
        protocol.close()

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") and self.tls_handshake_timeout:
            kwargs["ssl_handshake_timeout"] = self.tls_handshake_timeout
        return await super()._wrap_create_connection(*args, **kwargs)


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

    __slots__ = ("status", "request", "headers", "body", "_raw", "_inflated", "_header")

    def __init__(
        self,
        status: int,
        request: GoRequest,
        headers: CIMultiDictProxy[str],
        raw: tuple[tuple[bytes, bytes], ...],
        body: bytes,
        inflated: bool,
    ) -> None:
        self.status = status
        self.request = request  # the request that got this response (Go's resp.Request)
        self.headers = headers  # aiohttp's view, for quick lookups by name
        self.body = body
        self._raw = raw
        self._inflated = inflated
        self._header: Header | None = None

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


def connect_url(req: GoRequest) -> URL:
    """The URL aiohttp connects to; its raw path and query are Go's request URI."""
    t = req.url
    host, port = t.hostname(), t.port()
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    authority = f"{host}:{port}" if port else host
    path, q, query = req.uri.partition("?")
    if q and not query:
        path += "?"  # Go keeps a lone "?" (ForceQuery)
    return URL.build(scheme=t.scheme, authority=authority, path=path, query_string=query, encoded=True)


class GoClient:
    """One http.Client with its Transport. Create, start and close it on the loop it serves.

    `proxies`: env_proxies()-shaped; None reads the environment, {} means no proxy; or a
    ProxyFunc (Transport.Proxy). `inflate`: decode a gzip reply the Transport asked for (Go
    always does; a caller that only logs bodies may keep them as sent). `verify_tls` False is
    InsecureSkipVerify; `ssl_context`, when given, is the whole TLSClientConfig instead.
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
        self.max_connections = max_connections  # 0: no limit
        self.max_per_host = max_per_host
        self.keepalive_timeout = keepalive_timeout
        self.max_idle = max_idle
        self.max_idle_per_host = max_idle_per_host
        self.tls_handshake_timeout = tls_handshake_timeout
        self.proxies = env_proxies() if proxies is None else proxies
        self.inflate = inflate
        # aiohttp's ssl=: True verifies with the system roots, False does not, or a context.
        self._ssl: bool | ssl.SSLContext = verify_tls if ssl_context is None else ssl_context
        self.session: aiohttp.ClientSession | None = None
        p = self.proxies
        self._use_proxy = callable(p) or bool(p.get("http") or p.get("https"))
        self._proxy_cache: dict[tuple[str, str], str | None] = {}

    async def start(self) -> None:
        if self.session is not None:
            return
        connector = _GoConnector(
            max_idle=self.max_idle,
            max_idle_per_host=self.max_idle_per_host,
            tls_handshake_timeout=self.tls_handshake_timeout,
            limit=self.max_connections,
            limit_per_host=self.max_per_host,
            keepalive_timeout=self.keepalive_timeout,
            ttl_dns_cache=10,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # Go's default client keeps no cookies
            auto_decompress=False,  # inflated here, only as Go's Transport does
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
            request_class=_WireRequest,
            trust_env=False,
            requote_redirect_url=False,
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def do(self, req: GoRequest, body: bytes = b"", *, timeout: float | None = None) -> GoResponse:
        """Client.Do: the request and its redirects within `timeout` (default: the client's).
        Raises GoClientError; anything else is a bug (or a closed session)."""
        if req.refusal is not None:
            raise GoClientError(REFUSED, req.refusal, req, req)
        chain = [req]
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                return await self._do(chain, body)
        except TimeoutError:
            raise GoClientError(TIMEOUT, _TIMEOUT_TEXT, req, chain[-1]) from None
        except aiohttp.InvalidURL as e:
            raise GoClientError(INVALID, _scrub(f"invalid URL: {e}", chain), req, chain[-1]) from None
        except aiohttp.ClientConnectorCertificateError as e:
            raise GoClientError(TLS, _scrub(f"tls: {e.certificate_error}", chain), req, chain[-1]) from None
        except (aiohttp.ClientError, OSError) as e:
            raise GoClientError(CONNECTION, _scrub(_describe(e), chain), req, chain[-1]) from None
        except ValueError as e:  # e.g. a port out of range
            raise GoClientError(INVALID, _scrub(str(e), chain), req, chain[-1]) from None

    def _proxy(self, req: GoRequest) -> str | None:
        """proxy_for (or the ProxyFunc), decided once per scheme and host (NO_PROXY parsing
        is not free); the proxy URL as aiohttp takes it."""
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
        session = self.session
        if session is None:
            raise RuntimeError("GoClient.start() was not called")
        first = req = chain[0]
        strip = False
        while True:
            _WIRE.set(req.wire_headers(len(body)))
            url = req.connect_url
            if url is None:
                url = req.connect_url = connect_url(req)
            async with session.request(
                req.method,
                url,
                data=body or None,
                allow_redirects=False,
                proxy=self._proxy(req) if self._use_proxy else None,
                ssl=self._ssl,
            ) as resp:
                status = resp.status
                location = resp.headers.get("Location", "") if status in gh.REDIRECT_STATUSES else ""
                if not location:
                    limit = self.read_limit + 1 if self.over_limit_fails else self.read_limit
                    return self._response(chain, resp, await _read_capped(resp, limit))
                await _read_capped(resp, _SLURP)
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

    def _response(self, chain: list[GoRequest], resp: aiohttp.ClientResponse, data: bytes) -> GoResponse:
        req = chain[-1]
        limit = self.read_limit
        if len(data) > limit:
            raise GoClientError(RESPONSE, f"response body larger than {limit} bytes", chain[0], req)
        inflated = False
        if self.inflate and req.gzip and resp.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                data = gzip.decompress(data) if data else data
            except (OSError, EOFError, zlib.error) as e:
                raise GoClientError(RESPONSE, f"gzip: {e}", chain[0], req) from None
            inflated = True
        return GoResponse(resp.status, req, resp.headers, resp.raw_headers, data, inflated)


def _proxy_url(proxy: str) -> str:
    """Go's Transport dials any proxy URL but socks5 as a plain HTTP proxy (TLS to it for
    https://); aiohttp knows http:// and https:// only."""
    scheme, sep, rest = proxy.partition("://")
    if sep and scheme.lower() not in ("http", "https", "socks5", "socks5h"):
        return "http://" + rest
    return proxy


def _scrub(text: str, chain: list[GoRequest]) -> str:
    for r in chain:
        text = gourl.scrub(text, r.raw_url)
    return text


def _describe(e: BaseException) -> str:
    """A library error as Go's net errors read."""
    if isinstance(e, aiohttp.ClientConnectorError) and "SSL handshake is taking longer" in str(e.os_error):
        return "net/http: TLS handshake timeout"
    if isinstance(e, aiohttp.ClientConnectorError):
        errno = getattr(e.os_error, "errno", None)
        why = f"connect: {os.strerror(errno).lower()}" if errno else str(e.os_error)
        return f"dial tcp {e.host}:{e.port}: {why}"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "EOF (server closed the connection)"
    return f"{type(e).__name__}: {e}"


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to `limit` bytes of the body; if there is more, close rather than buffer it."""
    n = resp.content_length
    if n is not None and n <= limit:
        return await resp.read()
    buf = bytearray()
    content = resp.content
    while len(buf) < limit:
        chunk = await content.read(min(65536, limit - len(buf)))
        if not chunk:
            return bytes(buf)
        buf += chunk
    if not content.at_eof():
        resp.close()  # drop the connection: the rest of the body is never read
    return bytes(buf)
