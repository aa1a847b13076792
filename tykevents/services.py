"""Long-lived services the handlers share, and the per-generation ones.

Process-wide (kept across reloads): the Redis clients, the webhook delivery service, the
session stores and the quota monitor. Per configuration generation: the JS VM, because a reload
must reload every script (docs/compatibility.md). Handler builders receive them typed, as the
HandlerServices of their generation (tykevents.deliver.base).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, Metric

from tykevents.deliver.base import Handler, HandlerServices
from tykevents.deliver.python import stats as python_stats
from tykevents.deliver.webhook.service import WebhookService, service_from_config
from tykevents.monitor.service import MonitorService
from tykevents.store import sessions
from tykevents.store.redis import describe, redis_client

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tykevents.config import Config
    from tykevents.pipeline import Pipeline
    from tykevents.runtime.metrics import Stats
    from tykevents.work import Lanes

logger = logging.getLogger("tykevents.services")

# Always exposed (at 0 without JS); any other counter a runtime's JSStats has is added to them.
_JS_COUNTERS = ("calls", "failures", "timeouts", "out_of_memory", "rebuilds", "load_errors", "abandoned")


class Services:
    def __init__(self, config: Config, stats: Stats, registry: CollectorRegistry) -> None:
        self.config = config
        self.stats = stats
        self.registry = registry
        self.redis: Any = None  # redis.asyncio client (or cluster client), None with memory state
        self.sync_redis: Any = None  # a blocking client for the JS VM thread
        self.webhooks: WebhookService | None = None
        self.monitor: MonitorService | None = None
        self.sessions: sessions.SessionStore | None = None  # blocking: the JS VM thread's
        self.sessions_async: sessions.AsyncSessionStore | None = None  # the event loop's
        self.active: HandlerServices | None = None
        self._js_retired: dict[str, int] = {}  # JS counters of retired VMs, so totals only grow

    async def start(self) -> None:
        if self.config.tykevents.state == "redis":
            self.redis = redis_client(self.config)
            await self.redis.ping()  # fail fast at start; later outages are handled per call
            logger.info("state: redis at %s", describe(self.config.storage))
        else:
            logger.info("state: in memory (this instance only)")
        self._session_stores()
        self.webhooks = service_from_config(self.config, self.redis)  # collected by collect() below
        await self.webhooks.start()
        self.monitor = MonitorService(webhooks=self.webhooks, sessions=self.sessions_async, redis=self.redis)

    def _session_stores(self) -> None:
        """Sessions as Tyk stores them: a blocking store for the JS thread and an async view
        of the same data for the event loop (the quota monitor)."""
        hash_keys = self.config.hash_keys
        if self.redis is not None:
            self.sync_redis = redis_client(self.config, use_async=False)
            self.sessions = sessions.RedisSessionStore(self.sync_redis, hash_keys)
            self.sessions_async = sessions.AsyncRedisSessionStore(self.redis, hash_keys)
        else:
            memory = sessions.MemorySessionStore(hash_keys)
            self.sessions = memory
            self.sessions_async = sessions.AsyncSessionView(memory)

    async def for_generation(self, cfg: Config) -> HandlerServices:
        """The services one generation's handlers see: the shared ones, and a fresh JS VM so
        that a reload reloads every script (as Tyk does)."""
        services = HandlerServices(webhooks=self.webhooks)
        if cfg.enable_jsvm:
            from tykevents.deliver.jsvm.runtime import JSRuntime, runtime_options

            services.jsvm = await asyncio.to_thread(JSRuntime, cfg, self.sessions, **runtime_options(cfg))
        return services

    def activate(self, cfg: Config, services: HandlerServices, monitor_webhook: Handler | None) -> None:
        """A generation goes live, with its monitor rule and webhook."""
        assert self.monitor is not None
        self.monitor.configure(cfg, monitor_webhook)
        self.active = services

    def attach(self, pipeline: Pipeline, lanes: Lanes) -> None:
        assert self.monitor is not None
        self.monitor.attach(lanes)
        pipeline.quota_sink = self.monitor.sink

    async def drain(self, deadline: float) -> bool:
        """Finish accepted webhook deliveries (retries included) before the deadline; what
        is left goes to the dead-letter store, so nothing accepted is lost."""
        if self.webhooks is None:
            return True
        return await self.webhooks.drain(max(0.0, deadline - time.monotonic()))

    @property
    def lost(self) -> int:
        """Dead letters that could be stored nowhere (at shutdown): the daemon exits 1."""
        return self.webhooks.lost if self.webhooks is not None else 0

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """GET /ready: (ready, detail). Not ready while Redis is unreachable, the webhook spool
        cannot work, or dead letters cannot be stored (docs/operations.md#health-and-metrics)."""
        if self.webhooks is None:
            return False, {"webhooks": "not started"}
        ok, detail = self.webhooks.ready()
        return ok, {"webhooks": detail}

    async def retire_generation(self, services: HandlerServices) -> None:
        """Close a retired (or never activated) generation's JS VM."""
        vm = services.jsvm
        if vm is None:
            return
        await vm.aclose()
        for k, n in vars(vm.stats).items():
            self._js_retired[k] = self._js_retired.get(k, 0) + n
        if self.active is services:
            self.active = None

    async def close(self) -> None:
        """Close whatever start() got to open (it may have failed half-way)."""
        if self.webhooks is not None:
            await self.webhooks.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.sync_redis is not None:
            self.sync_redis.close()

    def collect(self) -> Iterable[Metric]:
        """The services' metrics (a prometheus_client collector: see tykevents.runtime.metrics)."""
        if self.monitor is not None:
            yield from self.monitor.collect()
        yield from python_stats.collect()  # Python event handlers' timeouts and restarts
        if self.webhooks is not None:
            yield from self.webhooks.collect()
        js = dict(self._js_retired)
        vm = self.active.jsvm if self.active is not None else None
        if vm is not None:
            for k, n in vars(vm.stats).items():
                js[k] = js.get(k, 0) + n
        c = CounterMetricFamily("tykevents_js", "JS handler runtime events", labels=["what"])
        for k in (*_JS_COUNTERS, *sorted(js.keys() - set(_JS_COUNTERS))):
            c.add_metric([k], js.get(k, 0))
        yield c
