"""Counters of the Python event handlers, process-wide, in the daemon's metrics style
(tykevents.runtime.metrics): plain integers, turned into `tykevents_python_total{what}` by
`collect()` when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from prometheus_client.core import CounterMetricFamily, Metric


@dataclass
class PythonStats:
    calls: int = 0
    failures: int = 0  # calls that raised, timed out or lost their process
    timeouts: int = 0  # calls cut at tykevents.python.call_time_limit (their process killed)
    restarts: int = 0  # handler processes started after the first one of a handler
    load_errors: int = 0  # imports of a bundle that failed (at build or at a restart)


STATS = PythonStats()


def collect() -> Iterable[Metric]:
    c = CounterMetricFamily("tykevents_python", "Python event handler runtime events", labels=["what"])
    for f in fields(STATS):
        c.add_metric([f.name], getattr(STATS, f.name))
    yield c
