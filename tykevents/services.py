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

    st = cfg.storage
    common: dict[str, Any] = dict(
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

    async def for_generation(self, cfg: "Config", apis: list["APIDefinition"]) -> dict[str, Any]:
        return dict(self.shared)

    async def after_routes(self, services: dict[str, Any], routes: "RouteTable") -> None:
        pass

    def attach(self, pipeline: "Pipeline", lanes: "Lanes") -> None:
        self.pipeline = pipeline
        self.lanes = lanes

    async def drain(self, deadline: float) -> bool:
        return time.monotonic() <= deadline

    async def retire_generation(self, extras: dict[str, Any]) -> None:
        pass

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    def metrics(self) -> Iterable[Any]:
        return ()
