"""Webhook outcome counters, per handler and per target host.

Labels carry the handler's label (its id or name from the API definition), the target
host:port and the outcome; never a URL path, a header or a body, where keys may sit.

Outcomes: delivered, retried (an attempt failed and will be retried), failed (gave up:
dead-lettered), suppressed (cooldown), render_error, checksum_error, invalid_request (Go
would refuse to build or send it), dropped (pending limit reached), cooldown_error (the
cooldown store failed; the webhook fired anyway), abandoned (unfinished at shutdown:
dead-lettered).
"""

from __future__ import annotations

from typing import Any, Protocol

_MAX_CHILDREN = 65536


class WebhookMetrics(Protocol):
    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None: ...

    def attempt(self, host: str, result: str, seconds: float) -> None:
        """One HTTP attempt: result is the status class ("2xx", "5xx", ...) or "error"."""


class NoopMetrics:
    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None:
        pass

    def attempt(self, host: str, result: str, seconds: float) -> None:
        pass


class CountingMetrics:
    """Plain counters (tests, the CLI): {(kind, handler, host, outcome): n}."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.attempts: dict[tuple[str, str], int] = {}

    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None:
        k = (kind, handler, host, outcome)
        self.counts[k] = self.counts.get(k, 0) + 1

    def attempt(self, host: str, result: str, seconds: float) -> None:
        k = (host, result)
        self.attempts[k] = self.attempts.get(k, 0) + 1

    def total(self, outcome: str) -> int:
        return sum(n for k, n in self.counts.items() if k[3] == outcome)


class PrometheusWebhookMetrics:
    """prometheus_client counters registered on `registry`."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        registry = registry if registry is not None else REGISTRY
        self._outcomes = Counter(
            "tykevents_webhook_outcomes",
            "Webhook outcomes by handler kind",
            ["kind", "outcome"],
            registry=registry,
        )
        self._targets = Counter(
            "tykevents_webhook_target_outcomes",
            "Webhook outcomes by handler and target host",
            ["handler", "host", "outcome"],
            registry=registry,
        )
        self._attempts = Histogram(
            "tykevents_webhook_attempt_seconds",
            "Webhook HTTP attempts by target host and result",
            ["host", "result"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

        # Label children by label values: labels() takes a lock and builds a tuple per call;
        # per event one dict lookup is enough. Handler names and hosts are finite per
        # configuration; the bound only guards against a pathological one.
        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None:
        key = (kind, handler, host, outcome)
        pair = self._children.get(key)
        if pair is None:
            if len(self._children) >= _MAX_CHILDREN:
                self._children.clear()
            pair = self._children[key] = (
                self._outcomes.labels(kind, outcome),
                self._targets.labels(handler, host, outcome),
            )
        pair[0].inc()
        pair[1].inc()

    def attempt(self, host: str, result: str, seconds: float) -> None:
        key = (host, result)
        child = self._histograms.get(key)
        if child is None:
            if len(self._histograms) >= _MAX_CHILDREN:
                self._histograms.clear()
            child = self._histograms[key] = self._attempts.labels(host, result)
        child.observe(seconds)
