"""The topologies themselves: each answers with its `storage` settings' addresses, and no more."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from tests.support.redis_topology import RedisClusterTopology, SentinelTopology, TLSRedis

NO_RETRY = Retry(NoBackoff(), 0)


def test_cluster_spreads_keys_over_three_masters(redis_cluster: RedisClusterTopology) -> None:
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in redis_cluster.ports])
    try:
        for i in range(30):
            rc.set(f"k{i}", i)
        per_node = [redis.Redis(port=p).dbsize() for p in redis_cluster.ports]
    finally:
        rc.close()
    assert sum(per_node) == 30 and all(per_node)
    assert redis_cluster.storage["enable_cluster"] is True


def test_tls_redis_refuses_plain_and_certless_clients(tls_redis: TLSRedis) -> None:
    assert redis.Redis(port=tls_redis.port, **tls_redis.client_tls()).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=tls_redis.port, socket_timeout=1, retry=NO_RETRY).ping()
    no_cert = {k: v for k, v in tls_redis.client_tls().items() if k in ("ssl", "ssl_ca_certs")}
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=tls_redis.port, socket_timeout=1, retry=NO_RETRY, **no_cert).ping()


def test_sentinel_failover_moves_the_primary(sentinel_group_factory) -> None:  # type: ignore[no-untyped-def]
    group: SentinelTopology = sentinel_group_factory(sentinels=1)
    old = group.primary_port()
    new = group.failover()
    assert new != old and group.primary_port() == new
