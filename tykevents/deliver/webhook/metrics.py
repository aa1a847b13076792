"""Webhook outcome counters, per handler and per target host.

Labels carry the handler's label (its id or name from the API definition), the target
host:port and the outcome; never a URL path, a header or a body, where keys may sit.

Outcomes: delivered, retried (an attempt failed and will be retried), failed (gave up:
dead-lettered), suppressed (cooldown), render_error, checksum_error, invalid_request (Go
would refuse to build or send it), dropped (pending limit reached), cooldown_error (the
cooldown store failed; the webhook fired anyway), abandoned (unfinished at shutdown:
dead-lettered), mtls_skipped (external_services mTLS could not load its certificate: as in
Tyk, nothing sent and no cooldown).

Endpoint protection (endpoints.py, opt-in): breaker transitions per (host, to state) and
attempts held back by the rate limit per host, bounded like the outcomes; the breaker state
gauge is read from service.endpoints when scraped.

The daemon's one metrics style (tykevents.runtime.metrics): plain counters bumped per event,
turned into Prometheus families only when /metrics is scraped. state_families() reads the
service's own counters and gauges (dead letters, spool, Redis) the same way.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

# Distinct (handler, host) label sets kept apart; past this (a pathological configuration)
# new ones are counted under host "_other", so totals stay exact and memory stays bounded.
MAX_SERIES = 65536
OTHER = "_other"
BREAKER_STATE = {"closed": 0, "half_open": 1, "open": 2}  # the gauge's values: higher is worse
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WebhookMetrics(Protocol):
    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None: ...

    def attempt(self, host: str, result: str, seconds: float) -> None:
        """One HTTP attempt: result is the status class ("2xx", "5xx", ...) or "error"."""

    def breaker_transition(self, host: str, to: str) -> None: ...

    def rate_limited(self, host: str) -> None: ...


class NoopMetrics:
    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None:
        pass

    def attempt(self, host: str, result: str, seconds: float) -> None:
        pass

    def breaker_transition(self, host: str, to: str) -> None:
        pass

    def rate_limited(self, host: str) -> None:
        pass


class WebhookCounters:
    """Outcome counts {(kind, handler, host, outcome): n} and attempt latencies per
    (host, result), exposed by `collect()` (register it on a prometheus registry)."""

    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self.max_series = max_series
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.attempts: dict[tuple[str, str], int] = {}
        self._hist: dict[tuple[str, str], list[float]] = {}  # bucket counts, then the sum
        self.transitions: dict[tuple[str, str], int] = {}  # (host, to state)
        self.limited: dict[str, int] = {}  # host: attempts held back by the rate limit

    def outcome(self, kind: str, handler: str, host: str, outcome: str) -> None:
        k = (kind, handler, host, outcome)
        n = self.counts.get(k)
        if n is None and len(self.counts) >= self.max_series:
            k = (kind, handler, OTHER, outcome)
            n = self.counts.get(k)
        self.counts[k] = (n or 0) + 1

    def attempt(self, host: str, result: str, seconds: float) -> None:
        k = (host, result)
        h = self._hist.get(k)
        if h is None:
            if len(self._hist) >= self.max_series:
                k = (OTHER, result)
            h = self._hist.setdefault(k, [0.0] * (len(BUCKETS) + 2))
        h[bisect_left(BUCKETS, seconds)] += 1
        h[-1] += seconds
        self.attempts[k] = self.attempts.get(k, 0) + 1  # plain counts, for tests and the CLI

    def breaker_transition(self, host: str, to: str) -> None:
        k = (host, to)
        if k not in self.transitions and len(self.transitions) >= self.max_series:
            k = (OTHER, to)
        self.transitions[k] = self.transitions.get(k, 0) + 1

    def rate_limited(self, host: str) -> None:
        if host not in self.limited and len(self.limited) >= self.max_series:
            host = OTHER
        self.limited[host] = self.limited.get(host, 0) + 1

    def total(self, outcome: str) -> int:
        return sum(n for k, n in self.counts.items() if k[3] == outcome)

    def collect(self) -> Iterable[Metric]:
        by_kind = CounterMetricFamily(
            "tykevents_webhook_outcomes", "Webhook outcomes by handler kind", labels=["kind", "outcome"]
        )
        kinds: dict[tuple[str, str], int] = {}
        targets = CounterMetricFamily(
            "tykevents_webhook_target_outcomes",
            "Webhook outcomes by handler and target host",
            labels=["handler", "host", "outcome"],
        )
        for (kind, handler, host, outcome), n in list(self.counts.items()):
            kinds[(kind, outcome)] = kinds.get((kind, outcome), 0) + n
            targets.add_metric([handler, host, outcome], n)
        for labels, n in kinds.items():
            by_kind.add_metric(list(labels), n)
        yield by_kind
        yield targets
        hist = HistogramMetricFamily(
            "tykevents_webhook_attempt_seconds",
            "Webhook HTTP attempts by target host and result",
            labels=["host", "result"],
        )
        for (host, result), h in list(self._hist.items()):
            running: float = 0.0
            buckets: list[tuple[str, float]] = []
            bounds: tuple[float, ...] = (*BUCKETS, float("inf"))
            for bound, in_bucket in zip(bounds, h[:-1], strict=True):
                running += in_bucket
                buckets.append((str(bound) if bound != float("inf") else "+Inf", running))
            hist.add_metric([host, result], buckets, h[-1])
        yield hist
        if self.transitions:
            moves = CounterMetricFamily(
                "tykevents_webhook_breaker_transitions",
                "Circuit breaker transitions by target host and the state entered",
                labels=["host", "to"],
            )
            for (host, to), n in list(self.transitions.items()):
                moves.add_metric([host, to], n)
            yield moves
        if self.limited:
            limited = CounterMetricFamily(
                "tykevents_webhook_rate_limited",
                "Webhook attempts held back by the per-host rate limit",
                labels=["host"],
            )
            for host, n in list(self.limited.items()):
                limited.add_metric([host], n)
            yield limited


def state_families(svc: Any) -> Iterable[Metric]:
    """The WebhookService's counters and gauges (docs/operations.md#health-and-metrics)."""
    keeper, spool = svc.keeper, svc.spool
    yield CounterMetricFamily(
        "tykevents_webhook_dead_lettered", "Deliveries kept as dead letters", value=svc.dead_lettered
    )
    yield CounterMetricFamily(
        "tykevents_webhook_dropped", "Deliveries dropped over pending_limit", value=svc.dropped
    )
    yield GaugeMetricFamily(
        "tykevents_webhook_pending", "Deliveries accepted and not finished", value=svc.pending
    )
    stored = GaugeMetricFamily(
        "tykevents_webhook_dead_letters_stored", "Dead letters in each store", labels=["store"]
    )
    for name, n in keeper.stored.items():
        stored.add_metric([name], n)
    yield stored
    yield GaugeMetricFamily(
        "tykevents_webhook_dead_letters_waiting",
        "Dead letters in memory, not stored yet (the stores are failing when this stays up)",
        value=len(keeper.waiting),
    )
    yield CounterMetricFamily(
        "tykevents_webhook_dead_letter_fallbacks",
        "Dead letters written to the fallback file because the store failed",
        value=keeper.fallbacks,
    )
    yield CounterMetricFamily(
        "tykevents_webhook_dead_letters_expired",
        "Dead letters removed by the retention bounds (webhooks.log max_entries, max_age)",
        value=sum(getattr(st, "expired", 0) for st in (keeper.primary, keeper.fallback) if st is not None),
    )
    yield CounterMetricFamily(
        "tykevents_webhook_dead_letters_lost",
        "Dead letters stored nowhere at shutdown (the daemon exits 1)",
        value=keeper.lost,
    )
    states = svc.endpoints.states()
    if states:
        gauge = GaugeMetricFamily(
            "tykevents_webhook_breaker_state",
            "Circuit breaker per target host: 0 closed, 1 half-open, 2 open",
            labels=["host"],
        )
        for host, state in states:
            gauge.add_metric([host], BREAKER_STATE[state])
        yield gauge
    if svc.redis is not None:
        yield GaugeMetricFamily(
            "tykevents_webhook_redis_up", "Redis answers (1) or not (0)", value=int(bool(svc.redis_up))
        )
    if spool is None:
        return
    yield GaugeMetricFamily(
        "tykevents_webhook_spool_backlog",
        "Deliveries accepted here and not yet read back from the spool by any instance",
        value=spool.backlog,
    )
    yield GaugeMetricFamily(
        "tykevents_webhook_spool_up", "The spool reads and writes (1) or fails (0)", value=int(spool.working)
    )
    yield CounterMetricFamily(
        "tykevents_webhook_spool_fallbacks",
        "Deliveries kept in memory only because Redis failed",
        value=spool.fallbacks,
    )
    yield CounterMetricFamily(
        "tykevents_webhook_spool_recovered",
        "Spooled deliveries claimed after a crash",
        value=spool.recovered,
    )
    yield CounterMetricFamily(
        "tykevents_webhook_spool_restored",
        "Unread deliveries written to the spool again after Redis lost its data",
        value=spool.restored,
    )
    yield CounterMetricFamily(
        "tykevents_webhook_spool_groups_created",
        "Times the spool's stream and group were recreated after they vanished",
        value=spool.groups_created,
    )
