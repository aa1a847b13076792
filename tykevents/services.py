"""Long-lived services the handlers share, and the per-generation ones.

Process-wide (kept across reloads): the Redis client, the webhook delivery service, the
cooldown store, the session store and the quota monitor. Per configuration generation: the
JS VM, because a reload must reload every script (Tyk K1). Handler builders find them in
BuildContext.services by name.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tykevents.apps import APIDefinition
    from tykevents.config import Config
    from tykevents.pipeline import Pipeline
    from tykevents.route import RouteTable
    from tykevents.runtime.metrics import Stats
    from tykevents.work import Lanes

logger = logging.getLogger("tykevents.services")


def redis_client(cfg: "Config") -> Any:
    """redis.asyncio client from tyk.conf `storage` (cluster when enable_cluster)."""
    import redis.asyncio as aredis

    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    st = cfg.storage
    # Few, quick retries: a Redis outage must cost a handler call milliseconds, not seconds
    # (a cooldown check falls back to "not fired", as in Tyk).
    common: dict[str, Any] = dict(
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=1),
        username=st.username or None,
        password=st.password or None,
        ssl=st.use_ssl,
        socket_timeout=st.timeout,
        socket_connect_timeout=st.timeout,
    )
    if st.enable_cluster:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode(*a.rsplit(":", 1)) for a in st.addrs] or [ClusterNode(st.host, st.port)]
        return RedisCluster(startup_nodes=nodes, **common)
    if st.addrs:
        host, _, port = st.addrs[0].rpartition(":")
        return aredis.Redis(host=host, port=int(port), db=st.database, **common)
    return aredis.Redis(host=st.host, port=st.port, db=st.database, **common)


class Services:
    def __init__(self, config: "Config", stats: "Stats", registry: "CollectorRegistry") -> None:
        self.config = config
        self.stats = stats
        self.registry = registry
        self.redis: Any = None
        self.shared: dict[str, Any] = {}

    async def start(self) -> None:
        if self.config.tykevents.state == "redis":
            self.redis = redis_client(self.config)
            await self.redis.ping()  # fail fast at start; later outages are handled per call
            logger.info("state: redis at %s:%d", self.config.storage.host, self.config.storage.port)
        else:
            logger.info("state: in memory (this instance only)")
        self.shared["redis"] = self.redis
        from tykevents.deliver.webhook.service import service_from_config

        self.webhooks = service_from_config(self.config, self.redis, self.registry)
        await self.webhooks.start()
        self.shared["webhooks"] = self.webhooks

    async def for_generation(self, cfg: "Config", apis: list["APIDefinition"]) -> dict[str, Any]:
        return dict(self.shared)

    async def after_routes(self, services: dict[str, Any], routes: "RouteTable") -> None:
        pass

    def attach(self, pipeline: "Pipeline", lanes: "Lanes") -> None:
        self.pipeline = pipeline
        self.lanes = lanes

    async def drain(self, deadline: float) -> bool:
        """Finish accepted webhook deliveries (retries included) before the deadline; what
        is left goes to the dead-letter store, so nothing accepted is lost."""
        return await self.webhooks.drain(max(0.0, deadline - time.monotonic()))

    async def retire_generation(self, extras: dict[str, Any]) -> None:
        pass

    async def close(self) -> None:
        await self.webhooks.close()
        if self.redis is not None:
            await self.redis.aclose()

    def metrics(self) -> Iterable[Any]:
        return ()
