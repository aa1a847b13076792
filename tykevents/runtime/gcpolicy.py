"""Garbage collection for a daemon whose heap is mostly its configuration.

After start the heap holds the API definitions, compiled templates and programs, JS VMs and
modules: hundreds of thousands of objects that live as long as their generation. CPython's
full collection walks all of them; measured on a loaded daemon, one took about 100 ms, a
stall that every event arriving during it waits out (docs/operations.md#garbage-collection).

settle() collects once and then freezes what survived (gc.freeze: the collector no longer
walks those objects, and frees none of them). It runs when a generation starts serving: at
start, and after a reload once the old generation is closed (gc.unfreeze first, so that the
old generation's cycles are freed rather than kept frozen for good).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("tykevents.runtime.gcpolicy")


def settle() -> None:
    """Collect everything, then freeze the survivors."""
    t0 = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    took = (time.perf_counter() - t0) * 1000
    logger.debug("gc: %d objects frozen in %.1f ms", gc.get_freeze_count(), took)


class FrozenCollector(Collector):
    """`tykevents_gc_frozen_objects`: what settle() took out of the collector's sight."""

    def collect(self) -> Iterable[Any]:
        yield GaugeMetricFamily(
            "tykevents_gc_frozen_objects",
            "Objects frozen out of full garbage collections (the configuration's, at start and reload)",
            value=gc.get_freeze_count(),
        )
