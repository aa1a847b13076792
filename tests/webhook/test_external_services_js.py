"""The JS helpers' proxies (docs/compatibility.md): Tyk's TykMakeHttpRequest and
TykBatchRequest take the proxy from the API (proxyFromAPI), which event handlers do not
have, so HTTP_PROXY / HTTPS_PROXY / NO_PROXY as Go's ProxyFromEnvironment reads them;
`external_services` is not applied to them. A real forward proxy carries the request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.support.fwdproxy import ForwardProxy
from tests.webhook.receiver import Receiver
from tykevents.config import WebhookSettings
from tykevents.deliver.jsvm.httpreq import HTTPClient, HTTPSettings, batch_request, make_http_request
from tykevents.deliver.webhook.client import HttpSender
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header

NAME = "hooks.tykevents.invalid"  # no DNS knows it: only the proxy can reach it


@pytest.fixture
async def proxy(receiver: Receiver) -> AsyncIterator[ForwardProxy]:
    p = await ForwardProxy(hosts={NAME: ("127.0.0.1", receiver.port)}).start()
    yield p
    await p.close()


async def test_js_helpers_use_the_environment_proxy(
    proxy: ForwardProxy, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "skip.invalid")
    http = HTTPClient(HTTPSettings(timeout=5.0))
    try:
        url = f"http://{NAME}:{receiver.port}"
        arg = json.dumps({"Method": "POST", "Domain": url, "Resource": "/one", "Body": "x"})
        reply = await asyncio.to_thread(make_http_request, arg, http)
        assert reply is not None and json.loads(reply)["Code"] == 200
        batch = json.dumps({"requests": [{"method": "GET", "relative_url": url + "/two"}]})
        assert json.loads(await asyncio.to_thread(batch_request, batch, http) or "")[0]["code"] == 200
        # loopback and NO_PROXY hosts go direct, as Go's ProxyFromEnvironment decides
        arg = json.dumps({"Method": "GET", "Domain": receiver.url(""), "Resource": "/three"})
        assert await asyncio.to_thread(make_http_request, arg, http) is not None
    finally:
        await http.aclose()
    assert [p.target for p in proxy.requests] == [url + "/one", url + "/two"]
    assert [r.target for r in receiver.requests] == ["/one", "/two", "/three"]


async def test_webhook_proxy_enabled_reads_the_environment(
    proxy: ForwardProxy, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """webhooks.proxy.enabled without URLs: http.ProxyFromEnvironment; mTLS alone: no proxy."""
    import msgspec

    from tykevents.config import ExternalServices

    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    url = f"http://{NAME}:{receiver.port}/hook"
    plan = RequestPlan("POST", url, tyk_header({}, JSON, False))
    for tree, proxied in (
        ({"webhooks": {"proxy": {"enabled": True}}}, True),
        ({"webhooks": {"mtls": {"insecure_skip_verify": True}}, "global": {"enabled": True}}, True),
        (
            {"webhooks": {"mtls": {"enabled": True, "ca_cert_ids": ["x"], "insecure_skip_verify": True}}},
            False,
        ),
    ):
        sender = HttpSender(WebhookSettings(timeout=5.0), external=msgspec.convert(tree, ExternalServices))
        await sender.start()
        try:
            before = len(proxy.requests)
            res = await sender.send(plan, b"{}")
        finally:
            await sender.close()
        assert (len(proxy.requests) == before + 1) is proxied, tree
        assert res.ok is proxied, res  # direct, the name does not resolve
