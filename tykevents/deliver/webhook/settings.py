"""Webhook delivery settings: `"tykevents": {"webhooks": {...}}` in tyk.conf."""
from __future__ import annotations

import msgspec


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    timeout: float = 30.0  # Tyk's webhook client timeout
    max_per_host: int = 64
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    pending_limit: int = 100000
    dead_letter_path: str = "var/dead-letter.jsonl"
    spool: bool = False
    body_read_limit: int = 65536
