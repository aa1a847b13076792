"""One HTTP attempt of a webhook: Go's client (tykevents.golang.http.client), plus what
the delivery service needs to know of the outcome: the status or the error text, whether
trying again may help, and how long the receiver asked us to wait (Retry-After).

Which client, as Tyk's webhook handler chooses it (docs/webhooks.md#the-http-client):
tyk.conf `external_services` makes Tyk's ExternalHTTPClientFactory client (its proxy, its
mTLS, its Transport limits) when `global.enabled`, or `webhooks` has proxy settings or
`mtls.enabled`; otherwise, or when the factory fails for any other reason, Go's default
client. A failed mTLS certificate with `webhooks.mtls.enabled` sends nothing at all
(HttpSender.skip: the handler checks it before the cooldown).

The reply body is read up to `body_read_limit` and kept as sent (never inflated: it is only
logged).
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tykevents.config import ExternalMTLS, ExternalProxy, ExternalServices, WebhookSettings
from tykevents.deliver.webhook.request import RequestPlan
from tykevents.deliver.webhook.signing import Signer, handler_signer, is_signing_header, message_id
from tykevents.golang import url as gourl
from tykevents.golang.http.client import (
    CONNECTION,
    REDIRECT,
    REFUSED,
    TIMEOUT,
    GoClient,
    GoClientError,
    ProxyFunc,
)
from tykevents.golang.http.proxy import StaticProxy, env_proxies
from tykevents.golang.http.request import GoRequest
from tykevents.golang.http.tls import CAError, KeyPairError, client_context

if TYPE_CHECKING:
    from tykevents.deliver.webhook.delivery import Delivery

logger = logging.getLogger("tykevents.deliver.webhook")

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


# Tyk's error line when webhooks.mtls is enabled and its certificate cannot be loaded.
MTLS_SKIP = "mTLS configuration failed for webhooks. Webhook delivery will be skipped to maintain security."
# The factory's webhook Transport (Tyk's internal/httpclient): idle pool and TLS handshake.
FACTORY_MAX_IDLE = 50
FACTORY_MAX_IDLE_PER_HOST = 10
FACTORY_IDLE_TIMEOUT = 30.0
TLS_HANDSHAKE_TIMEOUT = 10.0  # the factory's, and Go's DefaultTransport's


class MTLSError(Exception):
    """Tyk's IsMTLSError: the certificate, the store or the CA could not be loaded."""


@dataclass
class ClientChoice:
    """The client Tyk's webhook handler would use. `factory`: the external_services client
    (else Go's default client); `error`: why the factory gave no client (logged at DEBUG
    by Tyk), or, with `skip`, the mTLS failure that makes every webhook be skipped."""

    factory: bool = False
    proxies: dict[str, str] | ProxyFunc | None = None
    ssl_context: ssl.SSLContext | None = None
    error: str = ""
    skip: bool = False


def webhook_client(ext: ExternalServices | None) -> ClientChoice:
    """ExternalHTTPClientFactory.CreateWebhookClient, and what the handler does with its error."""
    if ext is None or not _configured(ext):
        return ClientChoice(error="external services not configured for service type: webhook")
    svc, proxy = ext.webhooks, ext.webhooks.proxy
    if not (proxy.http_proxy or proxy.https_proxy or proxy.enabled) and ext.global_.enabled:
        proxy = ExternalProxy(
            enabled=True,
            http_proxy=ext.global_.http_proxy,
            https_proxy=ext.global_.https_proxy,
            bypass_proxy=ext.global_.bypass_proxy,
        )
    proxies: dict[str, str] | ProxyFunc
    if proxy.http_proxy or proxy.https_proxy:
        for name, value in (("HTTP", proxy.http_proxy), ("HTTPS", proxy.https_proxy)):
            try:
                if value:
                    gourl.parse(value)
            except gourl.GoURLError as e:
                return ClientChoice(error=f"failed to configure proxy: invalid {name} proxy URL: {e}")
        proxies = StaticProxy(proxy.http_proxy, proxy.https_proxy, proxy.bypass_proxy)
    elif proxy.enabled:
        proxies = env_proxies()  # http.ProxyFromEnvironment
    else:
        proxies = {}  # a Transport without Proxy: direct, whatever the environment says
    try:
        ctx = _tls_config(svc.mtls)
    except MTLSError as e:
        return ClientChoice(error=f"failed to configure TLS: {e}", skip=svc.mtls.enabled)
    except ValueError as e:
        return ClientChoice(error=f"failed to configure TLS: invalid mTLS configuration: {e}")
    return ClientChoice(factory=True, proxies=proxies, ssl_context=ctx)


def _configured(ext: ExternalServices) -> bool:
    p = ext.webhooks.proxy
    return (
        ext.global_.enabled or p.enabled or bool(p.http_proxy or p.https_proxy) or ext.webhooks.mtls.enabled
    )


def _validate(m: ExternalMTLS) -> None:
    """MTLSConfig.Validate (ValueError: Tyk falls back to the default client)."""
    if not m.enabled:
        return
    files, store = bool(m.cert_file or m.key_file), bool(m.cert_id)
    if files and store:
        raise ValueError("cannot specify both file-based and certificate store configuration")
    if not files and not store and not (m.ca_file or m.ca_cert_ids):
        raise ValueError("mTLS enabled but no certificate configuration provided")
    if files and not (m.cert_file and m.key_file):
        raise ValueError("both cert_file and key_file must be specified for file-based configuration")


