"""A redis-py client from tyk.conf `storage`, the way the gateways reach the same Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tykevents.config import Config


def redis_client(cfg: Config, use_async: bool = True) -> Any:
    """A redis-py client from tyk.conf `storage` (cluster when enable_cluster).

    The asyncio client serves the event loop; the JS VM thread needs a blocking one.
    """
    if use_async:
        import redis.asyncio as mod
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.retry import Retry
    else:
        import redis as mod  # type: ignore[no-redef]
        from redis.cluster import ClusterNode, RedisCluster  # type: ignore[assignment]
        from redis.retry import Retry  # type: ignore[assignment]
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
    addrs = [(h, int(p)) for h, _, p in (a.rpartition(":") for a in st.addrs)] or [(st.host, st.port)]
    if st.enable_cluster:
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in addrs], **common)
    return mod.Redis(host=addrs[0][0], port=addrs[0][1], db=st.database, **common)
