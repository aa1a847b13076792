"""tyk.conf `external_services` for webhooks, as Tyk's ExternalHTTPClientFactory applies it
(docs/webhooks.md#the-http-client), against a real forward proxy (tests/support/fwdproxy.py)
and real TLS receivers that demand a client certificate (tests/support/mtls.py).

Tyk's integration tests matched: ProxyIntegration (webhooks.proxy.http_proxy carries the
request), mTLSIntegration (the factory client has the mTLS settings), ServiceTimeouts
(global.enabled: timeout 30 s, idle 50 / 10 per host, 30 s), FallbackBehavior (an
`invalid://` proxy is accepted), ConfigurationHierarchy (service over global).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.fwdproxy import ForwardProxy
from tests.support.mtls import make_pki, server_context
from tests.webhook.receiver import Receiver
from tykevents.config import ExternalServices, WebhookSettings
from tykevents.deliver.webhook import client as wc
from tykevents.deliver.webhook.client import MTLS_SKIP, HttpSender, webhook_client
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
from tykevents.golang.http.proxy import StaticProxy
from tykevents.tykmeta import event_template_data


def ext(**tree: Any) -> ExternalServices:
    return msgspec.convert(tree, ExternalServices)


def plan(url: str) -> RequestPlan:
    return RequestPlan("POST", url, tyk_header({}, JSON, False))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def proxies() -> AsyncIterator[Callable[[], Any]]:
    started: list[ForwardProxy] = []

    async def make() -> ForwardProxy:
        p = await ForwardProxy().start()
        started.append(p)
        return p

    yield make
    for p in started:
        await p.close()


@pytest.fixture
async def senders() -> AsyncIterator[Callable[..., Any]]:
    made: list[HttpSender] = []

    async def make(external: ExternalServices | None, **kw: Any) -> HttpSender:
        s = HttpSender(WebhookSettings(timeout=5.0), external=external, **kw)
        await s.start()
        made.append(s)
        return s

    yield make
    for s in made:
        await s.close()


# -- which client ------------------------------------------------------------------------------


def test_unconfigured_is_the_default_client() -> None:
    for e in (
        None,
        ExternalServices(),
        ext(webhooks={"proxy": {"bypass_proxy": "x"}}),
        ext(oauth={"mtls": {}}),
    ):
        c = webhook_client(e)
        assert not c.factory and not c.skip and c.proxies is None
    sender = HttpSender(WebhookSettings(), external=ext(**{"global": {"enabled": False}}))
    assert sender.client.keepalive_timeout == WebhookSettings().keepalive_timeout
    assert sender.client.max_idle_per_host == 0


def test_service_timeouts_global_enabled() -> None:
    """ServiceTimeouts: global.enabled alone gives the factory's client and Transport."""
    c = HttpSender(WebhookSettings(), external=ext(**{"global": {"enabled": True}})).client
    assert (c.timeout, c.max_idle, c.max_idle_per_host, c.keepalive_timeout) == (30.0, 50, 10, 30.0)
    assert c.tls_handshake_timeout == 10.0
    # enabled without URLs: http.ProxyFromEnvironment
    assert webhook_client(ext(**{"global": {"enabled": True}})).proxies == wc.env_proxies()


def test_configuration_hierarchy() -> None:
    both = ext(
        **{"global": {"enabled": True, "http_proxy": "http://g:1", "bypass_proxy": "a"}},
        webhooks={"proxy": {"http_proxy": "http://w:2"}},
    )
    assert webhook_client(both).proxies == StaticProxy("http://w:2", "", "")
    only_global = ext(**{"global": {"enabled": True, "http_proxy": "http://g:1", "bypass_proxy": "a"}})
    assert webhook_client(only_global).proxies == StaticProxy("http://g:1", "", "a")
    # global settings not enabled are not used; webhooks.proxy.enabled alone: the environment
    off = ext(**{"global": {"http_proxy": "http://g:1"}}, webhooks={"proxy": {"enabled": True}})
    assert webhook_client(off).proxies == wc.env_proxies()
    # mTLS alone: a Transport without Proxy, whatever HTTP_PROXY says
    assert webhook_client(ext(webhooks={"mtls": {"enabled": True, "ca_file": "/nope"}})).skip
    c = webhook_client(
        ext(webhooks={"mtls": {"enabled": True, "ca_cert_ids": ["x"], "insecure_skip_verify": True}})
    )
    assert c.factory and c.proxies == {}


