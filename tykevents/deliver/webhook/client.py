"""One HTTP attempt of a webhook, on one pooled aiohttp session.

aiohttp would add headers of its own (Accept, its User-Agent, a Content-Type for bytes, Host
without a default port, Authorization from the URL) and would reorder them; the request here
carries exactly the header lines RequestPlan.wire_headers gives, in Go's order, and aiohttp's
own are switched off. Proxies come from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as
Go's default client takes them. Redirects are followed here rather than by aiohttp, with Go's client
rules (at most 10; 301/302/303 turn into a body-less GET, 307/308 keep method and body;
credentials dropped when leaving the domain; Referer added).

The response body is read up to `body_read_limit`; a longer one is not buffered: the
connection is closed instead of being returned to the pool.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp import client_reqrep
from multidict import CIMultiDict
from yarl import URL

from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.request import RequestPlan, redirect_header, url_error_op
from tykevents.golang import url as gourl
from tykevents.golang.http.proxy import env_proxies, proxy_for

MAX_REDIRECTS = 10
REDIRECTS = frozenset((301, 302, 303, 307, 308))
RETRY_STATUSES = frozenset((408, 429))  # and every 5xx
# aiohttp's automatic headers, all off: the header list is complete as given.
_SKIP_AUTO = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_SKIP_AUTO_MD: CIMultiDict[None] = CIMultiDict((h, None) for h in _SKIP_AUTO)


# The exact header lines of the request being sent. ClientSession merges the headers it is
# given case-insensitively, which would fold `content-type` and `Content-Type` (both sent by
# Tyk with ignore_canonical_mime_header_key) into one; the request class reads this instead.
_WIRE: ContextVar[list[tuple[str, str]] | None] = ContextVar("tykevents_webhook_wire", default=None)


class _GoRequest(client_reqrep.ClientRequest):
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


class Result:
    """What one attempt gave: an HTTP status or an error, and whether to try again."""

    __slots__ = ("status", "error", "retry", "retry_after", "body")

    def __init__(
        self,
        status: int | None = None,
        error: str = "",
        retry: bool = False,
        retry_after: float | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.error = error
        self.retry = retry
        self.retry_after = retry_after
        self.body = body  # the first bytes of the response body (DEBUG logs only)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def label(self) -> str:
        return f"{self.status // 100}xx" if self.status is not None else "error"

    def __repr__(self) -> str:
        return f"Result(status={self.status}, error={self.error!r}, retry={self.retry})"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def connect_url(plan: RequestPlan) -> URL:
    """The URL aiohttp connects to; its raw path and query are Go's request URI."""
    t = plan.target
    assert t is not None
    host, port = t.hostname(), t.port()
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    authority = f"{host}:{port}" if port else host
    path, q, query = plan.uri.partition("?")
    if q and not query:
        path += "?"  # Go keeps a lone "?" (ForceQuery)
    return URL.build(scheme=t.scheme, authority=authority, path=path, query_string=query, encoded=True)


