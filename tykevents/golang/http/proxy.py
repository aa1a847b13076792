"""Which proxy a request goes through: Go's ProxyFromEnvironment rules.

Go's default transport (Tyk's webhook client's) honours HTTP_PROXY,
HTTPS_PROXY and NO_PROXY (upper case first) and never proxies localhost or loopback
addresses. NO_PROXY entries: `*` (anywhere: nothing is proxied), a domain (itself and its
subdomains), `.domain` or `*.domain` (subdomains only), an IP or CIDR, each optionally with
`:port`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

from tykevents.golang.url import GoURL


def env_proxies(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """HTTP_PROXY / HTTPS_PROXY / NO_PROXY as Go's ProxyFromEnvironment reads them (upper
    case first; HTTP_PROXY ignored under CGI, where REQUEST_METHOD is set)."""
    env = os.environ if env is None else env

    def get(name: str) -> str:
        return env.get(name.upper()) or env.get(name.lower()) or ""

    out = {"http": get("http_proxy"), "https": get("https_proxy"), "no": get("no_proxy")}
    if env.get("REQUEST_METHOD"):
        out["http"] = ""
    for k in ("http", "https"):
        if out[k] and "://" not in out[k]:
            out[k] = "http://" + out[k]
    return out


def proxy_for(t: GoURL, proxies: dict[str, str]) -> str | None:
    """The proxy for a request to `t`, or None: never for localhost or a loopback address."""
    proxy = proxies.get(t.scheme)
    if not proxy:
        return None
    host = t.hostname().lower()
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.partition("%")[0]).is_loopback:
            return None
    except ValueError:
        pass
    no = proxies.get("no", "")
    port = t.port() or {"http": "80", "https": "443"}.get(t.scheme, "")
    for entry in (e.strip().lower() for e in no.split(",")):
        if not entry:
            continue
        if entry == "*":  # anywhere in the list: no proxy at all
            return None
        name, eport = entry, ""
        if entry.count(":") == 1:  # host:port (an IPv6 entry has more colons)
            name, _, eport = entry.partition(":")
        if eport and eport != port:
            continue
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return None
            continue
        except ValueError:
            pass
        if name.startswith("*."):
            name = name[1:]
        if name.startswith("."):  # subdomains only
            if host.endswith(name):
                return None
        elif host == name or host.endswith("." + name):
            return None
    return proxy


class StaticProxy:
    """Tyk's external_services proxy function (docs/webhooks.md#the-http-client), which is
    not ProxyFromEnvironment: `https` for https URLs when set, else `http` for any scheme;
    loopback is proxied too; `bypass` is a comma-separated list of exact `URL.Host` values
    (host:port when the URL has a port), and an entry `localhost` also matches 127.0.0.1."""

    __slots__ = ("http", "https", "bypass")

    def __init__(self, http: str, https: str, bypass: str = "") -> None:
        self.http = http
        self.https = https
        self.bypass = frozenset(h.strip() for h in bypass.split(",") if h.strip())

    def __call__(self, t: GoURL) -> str | None:
        if t.scheme == "https" and self.https:
            proxy = self.https
        else:
            proxy = self.http
        if not proxy:
            return None
        host = t.host
        if host in self.bypass or ("localhost" in self.bypass and host in ("localhost", "127.0.0.1")):
            return None
        return proxy

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StaticProxy) and (self.http, self.https, self.bypass) == (
            other.http,
            other.https,
            other.bypass,
        )

    def __hash__(self) -> int:
        return hash((self.http, self.https, self.bypass))
