"""Go's Transport for HTTP/1.1, on asyncio protocols (uvloop in the daemon).

The request bytes are written as given (GoRequest already holds Go's exact header lines), and
the response is parsed with httptools (llhttp). One connection carries one exchange at a time;
connections are kept per (scheme, host, port, proxy) in LIFO idle lists, as Go's Transport
keeps them, with its limits: connections in use per host and in all, MaxIdleConnsPerHost,
MaxIdleConns (the oldest idle one makes room), IdleConnTimeout, TLSHandshakeTimeout, and the
response header limit (MaxResponseHeaderBytes' default, 10 MiB).

A connection goes back to the pool only when its exchange ended cleanly: a complete response
the server does not close, nothing cancelled half-way. A body longer than the caller's limit
is not buffered: the connection is closed instead. Bodies without a length end at EOF (close-
delimited). An idle connection the server closes leaves the pool as soon as the close is seen.

Through an HTTP proxy, a plain-HTTP request is sent in absolute form (with Proxy-Authorization
from the proxy URL's userinfo, last, as Go writes its extra headers); HTTPS goes through a
CONNECT tunnel, then TLS to the target (docs/webhooks.md#the-http-client).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import os
import ssl
import time
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import httptools

MAX_HEADER_BYTES = 10 << 20  # Go's DefaultMaxHeaderBytes, the Transport's default limit
_NO_BODY_STATUS = (204, 304)
_TOO_MANY_HEADER_BYTES = f"net/http: server response headers exceeded {MAX_HEADER_BYTES} bytes; aborted"


class PoolKey(NamedTuple):
    scheme: str
    host: str  # as dialled: an IDNA-encoded name or an IP, without brackets
    port: int
    proxy: str | None  # the proxy URL, or None


class DialError(Exception):
    """The connection could not be made. `text` reads as Go's net error, without secrets
    (it names the address dialled, never a URL)."""

    def __init__(self, text: str, *, tls: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.tls = tls  # the certificate was refused: trying again cannot fix it


class ExchangeError(Exception):
    """The connection failed during an exchange (reset, EOF, a malformed reply)."""


class Response(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    truncated: bool  # the body went on past the caller's limit (the connection was closed)


class _Conn(asyncio.Protocol):
    """One HTTP/1.1 connection: write a request, parse its response with httptools."""

    __slots__ = (
        "key",
        "transport",
        "parser",
        "closed",
        "idle_since",
        "reused",
        "_waiter",
        "_status",
        "_headers",
        "_head_bytes",
        "_headers_done",
        "_length_known",
        "_body",
        "_body_len",
        "_limit",
        "_no_body",
        "_keep_alive",
        "got_bytes",
        "lost",
        "_loop",
    )

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self._waiter: asyncio.Future[Response] | None = None
        self.lost: asyncio.Future[None] | None = None  # done once the transport is gone
        self._reset(0, "")

    def _reset(self, limit: int, no_body: str) -> None:
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._headers_done = False
        self._length_known = False
        self._body: list[bytes] = []
        self._body_len = 0
        self._limit = limit
        self._no_body = no_body
        self._keep_alive = False
        self.got_bytes = False

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        # Kept for exchange() (a _Conn is only used connected): asyncio.get_running_loop()
        # makes a getpid() syscall on 3.11.
        self._loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.lost = self._loop.create_future()

    def data_received(self, data: bytes) -> None:
        w = self._waiter
        if w is None or w.done():  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self.got_bytes = True
        if not self._headers_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES:
                self._fail(ExchangeError(_TOO_MANY_HEADER_BYTES))
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(ExchangeError(f"malformed HTTP response: {e}"))

    def eof_received(self) -> bool:
        self._ended()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def _ended(self, exc: Exception | None = None) -> None:
        w = self._waiter
        if w is None or w.done():
            self.closed = True
            return
        if self._headers_done and not self._length_known and not self._no_body:
            self._finish(keep_alive=False)  # a close-delimited body ends here
            return
        if exc is not None:
            self._fail(ExchangeError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__))
        else:
            self._fail(ExchangeError("EOF (server closed the connection)" if self.got_bytes else "EOF"))

    # -- httptools callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        w = self._waiter
        if w is None or w.done():  # a reply nobody asked for: the connection cannot be trusted
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._headers = []  # an informational answer: the real one follows (as Go)
            return
        self._status = status
        self._headers_done = True
        self._keep_alive = self.parser.should_keep_alive()
        for k, v in self._headers:
            lk = k.lower()
            if lk == b"content-length" or (lk == b"transfer-encoding" and b"chunked" in v.lower()):
                self._length_known = True
        if self._no_body:
            # HEAD or CONNECT: llhttp does not know the request and would wait for a body; the
            # exchange ends here and the next one gets a fresh parser. A tunnel stays open.
            self._finish(keep_alive=self._keep_alive or self._no_body == "CONNECT")
        elif status in _NO_BODY_STATUS:
            self._finish(keep_alive=self._keep_alive)

    def on_body(self, body: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            return
        room = self._limit - self._body_len
        if len(body) > room:
            if room > 0:
                self._body.append(body[:room])
                self._body_len += room
            self._finish(keep_alive=False, truncated=True)
            return
        self._body.append(body)
        self._body_len += len(body)

    def on_message_complete(self) -> None:
        if self._headers_done and self._waiter is not None and not self._waiter.done():
            self._finish(keep_alive=self._keep_alive)

    # -- exchange ------------------------------------------------------------------------------

    def _finish(self, *, keep_alive: bool, truncated: bool = False) -> None:
        w = self._waiter
        if w is None or w.done():
            return
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        headers, self._headers, self._body = self._headers, [], []  # the reply owns them now
        if not keep_alive:
            self.close()
        w.set_result(Response(self._status, headers, body, truncated))

    def _fail(self, e: Exception) -> None:
        self.close()
        w = self._waiter
        if w is not None and not w.done():
            w.set_exception(e)

    def exchange(self, wire: bytes, limit: int, no_body: str = "") -> asyncio.Future[Response]:
        """Write `wire`; the future gets the response (its body up to `limit` bytes).
        `no_body`: "HEAD" or "CONNECT", whose replies end with their headers."""
        if self._no_body:  # the parser stopped after a reply's headers: start afresh
            self.parser = httptools.HttpResponseParser(self)
        self._reset(limit, no_body)
        w = self._waiter = self._loop.create_future()
        if self.closed:
            w.set_exception(ExchangeError("EOF"))
        else:
            self.transport.write(wire)
        return w

    def reusable(self) -> bool:
        w = self._waiter
        return (
            not self.closed
            and w is not None
            and w.done()
            and not w.cancelled()
            and w.exception() is None
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Transport:
    """Connection pools with Go's Transport limits. 0 means no limit; `keepalive_timeout`
    is IdleConnTimeout (0: idle connections never expire)."""

    def __init__(
        self,
        *,
        max_connections: int = 0,
        max_per_host: int = 0,
        max_idle: int = 0,
        max_idle_per_host: int = 0,
        keepalive_timeout: float = 30.0,
        tls_handshake_timeout: float | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.max_per_host = max_per_host
        self.max_idle = max_idle
        self.max_idle_per_host = max_idle_per_host
        self.keepalive_timeout = keepalive_timeout
        self.tls_handshake_timeout = tls_handshake_timeout
        self._idle: dict[PoolKey, list[_Conn]] = {}
        self._idle_count = 0
        self._active: collections.Counter[PoolKey] = collections.Counter()
        self._active_count = 0
        self._waiters: collections.deque[tuple[PoolKey, asyncio.Future[None]]] = collections.deque()
        self._all: set[_Conn] = set()
        self._closed = False
        self._swept = time.monotonic()

    def idle(self) -> dict[PoolKey, int]:
        """Idle connections per pool key (for tests and metrics)."""
        return {k: len(v) for k, v in self._idle.items() if v}

    # -- acquire / release -----------------------------------------------------------------------

    def _fits(self, key: PoolKey) -> bool:
        return (not self.max_connections or self._active_count < self.max_connections) and (
            not self.max_per_host or self._active[key] < self.max_per_host
        )

    def _take_idle(self, key: PoolKey) -> _Conn | None:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            c = conns.pop()  # the most recently used, as Go
            self._idle_count -= 1
            if c.closed or (self.keepalive_timeout and now - c.idle_since > self.keepalive_timeout):
                self._drop(c)
                continue
            return c
        return None

    async def acquire(
        self, key: PoolKey, ssl_ctx: ssl.SSLContext | None, server_hostname: str | None
    ) -> _Conn:
        """A connection for `key`: an idle one, or a new one. Waits (FIFO) while the limits
        on connections in use are reached; a freed slot is handed to the first waiter that
        fits, so newcomers cannot overtake it."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        if self._fits(key):
            self._active[key] += 1
            self._active_count += 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (key, fut)
            self._waiters.append(entry)
            try:
                await fut  # the slot is ours when this returns
            except BaseException:
                if fut.done() and not fut.cancelled():
                    self._done_active(key)  # handed over, but we leave: pass it on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(entry)
                raise
        c = self._take_idle(key)
        if c is not None:
            c.reused = True
            return c
        try:
            return await self._dial(key, ssl_ctx, server_hostname)
        except BaseException:
            self._done_active(key)
            raise

    def release(self, c: _Conn, reuse: bool) -> None:
        """The exchange on `c` is over: keep it idle if it can serve another, else close it."""
        self._done_active(c.key)
        if not reuse or self._closed or not c.reusable():
            self._drop(c)
            return
        now = time.monotonic()
        if now - self._swept > 1.0:
            self._sweep(now)
        key = c.key
        conns = self._idle.get(key)
        if conns is None:
            conns = self._idle[key] = []
        if self.max_idle_per_host and len(conns) >= self.max_idle_per_host:
            self._drop(c)
            return
        if self.max_idle and self._idle_count >= self.max_idle:
            self._evict_oldest()
        c.idle_since = now
        conns.append(c)
        self._idle_count += 1

    def _done_active(self, key: PoolKey) -> None:
        n = self._active[key] - 1
        if n:
            self._active[key] = n
        else:
            del self._active[key]
        self._active_count -= 1
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        """Hand the freed slot to the first waiter that fits (counted as in use already)."""
        for i, (key, fut) in enumerate(self._waiters):
            if fut.done():
                continue
            if self._fits(key):
                del self._waiters[i]
                self._active[key] += 1
                self._active_count += 1
                fut.set_result(None)
                return

    def _sweep(self, now: float) -> None:
        """Close idle connections past IdleConnTimeout or closed by their server."""
        self._swept = now
        limit = self.keepalive_timeout
        for key, conns in list(self._idle.items()):
            keep = [c for c in conns if not c.closed and not (limit and now - c.idle_since > limit)]
            if len(keep) != len(conns):
                for c in conns:
                    if c not in keep:
                        self._drop(c)
                self._idle_count -= len(conns) - len(keep)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    def _evict_oldest(self) -> None:
        oldest: _Conn | None = None
        for conns in self._idle.values():
            if conns and (oldest is None or conns[0].idle_since < oldest.idle_since):
                oldest = conns[0]
        if oldest is not None:
            self._idle[oldest.key].remove(oldest)
            self._idle_count -= 1
            self._drop(oldest)

    def _drop(self, c: _Conn) -> None:
        c.close()
        self._all.discard(c)

    # -- dialling --------------------------------------------------------------------------------

    async def _dial(self, key: PoolKey, ssl_ctx: ssl.SSLContext | None, server_hostname: str | None) -> _Conn:
        loop = asyncio.get_running_loop()
        c = _Conn(key)
        if key.proxy is None:
            await self._open(loop, c, key.host, key.port, ssl_ctx, server_hostname, "dial tcp")
        else:
            p = urlsplit(key.proxy)
            pscheme = p.scheme.lower()
            if pscheme not in ("http", "https"):
                raise DialError(f"proxyconnect tcp: proxy scheme {pscheme!r} is not supported")
            phost = p.hostname or ""
            pport = p.port or (443 if pscheme == "https" else 80)
            pctx = ssl.create_default_context() if pscheme == "https" else None
            what = "proxyconnect tcp: dial tcp"
            await self._open(loop, c, phost, pport, pctx, phost if pctx else None, what)
            if key.scheme == "https":
                await self._tunnel(loop, c, key, ssl_ctx, server_hostname)
        self._all.add(c)
        return c

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        c: _Conn,
        host: str,
        port: int,
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
        what: str,
    ) -> None:
        kw: dict[str, Any] = {}
        if ssl_ctx is not None:
            kw = {"ssl": ssl_ctx, "server_hostname": server_hostname or host}
            if self.tls_handshake_timeout:
                kw["ssl_handshake_timeout"] = self.tls_handshake_timeout
        addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            await loop.create_connection(lambda: c, host, port, **kw)
        except ssl.SSLCertVerificationError as e:
            raise DialError(f"tls: {e}", tls=True) from None
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as e:
            raise DialError(_net_error(e, what, addr)) from None

    async def _tunnel(
        self,
        loop: asyncio.AbstractEventLoop,
        c: _Conn,
        key: PoolKey,
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> None:
        """CONNECT host:port through the proxy, then TLS to the target over the tunnel."""
        assert key.proxy is not None
        target = f"[{key.host}]:{key.port}" if ":" in key.host else f"{key.host}:{key.port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", "User-Agent: Go-http-client/1.1"]
        auth = proxy_authorization(key.proxy)
        if auth:
            lines.append(f"Proxy-Authorization: {auth}")
        try:
            resp = await c.exchange(("\r\n".join(lines) + "\r\n\r\n").encode(), 0, no_body="CONNECT")
        except ExchangeError as e:
            c.close()
            raise DialError(f"proxyconnect tcp: {e}") from None
        if resp.status != 200:
            c.close()
            raise DialError(_STATUS_TEXT.get(resp.status, f"{resp.status}"))
        kw: dict[str, Any] = {"server_hostname": server_hostname or key.host}
        if self.tls_handshake_timeout:
            kw["ssl_handshake_timeout"] = self.tls_handshake_timeout
        try:
            tls = await loop.start_tls(c.transport, c, ssl_ctx or ssl.create_default_context(), **kw)
        except ssl.SSLCertVerificationError as e:
            c.close()
            raise DialError(f"tls: {e}", tls=True) from None
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as e:
            c.close()
            raise DialError(_net_error(e, "dial tcp", target)) from None
        c.transport = tls
        c.parser = httptools.HttpResponseParser(c)
        c._reset(0, "")

    async def close(self) -> None:
        self._closed = True
        conns = list(self._all)
        for conns_ in self._idle.values():
            conns_.clear()
        self._idle_count = 0
        for c in conns:
            c.close()
        self._all.clear()
        waits = [c.lost for c in conns if c.lost is not None and not c.lost.done()]
        if waits:  # let the transports finish closing before the loop may go away
            await asyncio.wait(waits, timeout=1.0)


def proxy_authorization(proxy: str) -> str:
    """Basic credentials from the proxy URL's userinfo, or "" (Go's Proxy-Authorization)."""
    p = urlsplit(proxy)
    if p.username is None:
        return ""
    creds = f"{unquote(p.username)}:{unquote(p.password or '')}"
    return "Basic " + base64.b64encode(creds.encode()).decode()


def _net_error(e: BaseException, what: str, addr: str) -> str:
    text = str(e)
    if "SSL handshake is taking longer" in text or isinstance(e, TimeoutError):
        return "net/http: TLS handshake timeout"
    errno = getattr(e, "errno", None)
    if errno and isinstance(e, OSError) and not isinstance(e, ssl.SSLError):
        return f"{what} {addr}: connect: {os.strerror(errno).lower()}"
    return f"{what} {addr}: {type(e).__name__}: {text}" if text else f"{what} {addr}: {type(e).__name__}"


# The reason phrases Go's CONNECT error repeats (the status text after the code).
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
