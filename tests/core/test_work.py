"""Lanes: bounded queues served by worker tasks; offer drops, put waits, drain waits."""

from __future__ import annotations

import asyncio
import logging
import time

from tykevents.config import Lanes as LaneSettings
from tykevents.model import Event
from tykevents.runtime.metrics import Stats
from tykevents.work import Lane, Lanes

from .handlers import MetaReader, Recorder


def ev(i: int = 0, meta: bytes | None = b"{}") -> Event:
    return Event("AuthFailure", meta, "ts", f"api{i}", "org")


async def test_offer_is_bounded_and_workers_run_everything_in_order():
    stats = Stats()
    lane = Lane("log", 3, 1, stats)
    h = Recorder()
    assert [lane.offer(h, ev(i)) for i in range(5)] == [True, True, True, False, False]
    assert len(lane) == 3 and stats.enqueued["log"] == 3
    lane.start()
    assert await lane.drain(time.monotonic() + 2)
    assert [e.api_id for e in h.events] == ["api0", "api1", "api2"]
    assert stats.handled["log"] == 3 and len(lane) == 0
    await lane.stop()


async def test_put_waits_for_room():
    stats = Stats()
    lane = Lane("webhook", 1, 1, stats)
    h = Recorder(kind="webhook")
    await lane.put(h, ev(0))
    waiter = asyncio.create_task(lane.put(h, ev(1)))
    await asyncio.sleep(0.02)
    assert not waiter.done()  # backpressure: no room, no workers yet
    lane.start()
    await asyncio.wait_for(waiter, 1)
    assert await lane.drain(time.monotonic() + 1)
    assert [e.api_id for e in h.events] == ["api0", "api1"]
    await lane.stop()


async def test_many_producers_waiting_all_get_through():
    stats = Stats()
    lane = Lane("log", 2, 2, stats)
    h = Recorder()
    lane.start()
    await asyncio.gather(*(lane.put(h, ev(i)) for i in range(50)))
    assert await lane.drain(time.monotonic() + 2)
    assert sorted(int(e.api_id[3:]) for e in h.events) == list(range(50))
    assert stats.enqueued["log"] == stats.handled["log"] == 50
    await lane.stop()


async def test_a_cancelled_producer_does_not_lose_a_wakeup():
    lane = Lane("log", 1, 1, Stats())
    h = Recorder()
    lane.offer(h, ev(0))
    cancelled = asyncio.create_task(lane.put(h, ev(1)))
    kept = asyncio.create_task(lane.put(h, ev(2)))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    lane.start()
    await asyncio.wait_for(kept, 1)
    assert await lane.drain(time.monotonic() + 1)
    assert [e.api_id for e in h.events] == ["api0", "api2"]
    await lane.stop()


async def test_drain_times_out_while_a_handler_is_stuck_then_completes():
    gate = asyncio.Event()
    lane = Lane("js", 10, 1, Stats())
    h = Recorder(kind="js", gate=gate)
    lane.start()
    assert await lane.drain(time.monotonic())  # nothing queued yet
    lane.offer(h, ev(0))
    lane.offer(h, ev(1))
    t0 = time.monotonic()
    assert not await lane.drain(t0 + 0.05)
    assert time.monotonic() - t0 < 0.5
    gate.set()
    assert await lane.drain(time.monotonic() + 1)
    assert len(h.events) == 2
    await lane.stop()


async def test_drain_waits_for_the_call_in_flight():
    gate = asyncio.Event()
    lane = Lane("log", 10, 2, Stats())
    slow, fast = Recorder(gate=gate), Recorder()
    lane.start()
    lane.offer(slow, ev(0))
    lane.offer(fast, ev(1))
    await asyncio.sleep(0.01)
    assert len(lane) == 0 and len(fast.events) == 1  # queue empty, one call still running
    assert not await lane.drain(time.monotonic() + 0.03)
    gate.set()
    assert await lane.drain(time.monotonic() + 1)
    await lane.stop()


async def test_failures_are_counted_and_the_worker_goes_on(caplog):
    stats = Stats()
    lane = Lane("log", 10, 1, stats)
    bad, meta, good = Recorder("bad", fail=RuntimeError("boom")), MetaReader(), Recorder("good")
    for h, e in ((bad, ev(0)), (meta, ev(1, b"[1]")), (meta, ev(2, b"{}")), (good, ev(3))):
        lane.offer(h, e)
    with caplog.at_level(logging.WARNING, logger="tykevents.work"):
        lane.start()
        assert await lane.drain(time.monotonic() + 1)
    assert stats.failed["log"] == 1
    assert stats.rejected["meta_type"] == 1
    assert stats.handled["log"] == 2 and len(good.events) == 1
    assert "handler bad (test:bad) failed on AuthFailure" in caplog.text
    assert "wrong type in Meta" in caplog.text
    await lane.stop()


async def test_synchronous_handlers_do_not_starve_the_loop():
    lane = Lane("log", 10_000, 1, Stats())
    h = Recorder()
    for i in range(2000):
        lane.offer(h, ev(i))
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    lane.start()
    assert await lane.drain(time.monotonic() + 2)
    t.cancel()
    assert len(h.events) == 2000 and ticks >= 2000 // 64 - 1
    await lane.stop()


async def test_stop_cancels_stuck_workers():
    lane = Lane("webhook", 10, 3, Stats())
    lane.offer(Recorder(kind="webhook", gate=asyncio.Event()), ev())
    lane.start()
    await asyncio.sleep(0.01)
    await asyncio.wait_for(lane.stop(), 1)


async def test_lanes_by_kind():
    stats = Stats()
    lanes = Lanes(
        LaneSettings(
            log_queue=1,
            webhook_queue=2,
            js_queue=3,
            monitor_queue=4,
            log_workers=1,
            webhook_workers=1,
            js_workers=1,
            monitor_workers=1,
        ),
        stats,
    )
    assert {k: lanes[k].size for k in ("log", "webhook", "js", "monitor")} == {
        "log": 1,
        "webhook": 2,
        "js": 3,
        "monitor": 4,
    }
    hs = {k: Recorder(kind=k) for k in ("log", "webhook", "js")}
    for k, h in hs.items():
        lanes[k].offer(h, ev())
    assert lanes.depths() == {"log": 1, "webhook": 1, "js": 1, "monitor": 0}
    lanes.start()
    assert await lanes.drain(time.monotonic() + 1)
    assert all(len(h.events) == 1 for h in hs.values())
    await lanes.stop()
