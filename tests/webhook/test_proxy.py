"""HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as Go's default client (Tyk's webhook client) uses them."""

from __future__ import annotations

import pytest

from tests.webhook.receiver import Receiver
from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.client import HttpSender
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
from tykevents.golang import url as gourl
from tykevents.golang.http.proxy import env_proxies, proxy_for


def plan(url: str) -> RequestPlan:
    return RequestPlan("POST", url, tyk_header({}, JSON, False))


def test_env_proxies() -> None:
    assert env_proxies({"HTTP_PROXY": "proxy:3128", "https_proxy": "http://p2:1", "NO_PROXY": "x"}) == {
        "http": "http://proxy:3128",
        "https": "http://p2:1",
        "no": "x",
    }
    assert env_proxies({"HTTP_PROXY": "http://a", "http_proxy": "http://b"})["http"] == "http://a"
    assert env_proxies({"HTTP_PROXY": "http://a", "REQUEST_METHOD": "GET"})["http"] == ""


@pytest.mark.parametrize(
    "url, no_proxy, proxied",
    [
        ("http://example.com/x", "", True),
        ("https://example.com/x", "", False),  # no HTTPS_PROXY
        ("http://localhost:8080/x", "", False),
        ("http://127.0.0.5/x", "", False),
        ("http://[::1]/x", "", False),
        ("http://api.example.com/x", "example.com", False),
        ("http://example.com/x", ".example.com", True),  # a leading dot: subdomains only
        ("http://a.example.com/x", "*.example.com", False),
        ("http://example.com:8080/x", "example.com:9090", True),
        ("http://example.com:8080/x", "example.com:8080", False),
        ("http://10.1.2.3/x", "10.0.0.0/8", False),
        ("http://other.org/x", "example.com, *", False),
        ("http://other.org/x", "example.com", True),
        ("http://other.org/x", "*", False),
    ],
)
def test_proxy_selection(url: str, no_proxy: str, proxied: bool) -> None:
    proxies = {"http": "http://proxy:3128", "https": "", "no": no_proxy}
    assert (proxy_for(gourl.new_request_url(url), proxies) is not None) is proxied


async def test_request_goes_through_the_proxy(receiver: Receiver) -> None:
    sender = HttpSender(WebhookSettings(timeout=5), proxies={"http": receiver.url(), "https": "", "no": ""})
    await sender.start()
    try:
        res = await sender.send(plan("http://webhooks.example.invalid:81/hook?a=1"), b"{}")
    finally:
        await sender.close()
    assert res.ok, res
    [req] = receiver.requests
    assert req.request_line == "POST http://webhooks.example.invalid:81/hook?a=1 HTTP/1.1"
    assert req.header("Host") == "webhooks.example.invalid:81" and req.body == b"{}"


def test_proxy_decision_is_cached_per_scheme_and_host() -> None:
    client = HttpSender(
        WebhookSettings(),
        proxies={"http": "http://p:1", "https": "http://p:2", "no": "skip.example, 10.0.0.0/8"},
    ).client

    def proxy(url: str) -> str | None:
        req = plan(url).request
        assert req is not None
        return client._proxy(req)

    assert proxy("http://h.example:443/a") == "http://p:1"
    assert proxy("https://h.example/b") == "http://p:2"  # same host:port, other scheme
    assert proxy("http://H.example:443/c?q=1") == "http://p:1"  # cached
    assert proxy("http://skip.example/x") is None
    assert proxy("http://10.2.3.4/x") is None
    assert proxy("http://skip.example/other") is None
    assert len(client._proxy_cache) == 4