def test_fallbacks_to_the_default_client() -> None:
    # FallbackBehavior: Go's url.Parse accepts this one; the factory client is made.
    assert webhook_client(ext(webhooks={"proxy": {"http_proxy": "invalid://proxy:8080"}})).factory
    bad = webhook_client(ext(webhooks={"proxy": {"http_proxy": "http://a b"}}))
    assert not bad.factory and not bad.skip
    why = 'invalid HTTP proxy URL: parse "http://a b": invalid character " " in host name'
    assert bad.error == "failed to configure proxy: " + why
    # Validate errors are not mTLS errors: the default client, even with mtls.enabled.
    for mtls, why in (
        ({"enabled": True}, "mTLS enabled but no certificate configuration provided"),
        ({"enabled": True, "cert_file": "c"}, "both cert_file and key_file must be specified"),
        ({"enabled": True, "cert_file": "c", "key_file": "k", "cert_id": "i"}, "cannot specify both"),
    ):
        c = webhook_client(ext(webhooks={"mtls": mtls}))
        assert not c.factory and not c.skip and why in c.error
        assert c.error.startswith("failed to configure TLS: invalid mTLS configuration: ")
    # A proxy error comes first, and is no mTLS error: default client, not skipped.
    c = webhook_client(
        ext(webhooks={"proxy": {"http_proxy": "%zz"}, "mtls": {"enabled": True, "ca_file": "/nope"}})
    )
    assert not c.factory and not c.skip


