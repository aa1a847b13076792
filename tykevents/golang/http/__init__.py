"""Go's net/http client side, as Tyk's webhooks and JS HTTP helpers use it.

header.py: textproto and net/http header rules, the wire order, the redirect rules.
request.py: GoRequest, a request as http.NewRequest makes it and the client will send it.
proxy.py: ProxyFromEnvironment, and StaticProxy (Tyk's external_services proxy function).
tls.py: a Transport's TLSClientConfig (tls.LoadX509KeyPair, RootCAs, InsecureSkipVerify).
client.py: GoClient (Client.Do, redirects, errors): do(GoRequest, body) -> GoResponse.
transport.py: Transport: HTTP/1.1 on asyncio protocols (httptools), keep-alive pools, TLS, proxies.
"""
