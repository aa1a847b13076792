"""One HTTP attempt of a webhook: Go's client (tykevents.golang.http.client), plus what
the delivery service needs to know of the outcome: the status or the error text, whether
trying again may help, and how long the receiver asked us to wait (Retry-After).

The reply body is read up to `body_read_limit` and kept as sent (never inflated: it is only
logged).
"""

from __future__ import annotations

import email.utils
import time

import aiohttp

from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.request import RequestPlan
from tykevents.golang.http.client import CONNECTION, REDIRECT, REFUSED, TIMEOUT, GoClient, GoClientError

RETRY_STATUSES = frozenset((408, 429))  # and every 5xx


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


class HttpSender:
    """Sends one attempt (redirects included). Create and close it on the running loop."""

    def __init__(self, settings: WebhookSettings, proxies: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.client = GoClient(
            timeout=settings.timeout,
            read_limit=settings.body_read_limit,
            max_connections=settings.max_connections,
            max_per_host=0,  # the service caps concurrency per host itself
            keepalive_timeout=settings.keepalive_timeout,
            proxies=proxies,
            inflate=False,
        )

    @property
    def _session(self) -> aiohttp.ClientSession | None:
        return self.client.session

    async def start(self) -> None:
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    async def send(self, plan: RequestPlan, body: bytes) -> Result:
        """One attempt within `settings.timeout`; never raises but on cancellation (or a bug).

        Error texts are logged and listed: their URLs are redacted (gourl.redact), and
        library errors are scrubbed of the password and query of every URL of the chain."""
        req = plan.request
        if req is None or req.refusal is not None:
            return Result(error=plan.build_error or plan.send_error or "")
        try:
            resp = await self.client.do(req, body)
        except GoClientError as e:
            if e.kind in (REDIRECT, REFUSED):  # Go's redirect policy: the chain's own text
                return Result(status=e.status, error=str(e))
            return Result(error=f"{req.op}: {e.err}", retry=e.kind in (TIMEOUT, CONNECTION))
        status = resp.status
        retry = status >= 500 or status in RETRY_STATUSES
        return Result(
            status=status,
            error="" if 200 <= status < 300 else f"Request to webhook failed: responseCode {status}",
            retry=retry,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")) if retry else None,
            body=resp.body[:1024],
        )