def test_mtls_errors_skip(pki: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    good = {"cert_file": str(pki["client.pem"]), "key_file": str(pki["client.key"])}
    load, ca = "mTLS certificate loading failed: ", "mTLS CA certificate loading failed: "
    store = "tykevents cannot read Tyk's certificate store"
    cases = [
        (
            {"cert_file": "/no/cert.pem", "key_file": "/k"},
            load + "open /no/cert.pem: no such file or directory",
        ),
        ({**good, "key_file": str(pki["server.key"])}, load + "tls: private key does not match public key"),
        (
            {**good, "cert_file": str(pki["client.key"])},
            "tls: failed to find any PEM data in certificate input",
        ),
        ({**good, "ca_file": "/no/ca.pem"}, ca + "open /no/ca.pem: no such file or directory"),
        ({**good, "ca_file": str(pki["client.key"])}, ca + "failed to parse CA certificate"),
        ({"cert_id": "abc"}, "mTLS certificate store access failed: " + store),
        ({**good, "ca_cert_ids": ["abc"]}, ca + store + " (ca_cert_ids); use ca_file"),
    ]
    for mtls, why in cases:
        c = webhook_client(ext(webhooks={"mtls": {"enabled": True, **mtls}}))
        assert (
            c.skip and not c.factory and c.error.startswith("failed to configure TLS: ") and why in c.error
        ), c
    with caplog.at_level(logging.ERROR, "tykevents.deliver.webhook"):
        sender = HttpSender(
            WebhookSettings(), external=ext(webhooks={"mtls": {"enabled": True, **cases[0][0]}})
        )
    assert sender.skip.endswith("open /no/cert.pem: no such file or directory")
    assert [r.getMessage() for r in caplog.records] == [f"{MTLS_SKIP} error={sender.skip}"]


def test_static_proxy_rules() -> None:
    from tykevents.golang import url as gourl

    def via(p: StaticProxy, url: str) -> str | None:
        return p(gourl.new_request_url(url))

    p = StaticProxy("http://h:1", "http://s:2", "skip.example, 10.0.0.1:8080,localhost")
    assert via(p, "http://127.0.0.1:9/x") == "http://h:1"  # loopback is proxied (not Go's env rule)
    assert via(p, "https://a.example/x") == "http://s:2"
    assert via(p, "http://skip.example/x") is None
    assert via(p, "http://skip.example:80/x") == "http://h:1"  # exact URL.Host only
    assert via(p, "http://sub.skip.example/x") == "http://h:1"
    assert via(p, "http://10.0.0.1:8080/x") is None
    assert via(p, "http://127.0.0.1/x") is None and via(p, "http://localhost/x") is None
    assert (
        via(StaticProxy("http://h:1", "", ""), "https://a.example/x") == "http://h:1"
    )  # http_proxy as fallback
    assert via(StaticProxy("", "http://s:2", ""), "http://a.example/x") is None


# -- through a real proxy ----------------------------------------------------------------------


async def test_proxy_integration(senders: Any, proxies: Any, receiver: Receiver) -> None:
    """ProxyIntegration: webhooks.proxy.http_proxy carries the webhook, bytes unchanged."""
    proxy = await proxies()
    direct = await senders(None, proxies={})
    assert (await direct.send(plan(receiver.url("/hook?a=1")), b'{"x":1}')).ok
    s = await senders(ext(webhooks={"proxy": {"http_proxy": proxy.url}}))
    for _ in range(3):
        res = await s.send(plan(receiver.url("/hook?a=1")), b'{"x":1}')
        assert res.ok, res
    assert [(r.method, r.target) for r in proxy.requests] == [("POST", receiver.url("/hook?a=1"))] * 3
    plain, via = receiver.requests[0], receiver.requests[1]
    assert via.head == plain.head and via.body == plain.body  # the receiver sees Tyk's bytes


async def test_global_proxy_and_service_override(senders: Any, proxies: Any, receiver: Receiver) -> None:
    g, w = await proxies(), await proxies()
    s = await senders(ext(**{"global": {"enabled": True, "http_proxy": g.url}}))
    assert (await s.send(plan(receiver.url("/a")), b"{}")).ok
    s = await senders(
        ext(**{"global": {"enabled": True, "http_proxy": g.url}}, webhooks={"proxy": {"http_proxy": w.url}})
    )
    assert (await s.send(plan(receiver.url("/b")), b"{}")).ok
    # a global proxy that is not enabled is not used
    s = await senders(
        ext(**{"global": {"http_proxy": g.url}}, webhooks={"mtls": {"insecure_skip_verify": True}})
    )
    assert (await s.send(plan(receiver.url("/c")), b"{}")).ok
    assert [r.target for r in g.requests] == [receiver.url("/a")]
    assert [r.target for r in w.requests] == [receiver.url("/b")]
    assert [r.target for r in receiver.requests] == ["/a", "/b", "/c"]
    # bypass_proxy: the exact URL.Host
    s = await senders(
        ext(
            **{"global": {"enabled": True, "http_proxy": g.url, "bypass_proxy": f"127.0.0.1:{receiver.port}"}}
        )
    )
    assert (await s.send(plan(receiver.url("/d")), b"{}")).ok
    assert len(g.requests) == 1 and len(receiver.requests) == 4


async def test_proxy_credentials_and_unknown_scheme(senders: Any, proxies: Any, receiver: Receiver) -> None:
    proxy = await proxies()
    s = await senders(ext(webhooks={"proxy": {"http_proxy": f"invalid://u:pw@127.0.0.1:{proxy.port}"}}))
    assert (await s.send(plan(receiver.url("/x")), b"{}")).ok  # dialled as a plain HTTP proxy
    assert proxy.requests[0].header("Proxy-Authorization") == "Basic dTpwdw=="
    assert receiver.requests[0].header("Proxy-Authorization") is None


# -- mTLS ------------------------------------------------------------------------------------


async def test_mtls_integration(senders: Any, receivers: Any, proxies: Any, pki: dict[str, Path]) -> None:
    r = await receivers(ssl=server_context(pki))
    files = {
        "cert_file": str(pki["client.pem"]),
        "key_file": str(pki["client.key"]),
        "ca_file": str(pki["ca.pem"]),
    }
    s = await senders(ext(webhooks={"mtls": {"enabled": True, **files}}))
    res = await s.send(plan(r.url("/m")), b"{}")
    assert res.ok, res
    # through an https_proxy too: CONNECT, then the same TLS with the client certificate
    proxy = await proxies()
    s = await senders(ext(webhooks={"proxy": {"https_proxy": proxy.url}, "mtls": {"enabled": True, **files}}))
    assert (await s.send(plan(r.url("/p")), b"{}")).ok
    assert [(p.method, p.target) for p in proxy.requests] == [("CONNECT", f"127.0.0.1:{r.port}")]
    assert [q.target for q in r.requests] == ["/m", "/p"]


async def test_mtls_refusals(senders: Any, receivers: Any, pki: dict[str, Path]) -> None:
    r = await receivers(ssl=server_context(pki))
    cert = {"cert_file": str(pki["client.pem"]), "key_file": str(pki["client.key"])}
    # no client certificate: the receiver refuses the handshake
    s = await senders(ext(webhooks={"mtls": {"enabled": True, "ca_file": str(pki["ca.pem"])}}))
    res = await s.send(plan(r.url("/a")), b"{}")
    assert not res.ok and res.status is None
    # the system roots do not know our CA; another CA does not either
    for extra in ({}, {"ca_file": str(pki["other-ca.pem"])}):
        s = await senders(ext(webhooks={"mtls": {"enabled": True, **cert, **extra}}))
        res = await s.send(plan(r.url("/b")), b"{}")
        assert not res.ok and "certificate verify failed" in res.error, res
    # insecure_skip_verify: no verification, the certificate still sent
    s = await senders(ext(webhooks={"mtls": {"enabled": True, "insecure_skip_verify": True, **cert}}))
    assert (await s.send(plan(r.url("/c")), b"{}")).ok
    assert [q.target for q in r.requests] == ["/c"]


async def test_mtls_failure_sends_nothing(senders: Any, receiver: Receiver) -> None:
    s = await senders(
        ext(webhooks={"mtls": {"enabled": True, "cert_file": "/no/c.pem", "key_file": "/no/k.pem"}})
    )
    res = await s.send(plan(receiver.url("/x")), b"{}")
    assert not res.ok and not res.retry and res.error.startswith(MTLS_SKIP)
    assert receiver.connections == 0


# -- the factory's Transport -----------------------------------------------------------------


async def test_factory_idle_pool_limits(senders: Any, receivers: Any) -> None:
    async def slow(_: Any) -> int:
        await asyncio.sleep(0.2)
        return 200

    r = await receivers(slow)
    s = await senders(ext(**{"global": {"enabled": True}}))
    results = await asyncio.gather(*(s.send(plan(r.url(f"/{i}")), b"{}") for i in range(15)))
    assert all(x.ok for x in results) and r.connections == 15
    assert sum(s.client.idle().values()) == 10  # MaxIdleConnsPerHost: the other 5 were closed
    results = await asyncio.gather(*(s.send(plan(r.url(f"/{i}")), b"{}") for i in range(10)))
    assert all(x.ok for x in results) and r.connections == 15  # all ten reused


# -- through the handler and the delivery service ---------------------------------------------


async def _with_sender(svc: Any, external: ExternalServices) -> Any:
    """The service's sender, made from `external` as service_from_config makes it."""
    await svc.sender.close()
    svc.sender = HttpSender(svc.settings, external=external)
    await svc.sender.start()
    return svc


def _handler(svc: Any, url: str, tmp_path: Path) -> Any:
    from tests.webhook.test_handler import ctx, helper_meta
    from tykevents.deliver.webhook.handler import build_webhook_handler

    return build_webhook_handler(helper_meta(url), ctx(svc, tmp_path))


async def test_handler_delivers_through_the_proxy(
    services: Any, proxies: Any, receiver: Receiver, tmp_path: Path
) -> None:
    from tests.webhook.test_handler import event, key_meta, settle

    proxy = await proxies()
    svc = await _with_sender(await services(), ext(webhooks={"proxy": {"http_proxy": proxy.url}}))
    h = _handler(svc, receiver.url("/get"), tmp_path)
    await h.handle(event("KeyExpired", key_meta()))
    await settle(svc)
    assert [(p.method, p.target) for p in proxy.requests] == [("GET", receiver.url("/get"))]
    assert len(receiver.requests) == 1


async def test_mtls_failure_skips_without_cooldown(
    services: Any, receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tyk: mtls.enabled and a certificate that does not load: the webhook is skipped with
    Tyk's error line, and setHookFired is not reached (no cooldown)."""
    from tests.webhook.test_handler import event, key_meta, settle

    bad = ext(webhooks={"mtls": {"enabled": True, "cert_file": "/no/c.pem", "key_file": "/no/k.pem"}})
    svc = await _with_sender(await services(), bad)
    h = _handler(svc, receiver.url("/get"), tmp_path)
    with caplog.at_level(logging.ERROR):
        for _ in range(2):
            await h.handle(event("KeyExpired", key_meta()))
    await settle(svc)
    assert receiver.connections == 0 and svc.dead_lettered == 0
    assert svc.metrics.total("suppressed") == 0
    body = h.template.render_bytes(event_template_data(event("KeyExpired", key_meta())))
    assert await svc.cooldown.acquire(h.plan.checksum(body), 10) is True  # never armed
    assert any(MTLS_SKIP in r.getMessage() for r in caplog.records)
