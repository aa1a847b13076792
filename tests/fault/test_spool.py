"""The Redis spool under faults, through the real daemon: a kill -9 with deliveries spooled
and in flight loses none and sends each once after the restart; a Redis restart without
persistence under load loses nothing accepted, and the spool recovers on its own while
GET /ready says 503 and then 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.fault.test_delivery import (
    SMALL,
    assert_exactly_once,
    hook,
    numbered,
    path_of,
    ready,
    send_stream,
    slow,
    wait,
)
from tests.support import redis_restart
from tests.support.daemon import DaemonProcess, classic_api
from tests.support.servers import RedisServer
from tests.support.threaded import ThreadedReceiver, threaded_receivers
from tests.webhook.receiver import Action, RawRequest
from tykevents.deliver.webhook.spool import GROUP, STREAM

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.fixture
def receivers() -> Iterator[Callable[..., ThreadedReceiver]]:
    yield from threaded_receivers()


@pytest.fixture
def client(redis_url: str) -> Any:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def redis_conf(server: RedisServer, **webhooks: Any) -> dict[str, Any]:
    return {
        "storage": {"host": "127.0.0.1", "port": server.port, "timeout": 1},
        "tykevents": {
            "state": "redis",
            **SMALL,
            "webhooks": {**SMALL["webhooks"], "spool_consumer": "node1", **webhooks},
        },
    }


def settled(c: Any) -> tuple[int, int]:
    """(entries in the stream, entries pending in the group)."""
    return c.xlen(STREAM), c.xpending(STREAM, GROUP)["pending"]


def test_kill_9_with_a_spooled_backlog_delivers_each_once_after_restart(
    run_daemon, receivers, redis_server: RedisServer, client: Any
):
    n = 300
    healthy = threading.Event()
    answered: list[bytes] = []

    def respond(req: RawRequest) -> Any:
        if not healthy.is_set():
            return Action("hang")  # taken, never answered: a crash now must not lose it
        answered.append(req.body)
        return 200

    r = receivers(respond)
    d: DaemonProcess = run_daemon(
        conf=redis_conf(redis_server, pending_limit=400),
        apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url())]})},
    )
    send_stream(d, numbered(n))
    wait(lambda: settled(client) == (n, n), 20, f"{n} deliveries spooled and taken", d)
    assert d.proc is not None
    d.proc.kill()  # kill -9: nothing acknowledged, nothing dead-lettered
    d.proc.wait()
    d._log.close()
    healthy.set()
    d.start()
    wait(lambda: settled(client) == (0, 0), 30, "the spool to empty", d)
    time.sleep(0.3)
    assert_exactly_once([RawRequest(b"", body, i) for i, body in enumerate(answered)], n)
    assert len(answered) == n
    assert d.metric("tykevents_webhook_spool_recovered_total") == n
    assert d.stop() == 0


def test_redis_restart_without_data_under_load_loses_nothing(
    run_daemon, receivers, redis_server: RedisServer, client: Any
):
    n, rounds = 3000, 6
    r = receivers(slow(0.002, 10))
    d: DaemonProcess = run_daemon(
        conf=redis_conf(redis_server), apps={"a.json": classic_api("a", {"AuthFailure": [hook(r.url())]})}
    )
    assert ready(d)[0] == 200
    lines = numbered(n)
    per = n // rounds
    sent = threading.Event()

    def sender() -> None:
        for i in range(0, n, per):
            send_stream(d, lines[i : i + per])
            time.sleep(0.2)
        sent.set()

    t = threading.Thread(target=sender)
    t.start()
    wait(lambda: len(r.requests) >= per, 20, "deliveries under way", d)
    redis_restart.stop(redis_server)
    wait(lambda: ready(d)[0] == 503, 10, "/ready to report the outage", d)
    status, detail = ready(d)
    assert status == 503 and detail["webhooks"]["problems"], detail  # Redis down, spool failing
    time.sleep(0.5)  # load goes on while Redis is away: delivered from memory
    redis_restart.start_empty(redis_server)  # no stream, no group, no data
    wait(lambda: ready(d)[0] == 200, 15, "/ready to recover on its own", d)
    t.join(60)
    assert sent.is_set()
    wait(lambda: len({path_of(q.body) for q in r.requests}) >= n, 60, "every delivery", d)
    wait(lambda: settled(client) == (0, 0), 20, "the new stream to empty", d)
    time.sleep(0.3)
    assert_exactly_once(r.requests, n)
    assert d.metric("tykevents_webhook_spool_groups_created_total") >= 1
    assert d.metric("tykevents_webhook_redis_up") == 1 and d.metric("tykevents_webhook_spool_up") == 1
    assert d.stop() == 0
