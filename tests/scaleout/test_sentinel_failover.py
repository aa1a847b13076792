"""A Sentinel failover under load loses nothing accepted: the real daemon on a primary, a replica
and three Sentinels (tyk.conf `storage` with `master_name` and the Sentinels' addresses), a
stream of events over TCP, SENTINEL FAILOVER after about a third, and every webhook arrives at
least once (docs/operations.md#scale-out)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.scaleout.fleet import apps, instance_conf, metric_sum, numbered, paths, send_tcp, settled, wait
from tests.support.redis_topology import SentinelTopology

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

N = 2000
CHUNK = 50  # events per TCP connection: the stream spans the failover


@pytest.fixture
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    topo = SentinelTopology(tmp_path_factory.mktemp("sentinel"))
    try:
        yield topo
    finally:
        topo.stop()


def test_sentinel_failover_under_load_delivers_every_event(
    fleet: Any, receivers: Any, group: SentinelTopology
) -> None:
    r = receivers()
    storage = {**group.storage, "timeout": 2}
    (d,) = fleet({"node-a": instance_conf(storage, "node-a")}, apps(r.url("/")))
    old = group.primary_port()
    work = numbered(N)
    chunks = [work[i : i + CHUNK] for i in range(0, N, CHUNK)]
    new: list[int] = []
    failing = threading.Thread(target=lambda: new.append(group.failover()))
    started = time.monotonic()
    for i, chunk in enumerate(chunks):
        if i == len(chunks) // 3:
            failing.start()  # SENTINEL FAILOVER while the rest keeps coming
        send_tcp(d, chunk)
        time.sleep(0.02)
    failing.join(25)
    moved = time.monotonic()  # the Sentinels name the new primary
    assert not failing.is_alive() and new and new[0] != old, (old, new)

    wait(lambda: len(paths(r.requests, "/hook")) >= N, 25, f"{N} webhooks", [d])
    with redis.Redis(host="127.0.0.1", port=new[0], socket_timeout=2) as client:
        wait(lambda: settled(client) == (0, 0), 15, "the spool to empty", [d])
    time.sleep(0.5)  # a late duplicate would arrive now
    got = paths(r.requests, "/hook")
    assert set(got) == {f"/p{i}" for i in range(N)}  # every accepted event, at least once
    dups = sum(k - 1 for k in got.values())
    # Repeats come only from deliveries written again because the new primary lacked them
    # (acknowledged by the old primary, never replicated) and that had been read already.
    print(f"failover after {time.monotonic() - started:.1f}s: {dups} duplicate(s) of {N}")
    assert max(got.values()) <= 2, got  # written again once at most: at-least-once, not a storm
    assert metric_sum(d, "tykevents_webhook_dead_lettered_total") == 0
    assert d.health()["status"] == "running", d.health()
    # The spool noticed the new primary (its replication id) and checked what it lacked, at its
    # next check after the Sentinels named it (store/redis.py follow_primary), not when Sentinel
    # got round to demoting the old primary (about 10 s later on a loaded machine).
    d.wait_log(r"webhook spool: Redis lost its data or failed over", max(0.1, moved + 8 - time.monotonic()))
    assert d.stop() == 0
