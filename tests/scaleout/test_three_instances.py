"""Three daemons on one Redis, one stream of work split across them: each webhook delivered
once, each cooldown held across instances, each monitor level fired once; and a kill -9 of one
instance whose spooled deliveries the other two take over."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.scaleout.conftest import Shared
from tests.scaleout.fleet import (
    HOUR,
    LEVELS,
    apps,
    entries_added,
    fires,
    instance_conf,
    metric_sum,
    numbered,
    paths,
    pending_of,
    quota,
    send_http,
    send_tcp,
    send_udp,
    settled,
    wait,
)
from tests.support.overload import slow

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

NAMES = ("node-a", "node-b", "node-c")


def in_parallel(*jobs: Callable[[], Any]) -> None:
    threads = [threading.Thread(target=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)


def test_three_instances_deliver_once_cool_down_once_and_fire_each_level_once(
    fleet: Any, receivers: Any, shared: Shared
) -> None:
    n, cooled, keys = 600, 20, 8
    r = receivers()
    ds = fleet(
        {name: instance_conf(shared.storage, name, r.url("/monitor")) for name in NAMES}, apps(r.url("/"))
    )
    a, b, c = ds
    plain = numbered(n)
    same = numbered(cooled, api_id="c", type="KeyExpired")  # to every instance: one fire each
    renews = int(time.time()) + HOUR

    def phase(remaining: tuple[int, int, int]) -> list[list[Any]]:
        """One record per key for each instance, all in the same band of usage."""
        return [[quota(f"key{k}", rem, renews) for k in range(keys)] for rem in remaining]

    # Phase one: the webhooks (UDP to a, TCP to b, HTTP to c), the cooldown events to all,
    # and every key at 55-57 % usage on all three.
    def send(records: list[list[Any]]) -> None:
        in_parallel(
            functools.partial(send_udp, a, records[0]),
            functools.partial(send_tcp, b, records[1]),
            functools.partial(send_http, c, records[2]),
        )

    q = phase((45, 44, 43))
    send([plain[i::3] + same + q[i] for i in range(3)])

    def fired(k: int) -> Callable[[], bool]:
        return lambda: len(fires(r.requests)) >= k

    wait(fired(keys), 20, "the 50 % fires", ds)
    # Phases two and three, each once the previous level fired: phases are spaced so that each
    # level's fires are counted before the next.
    for remaining, count in (((15, 14, 13), 2 * keys), ((4, 3, 2), 3 * keys)):
        send(phase(remaining))
        wait(fired(count), 20, f"{count} fires", ds)

    wait(lambda: len(paths(r.requests, "/hook")) >= n, 30, f"{n} webhooks", ds)
    wait(lambda: settled(shared.client) == (0, 0), 20, "the spool to empty", ds)
    time.sleep(0.5)  # a duplicate would arrive now

    hooks = paths(r.requests, "/hook")
    assert set(hooks) == {f"/p{i}" for i in range(n)}
    assert [p for p, k in hooks.items() if k > 1] == []
    assert paths(r.requests, "/cool") == {f"/p{i}": 1 for i in range(cooled)}
    want = {(f"key{k}", str(int(level))): 1 for k in range(keys) for level in LEVELS}
    assert fires(r.requests) == want

    def total(name: str, **labels: str) -> float:
        return sum(metric_sum(d, name, **labels) for d in ds)

    # The instances' deliveries add up to what arrived (how the shared spool spreads them is
    # up to who reads first: one loaded instance may deliver none).
    shares = [metric_sum(d, "tykevents_webhook_outcomes_total", outcome="delivered") for d in ds]
    assert sum(shares) == n + cooled + 3 * keys, shares
    assert total("tykevents_webhook_outcomes_total", kind="webhook", outcome="suppressed") == 2 * cooled
    # Every instance saw each key in each phase; two of the three found the level taken.
    assert total("tykevents_monitor_shared_suppressed_total") == 2 * keys * len(LEVELS)
    assert total("tykevents_monitor_shared_errors_total") == 0
    assert total("tykevents_webhook_dead_lettered_total") == 0
    for d in ds:
        assert d.stop() == 0


def test_kill_9_hands_the_spooled_backlog_to_the_others(fleet: Any, receivers: Any, shared: Shared) -> None:
    """Delivery is at least once: what the killed instance had sent before it died (and not
    acknowledged) is sent again by the instance that claims it. Nothing else is repeated."""
    first, second, per_host = 900, 300, 4
    r = receivers(slow(0.02, 6))  # about 300 deliveries/s for the three together
    conf: dict[str, Any] = dict(pending_limit=400, max_per_host=per_host, spool_claim_after=2)
    ds = fleet({name: instance_conf(shared.storage, name, **conf) for name in NAMES}, apps(r.url("/")))
    a, b, c = ds
    work = numbered(first + second)
    in_parallel(*(functools.partial(send_tcp, d, work[i:first:3]) for i, d in enumerate(ds)))
    wait(lambda: entries_added(shared.client) == first, 20, "every delivery spooled", ds)
    wait(
        lambda: len(r.requests) >= 100 and pending_of(shared.client, "node-a") >= 30,
        20,
        "node-a to hold a backlog",
        ds,
    )
    assert a.proc is not None
    a.proc.kill()  # kill -9, mid-run: node-a's taken deliveries stay pending under its name
    a.proc.wait()
    arrived_before = len(r.requests)
    held = pending_of(shared.client, "node-a")
    assert held >= 30
    in_parallel(
        functools.partial(send_tcp, b, work[first::2]), functools.partial(send_tcp, c, work[first + 1 :: 2])
    )

    wait(lambda: len(paths(r.requests, "/hook")) >= first + second, 40, "every delivery", [b, c])
    wait(lambda: settled(shared.client) == (0, 0), 20, "the spool to empty", [b, c])
    time.sleep(0.5)
    got = paths(r.requests, "/hook")
    assert set(got) == {f"/p{i}" for i in range(first + second)}
    assert pending_of(shared.client, "node-a") == 0  # claimed by the others
    assert sum(metric_sum(d, "tykevents_webhook_spool_recovered_total") for d in (b, c)) >= held
    # Repeated: only deliveries node-a had sent before it died (in flight, or answered and
    # not yet acknowledged), so at most its per-host concurrency plus an ack in the making.
    dups = {p for p, k in got.items() if k > 1}
    sent_before = set(paths(r.requests[:arrived_before], "/hook"))
    assert dups <= sent_before, dups - sent_before
    assert len(dups) <= 2 * per_host, len(dups)
    assert sum(got.values()) == first + second + sum(got[p] - 1 for p in dups)
    assert sum(metric_sum(d, "tykevents_webhook_dead_lettered_total") for d in (b, c)) == 0
    for d in (b, c):
        assert d.stop() == 0
