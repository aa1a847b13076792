"""eh_web_hook_handler (and OAS `webhook` handlers): Tyk's webhook, delivered with retries.

- conf.py        handler_meta -> WebHookConf, with Go encoding/json's decoding rules (spec 2.3)
- gourl.py       Go's net/url parsing, so that URLs, Host and request lines match Go's
- request.py     Tyk's request (method, headers, Content-Type, body) and the cooldown checksum
- handler.py     WebhookHandler: render, checksum, cooldown, then hand over to the service
- delivery.py    one accepted delivery and its JSON record
- service.py     WebhookService: per-host lanes, retries with backoff, drain, dead letters
- client.py      one HTTP attempt on a pooled aiohttp session: Go's header lines and redirects
- proxy.py       HTTP_PROXY / HTTPS_PROXY / NO_PROXY as Go's default client reads them
- spool.py       the Redis stream that makes accepted deliveries survive a crash
- deadletter.py  file and Redis dead-letter stores; cli.py: `tykevents deadletter list|replay`
- metrics.py     outcome counters; settings.py: the `tykevents.webhooks` section of tyk.conf
"""
