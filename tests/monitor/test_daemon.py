"""The monitor in the real daemon (`tykevents run` in a subprocess): quota records over its
sockets, TriggerExceeded at a real receiver; two daemons sharing a real redis-server.

These need the monitor wired in tykevents.services and Kind "org_quota" known to the
pipeline (docs/monitor.md, "Wiring")."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.daemon import classic_api, log_handler
from tests.support.threaded import ThreadedReceiver

from .conftest import HOUR, TEMPLATES, session
from .test_service import MONITOR_TEMPLATE_BODY, SPEC_3_3_BODY

pytestmark = pytest.mark.e2e


def monitor_block(url: str, **kw: Any) -> dict[str, Any]:
    return {
        "enable_trigger_monitors": True,
        "global_trigger_limit": 80,
        "monitor_user_keys": True,
        "monitor_org_keys": True,
        "configuration": {
            "method": "POST",
            "target_path": url,
            "template_path": str(TEMPLATES / "monitor_template.json"),
        },
        **kw,
    }


@pytest.fixture
def receiver():
    r = ThreadedReceiver()
    yield r
    r.close()


@pytest.fixture
def daemons(run_daemon):
    return lambda name, **kw: run_daemon(subdir=name, **kw)


def quota(key: str, remaining: int, **kw: Any) -> dict[str, Any]:
    return {"Kind": "quota", "Key": key, "Session": session(remaining, **kw)}


def test_quota_records_through_the_daemon(daemons, receiver) -> None:
    # A log handler for TriggerExceeded on an API: the monitor's event never reaches it.
    d = daemons(
        "one",
        conf={"monitor": monitor_block(receiver.url("/m"))},
        apps={"a.json": classic_api("a", {"TriggerExceeded": [log_handler("never")]})},
    )
    d.send_udp(
        [
            quota("key1", 3),
            quota("key1", 2),
            quota("key1", 0),
            {"Kind": "org_quota", "OrgID": "org1", "Session": session(1)},
            {"Kind": "quota", "Key": "key1", "Session": {"quota_max": 10, "quota_remaining": 11}},
        ]
    )
    reqs = receiver.wait_for(2)
    time.sleep(0.3)
    assert [r.body for r in receiver.requests] == [
        MONITOR_TEMPLATE_BODY,
        MONITOR_TEMPLATE_BODY.replace(b'"key1"', b'""'),
    ]
    assert reqs[0].header("User-Agent") == "Tyk-Hookshot"
    assert d.metric("tykevents_monitor_records_total", kind="quota") == 4
    assert d.metric("tykevents_monitor_records_total", kind="org_quota") == 1
    assert d.metric("tykevents_monitor_rejected_total", reason="remaining_above_max") == 1
    assert d.metric("tykevents_monitor_sent_total") == 2
    assert "never:TriggerExceeded" not in d.log()


def test_reload_rebuilds_the_monitor_webhook(daemons, receiver, tmp_path: Path) -> None:
    # The default template is missing at start: Init fails, the daemon runs and counts.
    empty = tmp_path / "empty"
    empty.mkdir()
    block = monitor_block(receiver.url())
    block["configuration"]["template_path"] = ""
    d = daemons("init", conf={"monitor": block, "template_path": str(empty)})
    d.wait_log("Failed to initialise monitor!")
    d.send_udp([quota("key1", 2)])
    d.wait_until(
        lambda: d.metric("tykevents_monitor_rejected_total", reason="monitor_unavailable") == 1,
        5,
        "the rejection to be counted",
    )
    d.conf["template_path"] = str(TEMPLATES)
    d.write_conf()
    d.reload()
    d.send_udp([quota("key1", 2)])
    assert receiver.wait_for(1)[0].body == SPEC_3_3_BODY  # no template_path: the default one


@pytest.mark.redis
def test_two_daemons_sharing_redis_fire_each_level_once(daemons, receiver, redis_server, redis_url) -> None:
    conf = {
        "monitor": monitor_block(receiver.url()),
        "storage": {"host": "127.0.0.1", "port": redis_server.port},
        "hash_keys": True,
        "tykevents": {"state": "redis"},
    }
    a, b = daemons("a", conf=conf), daemons("b", conf=json.loads(json.dumps(conf)))
    renews = int(time.time()) + HOUR
    for rem, (first, second) in zip((6, 5, 4, 2, 1, 0), [(a, b), (b, a)] * 3, strict=True):
        rec = quota("key1", rem, renews=renews, limits=[50, 90])
        first.send_udp([rec])
        second.send_udp([rec])
        time.sleep(0.05)
    # A key-only record resolved from Tyk's layout in the shared Redis (hash_keys: murmur32).
    sync = redis.Redis.from_url(redis_url)
    sync.set("apikey-b3dd93fa", json.dumps(session(10, limits=[50], renews=renews)))
    sync.set("quota-b3dd93fa", 7)
    b.send_udp([{"Kind": "quota", "Key": "abc"}])
    a.send_udp([{"Kind": "quota", "Key": "abc"}])
    receiver.wait_for(4)
    time.sleep(0.5)
    got = sorted(
        (
            re.search(rb'"key": "(\w+)"', r.body).group(1),
            re.search(rb'"trigger_limit": "(\d+)"', r.body).group(1),
        )
        for r in receiver.requests
    )
    assert got == [(b"abc", b"50"), (b"key1", b"50"), (b"key1", b"80"), (b"key1", b"90")]
    suppressed = sum(x.metric("tykevents_monitor_shared_suppressed_total") for x in (a, b))
    assert suppressed >= 3
    sync.close()
