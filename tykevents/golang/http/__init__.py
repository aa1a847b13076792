"""Go's net/http client side, as Tyk's webhooks and JS HTTP helpers use it.

header.py: textproto and net/http header rules, the wire order, the redirect rules.
request.py: GoRequest, a request as http.NewRequest makes it and the client will send it.
proxy.py: ProxyFromEnvironment.
client.py: GoClient (Client + Transport on aiohttp): do(GoRequest, body) -> GoResponse.
"""
