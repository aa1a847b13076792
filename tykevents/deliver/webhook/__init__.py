"""eh_web_hook_handler (and OAS `webhook` handlers): Tyk's webhook, delivered with retries.

- conf.py        handler_meta -> WebHookConf, with Go encoding/json's decoding rules
                 (docs/webhooks.md#the-request)
- request.py     Tyk's request (method, headers, Content-Type, body) and the cooldown checksum
- handler.py     WebhookHandler: render, checksum, cooldown, then hand over to the service
- delivery.py    one accepted delivery and its JSON record
- service.py     WebhookService: per-host lanes, retries with backoff, drain, dead letters
- client.py      one HTTP attempt on GoClient's pools: Go's header lines and redirects
- spool.py       the Redis stream that makes accepted deliveries survive a crash
- deadletter.py  file and Redis dead-letter stores
- metrics.py     outcome counters, exposed as a prometheus_client collector

Elsewhere: Go's URL parsing and proxy rules in tykevents.golang (url.py, http/proxy.py), the
`tykevents.webhooks` settings (WebhookSettings) in tykevents.config, the cooldown stores in
tykevents.store.cooldown, and `tykevents deadletter list|replay` in tykevents.cli.deadletter.
"""
