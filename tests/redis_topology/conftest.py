"""Real Redis topologies (tests/support/redis_topology.py) as fixtures.

The cluster (`redis_cluster`, in tests/conftest.py: the scale-out tests share it) and the
TLS-only Redis serve the whole session, flushed before each test; a test that fails a
Sentinel group over gets a group of its own (`sentinel_group_factory`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_topology import SentinelTopology, TLSRedis
from tykevents.config import Config, load_config
from tykevents.store.redis import redis_client


@pytest.fixture(scope="session")
def _sentinel_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    with SentinelTopology(tmp_path_factory.mktemp("sentinel")) as topo:
        yield topo


@pytest.fixture
def sentinel_group(_sentinel_session: SentinelTopology) -> SentinelTopology:
    """A primary, a replica and three Sentinels (quorum 2), empty; do not fail it over."""
    _sentinel_session.flushall()
    return _sentinel_session


@pytest.fixture
def sentinel_group_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SentinelTopology]]:
    """Sentinel groups of the test's own (sentinels=, password=, sentinel_password=), stopped after it."""
    started: list[SentinelTopology] = []

    def make(**kwargs: Any) -> SentinelTopology:
        topo = SentinelTopology(tmp_path_factory.mktemp("sentinel"), **kwargs)
        started.append(topo)
        return topo

    yield make
    for topo in started:
        topo.stop()


@pytest.fixture(scope="session")
def _tls_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedis]:
    with TLSRedis(tmp_path_factory.mktemp("tls")) as topo:
        yield topo


@pytest.fixture
def tls_redis(_tls_session: TLSRedis) -> TLSRedis:
    """A Redis that speaks only TLS and demands a client certificate from the test CA, empty."""
    _tls_session.flushall()
    return _tls_session


def config_for(where: Path, storage: dict[str, Any], **extra: Any) -> Config:
    """A Config read from a tyk.conf with this `storage` block (as a gateway would have it)."""
    path = where / "tyk.conf"
    path.write_text(json.dumps({"storage": storage, **extra}))
    return load_config(path)


TOPOLOGIES = ["redis_cluster", "sentinel_group", "tls_redis"]


@pytest.fixture(params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest) -> Any:
    """Each topology in turn (the session's, emptied)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
async def clients(topology: Any, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """(asyncio client, blocking client) made by tykevents from the topology's `storage`."""
    cfg = config_for(tmp_path, topology.storage)
    a, s = redis_client(cfg), redis_client(cfg, use_async=False)
    yield a, s
    await a.aclose()
    s.close()
