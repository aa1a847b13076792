"""Scale-out: several real daemons on one Redis Cluster (three masters), one killed under load.

Every redis-server, daemon and receiver is started here (or by the shared fixtures of
tests/conftest.py) and stopped by PID after its test. Bounded: the folder runs in about a
minute on two cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import ClusterNode, RedisCluster

from tests.scaleout.fleet import start_all
from tests.support.daemon import DaemonProcess
from tests.support.redis_topology import RedisClusterTopology
from tests.support.threaded import ThreadedReceiver, threaded_receivers


class Shared:
    """The Redis the daemons share: tyk.conf's `storage` block and a client for the test."""

    def __init__(self, storage: dict[str, Any], client: Any) -> None:
        self.storage = storage
        self.client = client


@pytest.fixture
def shared(redis_cluster: RedisClusterTopology) -> Iterator[Shared]:
    """The session's cluster (tests/conftest.py), emptied, with a client for the test."""
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in redis_cluster.ports])
    try:
        yield Shared({**redis_cluster.storage, "timeout": 2}, client)
    finally:
        client.close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., ThreadedReceiver]]:
    yield from threaded_receivers()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Callable[..., list[DaemonProcess]]]:
    """`fleet({"node-a": conf, ...}, apps)`: one daemon per name, each in its own folder,
    started together; every one is stopped (SIGTERM, then SIGKILL) after the test."""
    made: list[DaemonProcess] = []

    def make(confs: dict[str, dict[str, Any]], apps: dict[str, Any]) -> list[DaemonProcess]:
        ds = []
        for name, conf in confs.items():
            where = tmp_path / name
            where.mkdir()
            ds.append(DaemonProcess(where, conf=conf, apps=apps))
        made.extend(ds)
        return start_all(ds)

    yield make
    for d in made:
        d.stop()