class HttpSender:
    """Sends one attempt (redirects included). Create and close it on the running loop."""

    def __init__(self, settings: WebhookSettings, proxies: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.proxies = env_proxies() if proxies is None else proxies
        self._session: aiohttp.ClientSession | None = None
        self._proxy_cache: dict[tuple[str, str], str | None] = {}

    async def start(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_connections,
            limit_per_host=0,  # the service caps concurrency per host itself
            keepalive_timeout=self.settings.keepalive_timeout,
            ttl_dns_cache=10,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # Go's default client keeps no cookies
            auto_decompress=False,  # the body is only logged, never interpreted
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
            request_class=_GoRequest,
            trust_env=False,
            requote_redirect_url=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, plan: RequestPlan, body: bytes) -> Result:
        """One attempt within `settings.timeout`; never raises but on cancellation (or a bug).

        Error texts are logged and listed: their URLs are redacted (gourl.redact), and
        library errors are scrubbed of the password and query of every URL of the chain."""
        if plan.build_error or plan.send_error:
            return Result(error=plan.build_error or plan.send_error or "")
        chain = [plan]
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await self._send(chain, body)
        except TimeoutError:
            return Result(
                error=_op(plan) + ": context deadline exceeded (Client.Timeout exceeded)", retry=True
            )
        except aiohttp.InvalidURL as e:
            return Result(error=_scrub(f"{_op(plan)}: invalid URL: {e}", chain))
        except aiohttp.ClientConnectorCertificateError as e:  # retrying cannot fix a certificate
            return Result(error=_scrub(f"{_op(plan)}: tls: {e.certificate_error}", chain))
        except (aiohttp.ClientError, OSError) as e:
            return Result(error=_scrub(f"{_op(plan)}: {_describe(e)}", chain), retry=True)
        except ValueError as e:  # e.g. a port out of range
            return Result(error=_scrub(f"{_op(plan)}: {e}", chain))

    def _proxy(self, plan: RequestPlan) -> str | None:
        """proxy_for, decided once per scheme and host:port (NO_PROXY parsing is not free)."""
        assert plan.target is not None
        key = (plan.target.scheme, plan.host_key)
        try:
            return self._proxy_cache[key]
        except KeyError:
            pass
        if len(self._proxy_cache) >= 4096:  # hosts are few per configuration; bound it anyway
            self._proxy_cache.clear()
        proxy = self._proxy_cache[key] = proxy_for(plan, self.proxies)
        return proxy

    async def _send(self, chain: list[RequestPlan], body: bytes) -> Result:
        session = self._session
        if session is None:
            raise RuntimeError("HttpSender.start() was not called")
        plan = chain[0]
        first, strip, hops = plan, False, 0
        limit = self.settings.body_read_limit
        use_proxy = bool(self.proxies["http"] or self.proxies["https"])
        while True:
            _WIRE.set(plan.wire_headers(len(body)))
            url = plan.connect_url
            if url is None:
                url = plan.connect_url = connect_url(plan)
            proxy = self._proxy(plan) if use_proxy else None
            async with session.request(
                plan.method,
                url,
                data=body or None,
                allow_redirects=False,
                proxy=proxy,
            ) as resp:
                status = resp.status
                location = resp.headers.get("Location", "") if status in REDIRECTS else ""
                if location:
                    await _read_capped(resp, 2048)  # as Go: slurp a little, then close
                    hops += 1
                    if hops >= MAX_REDIRECTS:
                        return Result(status=status, error=f"{_op(plan)}: stopped after 10 redirects")
                    try:
                        plan, body, strip = _redirect(first, plan, body, status, location, strip)
                    except gourl.GoURLError as e:
                        return Result(
                            status=status,
                            error=f"{_op(plan)}: failed to parse Location header "
                            f"{gourl._go_quote(gourl.redact(location))}: {e}",
                        )
                    chain.append(plan)
                    if plan.send_error:
                        return Result(status=status, error=plan.send_error)
                    continue
                data = await _read_capped(resp, limit)
                retry = status >= 500 or status in RETRY_STATUSES
                return Result(
                    status=status,
                    error="" if 200 <= status < 300 else f"Request to webhook failed: responseCode {status}",
                    retry=retry,
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")) if retry else None,
                    body=data[:1024],
                )


def _op(plan: RequestPlan) -> str:
    """Go's `Post "<url>"` error prefix; the URL without password or query (it is logged)."""
    url = plan.target.safe() if plan.target is not None else gourl.redact(plan.url)
    return f'{url_error_op(plan.method)} "{url}"'


def _scrub(text: str, chain: list[RequestPlan]) -> str:
    for p in chain:
        text = gourl.scrub(text, p.url)
    return text


def _describe(e: BaseException) -> str:
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


def _redirect(
    first: RequestPlan, prev: RequestPlan, body: bytes, status: int, location: str, strip: bool
) -> tuple[RequestPlan, bytes, bool]:
    """The next request of a redirect chain, as Go's Client.do builds it."""
    assert prev.target is not None and first.target is not None
    dest = gourl.resolve(prev.target, location)
    if status in (307, 308):
        method = prev.method
    else:
        method = prev.method if prev.method in ("GET", "HEAD") else "GET"
        body = b""
    referer = (
        ""
        if (prev.target.scheme == "https" and dest.scheme == "http")
        else prev.target.string(userinfo=False)
    )
    header, strip = redirect_header(first.header, first.target, dest, referer, strip)
    return RequestPlan(method, dest.string(), header, target=dest), body, strip
