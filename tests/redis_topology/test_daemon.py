"""The real daemon (`tykevents run`) with `state: "redis"` on each topology, reaching it with the
tyk.conf `storage` block a gateway would have: webhooks go through the Redis spool, and two
daemons fire each monitor level once."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.monitor.conftest import session
from tests.monitor.test_daemon import monitor_block
from tests.support.daemon import classic_api, event
from tests.support.threaded import ThreadedReceiver
from tykevents.deliver.webhook.spool import GROUP, STREAM
from tykevents.store.redis import redis_client

from .conftest import config_for

pytestmark = [pytest.mark.redis, pytest.mark.e2e]


@pytest.fixture
def receiver() -> Iterator[ThreadedReceiver]:
    r = ThreadedReceiver()
    yield r
    r.close()


def hook(url: str) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 0},
    }


def test_webhooks_and_monitor_on_each_topology(
    topology: Any, run_daemon: Any, receiver: ThreadedReceiver, tmp_path: Path
) -> None:
    conf = {
        "storage": topology.storage,
        "monitor": monitor_block(receiver.url("/monitor")),
        "tykevents": {"state": "redis", "webhooks": {"spool_consumer": "a"}},
    }
    apps = {"a.json": classic_api("a", {"AuthFailure": [hook(receiver.url("/hook"))]})}
    a = run_daemon(subdir="a", conf=conf, apps=apps)
    conf_b = json.loads(json.dumps(conf))
    conf_b["tykevents"]["webhooks"]["spool_consumer"] = "b"
    b = run_daemon(subdir="b", conf=conf_b, apps=apps)
    meta = {"Message": "m", "Origin": "10.0.0.1", "Key": "k1234567"}
    for i in range(20):
        (a if i % 2 else b).send_udp([event("AuthFailure", "a", {**meta, "Path": f"/p{i}"})])
    renews = int(time.time()) + 3600
    # Levels 50, 80 (the global limit) and 90, every record told to both daemons.
    for rem, (first, second) in zip((6, 5, 4, 2, 1, 0), [(a, b), (b, a)] * 3, strict=True):
        rec = {"Kind": "quota", "Key": "key1", "Session": session(rem, renews=renews, limits=[50, 90])}
        first.send_udp([rec])
        second.send_udp([rec])
        time.sleep(0.1)
    receiver.wait_for(23, timeout=15)  # 20 webhooks and the three levels
    time.sleep(0.5)  # a duplicate would arrive now
    hooks = [r for r in receiver.requests if r.target == "/hook"]
    paths = sorted(json.loads(r.body)["path"] for r in hooks)
    assert paths == sorted(f"/p{i}" for i in range(20))  # each once, whichever daemon got it
    levels = sorted(
        int(re.search(rb'"trigger_limit": "(\d+)"', r.body).group(1))  # type: ignore[union-attr]
        for r in receiver.requests
        if r.target == "/monitor"
    )
    # Every level exactly once across the daemons, though each got every record: whichever
    # claim reaches Redis first, a level is refused only where that level fired.
    assert levels == [50, 80, 90], levels
    # The deliveries went through the spool (the stream and its group exist, all acknowledged).
    client = redis_client(config_for(tmp_path, topology.storage), use_async=False)
    try:
        groups = client.xinfo_groups(STREAM)
        assert [g["name"] for g in groups] == [GROUP.encode()] and groups[0]["pending"] == 0
        consumers = {c["name"] for c in client.xinfo_consumers(STREAM, GROUP)}
        assert consumers == {b"a", b"b"}
    finally:
        client.close()
    for d in (a, b):
        assert d.stop() == 0
        assert "password" not in d.log().lower()
