"""Counters for the hot path and their Prometheus exposition: the daemon's one metrics style.

The ingest path runs hundreds of thousands of times a second, so every component bumps plain
integer attributes or dicts (no locks, no label lookups) and offers a `collect()` that turns them
into Prometheus metric families when /metrics is scraped; the daemon registers each such
component on its registry (Stats through StatsCollector, the services, the listeners). Labels
never carry keys: only transports, reasons, kinds, handler labels and target hosts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

TRANSPORTS = ("udp", "unix_dgram", "unix_stream", "tcp", "http", "grpc")


class Stats:
    """Every counter of the daemon, as plain attributes and small dicts."""

    def __init__(self) -> None:
        self.datagrams: dict[str, int] = dict.fromkeys(TRANSPORTS, 0)
        self.bytes_in: dict[str, int] = dict.fromkeys(TRANSPORTS, 0)
        self.records = 0  # decoded records of any kind
        self.events = 0  # decoded events
        self.rejected: defaultdict[str, int] = defaultdict(int)
        self.unknown_api = 0
        self.no_handler = 0
        self.routed = 0  # events that matched at least one handler
        self.enqueued: defaultdict[str, int] = defaultdict(int)
        self.dropped: defaultdict[str, int] = defaultdict(int)  # lane full (overload policy)
        self.handled: defaultdict[str, int] = defaultdict(int)
        self.failed: defaultdict[str, int] = defaultdict(int)
        self.quota_records = 0
        self.reloads = 0
        self.reload_failures = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view for /health and lifecycle log lines."""
        return {
            "datagrams": dict(self.datagrams),
            "records": self.records,
            "events": self.events,
            "rejected": dict(self.rejected),
            "unknown_api": self.unknown_api,
            "no_handler": self.no_handler,
            "routed": self.routed,
            "dropped": dict(self.dropped),
            "handled": dict(self.handled),
            "failed": dict(self.failed),
        }


class StatsCollector(Collector):
    """Exposes Stats (and queue depths from `depths()`) at scrape time."""

    def __init__(
        self,
        stats: Stats,
        depths: Callable[[], dict[str, int]],
        reject_reasons: Iterable[str] = (),
    ) -> None:
        self.stats = stats
        self.depths = depths
        self.reject_reasons = tuple(reject_reasons)  # always exposed, at 0 until they happen

    def collect(self) -> Iterable[Any]:
        s = self.stats
        c = CounterMetricFamily(
            "tykevents_datagrams", "Datagrams, stream chunks or HTTP bodies received", labels=["transport"]
        )
        for t, n in s.datagrams.items():
            c.add_metric([t], n)
        yield c
        c = CounterMetricFamily("tykevents_received_bytes", "Bytes received", labels=["transport"])
        for t, n in s.bytes_in.items():
            c.add_metric([t], n)
        yield c
        yield CounterMetricFamily("tykevents_records", "Records decoded", value=s.records)
        yield CounterMetricFamily("tykevents_events_decoded", "Event records decoded", value=s.events)
        yield CounterMetricFamily(
            "tykevents_quota_records", "Quota-usage records decoded", value=s.quota_records
        )
        c = CounterMetricFamily("tykevents_rejected", "Records rejected", labels=["reason"])
        for r in sorted(set(self.reject_reasons) | set(s.rejected)):
            c.add_metric([r], s.rejected.get(r, 0))
        yield c
        c = CounterMetricFamily("tykevents_unrouted", "Events that matched no handler", labels=["reason"])
        c.add_metric(["unknown_api"], s.unknown_api)
        c.add_metric(["no_handler"], s.no_handler)
        yield c
        yield CounterMetricFamily("tykevents_routed", "Events routed to at least one handler", value=s.routed)
        for name, d, doc in (
            ("tykevents_enqueued", s.enqueued, "Handler calls queued"),
            ("tykevents_dropped", s.dropped, "Handler calls dropped because the lane was full"),
            ("tykevents_handled", s.handled, "Handler calls that completed"),
            ("tykevents_handler_failed", s.failed, "Handler calls that raised"),
        ):
            c = CounterMetricFamily(name, doc, labels=["kind"])
            for k, n in sorted(d.items()):
                c.add_metric([k], n)
            yield c
        g = GaugeMetricFamily("tykevents_queue_depth", "Handler calls waiting per lane", labels=["lane"])
        for k, n in sorted(self.depths().items()):
            g.add_metric([k], n)
        yield g
        yield CounterMetricFamily("tykevents_reloads", "Successful reloads", value=s.reloads)
        yield CounterMetricFamily("tykevents_reload_failures", "Failed reloads", value=s.reload_failures)
