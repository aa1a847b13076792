"""Our webhook delivery settings: `"tykevents": {"webhooks": {...}}` in tyk.conf.

Tyk has no such settings (it tries once, with a 30 s client timeout: spec 3.6); everything
here is about the retries, dead letters and limits that tykevents adds (product.md 3).
"""
from __future__ import annotations

import msgspec


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # One attempt (request, redirects and the capped body read) may take this long: Tyk's
    # webhook client timeout.
    timeout: float = 30.0
    # Concurrent requests per target host:port; more wait in that host's queue.
    max_per_host: int = 64
    # Open connections in total, all hosts together.
    max_connections: int = 1024
    # Attempts per delivery, the first one included; 1 = Tyk's behaviour (no retry).
    max_attempts: int = 5
    # Retry n waits a random time in [d/2, d], d = min(backoff_max, backoff_base * 2**(n-1)),
    # or longer when the receiver sends Retry-After (up to retry_after_max).
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0
    # Deliveries accepted but not finished (queued, in flight, waiting to retry). Beyond
    # this, new deliveries are dropped and counted (overload policy).
    pending_limit: int = 100000
    # Where failed deliveries go when state is "memory" (relative to tyk.conf's directory).
    dead_letter_path: str = "var/dead-letter.jsonl"
    # With Redis state: write each accepted delivery to the stream `tykevents:webhooks` first,
    # so that a crash loses nothing; another instance (or this one after restart) claims
    # deliveries left pending for spool_claim_after seconds. Without Redis it has no effect.
    spool: bool = True
    spool_claim_after: float = 60.0
    # This instance's consumer name in the stream's group ("" = the host name); give each
    # instance on one host its own, stable across restarts.
    spool_consumer: str = ""
    # At most this much of a response body is read (then the connection is closed).
    body_read_limit: int = 65536
    # Idle keep-alive connections are closed after this many seconds.
    keepalive_timeout: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("timeout", "backoff_max", "keepalive_timeout", "spool_claim_after"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        for name in ("backoff_base", "retry_after_max"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("max_per_host", "max_connections", "max_attempts", "pending_limit"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.body_read_limit < 0:
            problems.append("body_read_limit must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))