def _tls_config(m: ExternalMTLS) -> ssl.SSLContext:
    """The factory's getTLSConfig: the client certificate, then the CA. Tyk's certificate
    store is not ours to read: a cert_id, or ca_cert_ids that would verify the receiver, is
    an MTLSError (docs/compatibility.md)."""
    _validate(m)
    insecure = m.insecure_skip_verify
    if not m.enabled:
        return client_context(insecure_skip_verify=insecure)
    if m.cert_id:
        raise MTLSError(
            "mTLS certificate store access failed: tykevents cannot read Tyk's certificate store "
            "(cert_id); use cert_file and key_file"
        )
    ca_file = "" if m.ca_cert_ids else m.ca_file  # store ids win over the file, as in Tyk
    try:
        ctx = client_context(
            insecure_skip_verify=insecure, cert_file=m.cert_file, key_file=m.key_file, ca_file=ca_file
        )
    except KeyPairError as e:
        raise MTLSError(f"mTLS certificate loading failed: {e}") from None
    except CAError as e:
        raise MTLSError(f"mTLS CA certificate loading failed: {e}") from None
    if m.ca_cert_ids and not insecure:
        raise MTLSError(
            "mTLS CA certificate loading failed: tykevents cannot read Tyk's certificate store "
            "(ca_cert_ids); use ca_file"
        )
    return ctx


class HttpSender:
    """Sends one attempt (redirects included). Create and close it on the running loop.

    `external`: tyk.conf's external_services, which chooses the client (webhook_client);
    `proxies` (env_proxies()-shaped) replaces the environment's for Go's default client.
    `skip` is Tyk's mTLS error text when webhooks must not be sent at all: send() then
    fails every attempt without sending."""

    def __init__(
        self,
        settings: WebhookSettings,
        proxies: dict[str, str] | None = None,
        external: ExternalServices | None = None,
    ) -> None:
        self.settings = settings
        # Standard Webhooks signing for plans that do not bring their own (docs/webhooks.md#signing).
        self.signing = Signer.from_secrets(settings.signing.secrets, "webhooks.signing.secrets")
        choice = webhook_client(external)
        self.skip = choice.error if choice.skip else ""
        if choice.skip:
            logger.error("%s error=%s", MTLS_SKIP, choice.error)
        elif choice.factory:
            logger.info("webhooks use the external_services client (docs/webhooks.md#the-http-client)")
        elif external is not None and _configured(external):
            # Tyk says this at DEBUG only; a proxy or mTLS setting that is not applied deserves more.
            logger.warning(
                "external_services ignored for webhooks, using the default client: %s", choice.error
            )
        if choice.factory:
            self.client = GoClient(
                timeout=settings.timeout,
                read_limit=settings.body_read_limit,
                max_connections=settings.max_connections,
                max_per_host=0,  # the service caps concurrency per host itself
                keepalive_timeout=FACTORY_IDLE_TIMEOUT,
                proxies=choice.proxies,
                inflate=False,
                ssl_context=choice.ssl_context,
                max_idle=FACTORY_MAX_IDLE,
                max_idle_per_host=FACTORY_MAX_IDLE_PER_HOST,
                tls_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        else:
            self.client = GoClient(
                timeout=settings.timeout,
                read_limit=settings.body_read_limit,
                max_connections=settings.max_connections,
                max_per_host=0,  # the service caps concurrency per host itself
                keepalive_timeout=settings.keepalive_timeout,
                proxies=proxies,
                inflate=False,
                tls_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )

    def signer(self, plan: RequestPlan, delivery: Delivery | None) -> Signer:
        """The plan's own signer; for a plan rebuilt from the spool or a dead letter, its
        handler's current one; else the global one (empty: nothing is added)."""
        s = plan.signing
        if s is None and delivery is not None:
            s = handler_signer(delivery.api_id, delivery.handler)
        return self.signing if s is None else s

    async def start(self) -> None:
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    async def send(self, plan: RequestPlan, body: bytes, delivery: Delivery | None = None) -> Result:
        """One attempt within `settings.timeout`; never raises but on cancellation (or a bug).
        `delivery` (the one this attempt is for) gives a signed attempt its `webhook-id`.

        Error texts are logged and listed: their URLs are redacted (gourl.redact), and
        library errors are scrubbed of the password and query of every URL of the chain."""
        req = plan.request
        if req is None or req.refusal is not None:
            return Result(error=plan.build_error or plan.send_error or "")
        if self.skip:  # never in the clear when mTLS was asked for (a spooled or replayed one)
            return Result(error=f"{MTLS_SKIP} {self.skip}")
        signer = self.signer(plan, delivery)
        if signer:
            req = _signed(req, signer.headers(message_id(delivery), body))
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


def _signed(req: GoRequest, lines: list[tuple[str, str]]) -> GoRequest:
    """Tyk's request plus the signing headers, as if set with Header.Set after Tyk's own:
    Go writes them in its sorted place, every other line unchanged; header_map entries of
    the same names give way (a receiver must see one id and one signature)."""
    header = {k: v for k, v in req.header.items() if not is_signing_header(k)}
    for name, value in lines:
        header[name] = [value]
    signed = GoRequest(req.method, req.url, header, close=req.close, raw_url=req.raw_url)
    signed.route = req.route
    return signed
