"""Long-lived services the handlers share, and the per-generation ones.

Process-wide (kept across reloads): the Redis client, the webhook delivery service, the
cooldown store, the session store and the quota monitor. Per configuration generation: the
JS VM, because a reload must reload every script (Tyk K1). Handler builders find them in
BuildContext.services by name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tykevents.apps import APIDefinition
    from tykevents.config import Config
    from tykevents.pipeline import Pipeline
    from tykevents.runtime.metrics import Stats
    from tykevents.work import Lanes

from tykevents.store.redis import redis_client

logger = logging.getLogger("tykevents.services")


class Services:
    def __init__(self, config: Config, stats: Stats, registry: CollectorRegistry) -> None:
        self.config = config
        self.stats = stats
        self.registry = registry
        self.redis: Any = None
        self.sync_redis: Any = None
        self.webhooks: Any = None
        self.monitor: Any = None
        self.shared: dict[str, Any] = {}
        self.active_jsvm: Any = None
        self._js_retired: dict[str, int] = {}  # JS counters of retired VMs, so totals only grow

    async def start(self) -> None:
        if self.config.tykevents.state == "redis":
            self.redis = redis_client(self.config)
            await self.redis.ping()  # fail fast at start; later outages are handled per call
            logger.info("state: redis at %s:%d", self.config.storage.host, self.config.storage.port)
        else:
            logger.info("state: in memory (this instance only)")
        self.shared["redis"] = self.redis
        self._session_stores()
        from tykevents.deliver.webhook.service import service_from_config

        self.webhooks = service_from_config(self.config, self.redis, self.registry)
        await self.webhooks.start()
        self.shared["webhooks"] = self.webhooks
        from tykevents.monitor.service import MonitorService

        self.monitor = MonitorService(
            webhooks=self.webhooks, sessions=self.shared["sessions_async"], redis=self.redis
        )
        self.shared["monitor"] = self.monitor

    def _session_stores(self) -> None:
        """Sessions as Tyk stores them: a blocking store for the JS thread and an async view
        of the same data for the event loop (the quota monitor)."""
        from tykevents.store import sessions

        hash_keys = self.config.hash_keys
        if self.redis is not None:
            self.sync_redis = redis_client(self.config, use_async=False)
            self.shared["sessions"] = sessions.RedisSessionStore(self.sync_redis, hash_keys)
            self.shared["sessions_async"] = sessions.AsyncRedisSessionStore(self.redis, hash_keys)
        else:
            self.sync_redis = None
            memory = sessions.MemorySessionStore(hash_keys)
            self.shared["sessions"] = memory
            self.shared["sessions_async"] = sessions.AsyncSessionView(memory)

    async def for_generation(self, cfg: Config, apis: list[APIDefinition]) -> dict[str, Any]:
        """The services one configuration generation's handlers see: the shared ones, and a
        fresh JS VM so that a reload reloads every script (Tyk K1)."""
        services = dict(self.shared)
        if cfg.enable_jsvm:
            from tykevents.deliver.jsvm.runtime import JSRuntime, runtime_options

            services["jsvm"] = await asyncio.to_thread(
                JSRuntime, cfg, self.shared["sessions"], **runtime_options(cfg)
            )
        return services

    def activate(self, cfg: Config, services: dict[str, Any]) -> None:
        """A generation goes live: the monitor webhook is rebuilt from its tyk.conf (Tyk
        builds it once at start)."""
        self.monitor.configure(cfg)
        self.active_jsvm = services.get("jsvm")

    def attach(self, pipeline: Pipeline, lanes: Lanes) -> None:
        self.monitor.attach(lanes)
        pipeline.quota_sink = self.monitor.sink

    async def drain(self, deadline: float) -> bool:
        """Finish accepted webhook deliveries (retries included) before the deadline; what
        is left goes to the dead-letter store, so nothing accepted is lost."""
        if self.webhooks is None:
            return True
        return await self.webhooks.drain(max(0.0, deadline - time.monotonic()))

    async def retire_generation(self, services: dict[str, Any]) -> None:
        """Close a retired (or never activated) generation's JS VM."""
        vm = services.get("jsvm")
        if vm is not None and vm is not self.shared.get("jsvm"):
            await vm.aclose()
            for k, v in vars(vm.stats).items():
                self._js_retired[k] = self._js_retired.get(k, 0) + v
            if vm is self.active_jsvm:
                self.active_jsvm = None

    async def close(self) -> None:
        """Close whatever start() got to open (it may have failed half-way)."""
        if self.webhooks is not None:
            await self.webhooks.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.sync_redis is not None:
            self.sync_redis.close()

    def metrics(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily

        if self.monitor is not None:
            yield from self.monitor.metrics()
        if self.webhooks is not None:
            w = self.webhooks
            yield CounterMetricFamily(
                "tykevents_webhook_dead_lettered", "Deliveries kept as dead letters", value=w.dead_lettered
            )
            yield CounterMetricFamily(
                "tykevents_webhook_dropped", "Deliveries dropped over pending_limit", value=w.dropped
            )
            if w.spool is not None:
                yield CounterMetricFamily(
                    "tykevents_webhook_spool_fallbacks",
                    "Deliveries kept in memory only because Redis failed",
                    value=w.spool.fallbacks,
                )
                yield CounterMetricFamily(
                    "tykevents_webhook_spool_recovered",
                    "Spooled deliveries claimed after a crash",
                    value=w.spool.recovered,
                )
        js = dict(self._js_retired)
        if self.active_jsvm is not None:
            for k, v in vars(self.active_jsvm.stats).items():
                js[k] = js.get(k, 0) + v
        c = CounterMetricFamily("tykevents_js", "JS handler runtime events", labels=["what"])
        for k in ("calls", "failures", "timeouts", "out_of_memory", "rebuilds", "load_errors"):
            c.add_metric([k], js.get(k, 0))
        yield c
