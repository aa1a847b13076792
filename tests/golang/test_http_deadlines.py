"""Deadlines on one shared timer keep asyncio.timeout()'s contract (golang/http/deadlines.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tykevents.golang.http.deadlines import Deadlines


async def test_a_passed_deadline_raises_timeout_error_on_time() -> None:
    dl = Deadlines()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        async with dl.after(0.1):
            await asyncio.sleep(5)
    assert 0.09 <= time.monotonic() - t0 < 0.5
    assert len(dl) == 0


async def test_a_block_done_in_time_is_left_alone() -> None:
    dl = Deadlines()
    async with dl.after(0.05):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)  # past the deadline: nothing is cancelled any more
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    assert len(dl) == 0


async def test_each_of_many_expires_at_its_own_deadline() -> None:
    dl = Deadlines()
    ended: dict[float, float] = {}
    t0 = time.monotonic()

    async def one(delay: float, work: float) -> str:
        try:
            async with dl.after(delay):
                await asyncio.sleep(work)
            return "done"
        except TimeoutError:
            ended[delay] = time.monotonic() - t0
            return "timeout"

    # A long deadline first, then shorter ones: the timer is armed again for the earlier.
    got = await asyncio.gather(one(1.0, 5), one(0.3, 5), one(0.1, 5), one(0.5, 0.01), one(0.2, 5))
    assert got == ["timeout", "timeout", "timeout", "done", "timeout"]
    for delay, took in ended.items():
        assert delay - 0.01 <= took < delay + 0.25, (delay, took)


async def test_zero_expires_at_the_first_await_and_none_never() -> None:
    dl = Deadlines()
    with pytest.raises(TimeoutError):
        async with dl.after(0):
            await asyncio.sleep(1)
    async with dl.after(None):
        await asyncio.sleep(0.05)
    assert len(dl) == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    dl = Deadlines()
    entered = asyncio.Event()

    async def guarded() -> None:
        async with dl.after(10):
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.ensure_future(guarded())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(dl) == 0


async def test_a_deadline_passing_while_cancelled_from_elsewhere_is_not_a_timeout() -> None:
    # As asyncio.timeout: both the deadline and an outside cancel hit the task; the outside
    # one wins (the caller asked to stop, not to be told of a timeout).
    dl = Deadlines()

    async def guarded() -> None:
        async with dl.after(0.05):
            try:
                await asyncio.sleep(10)
            finally:
                asyncio.current_task().cancel()  # type: ignore[union-attr]
                await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(guarded())


async def test_nested_deadlines_each_raise_for_their_own() -> None:
    dl = Deadlines()
    with pytest.raises(TimeoutError):
        async with dl.after(0.1):
            try:
                async with dl.after(5):
                    await asyncio.sleep(1)
            except TimeoutError:
                pytest.fail("the inner deadline did not pass")
    inner_hit = False
    async with dl.after(5):
        try:
            async with dl.after(0.05):
                await asyncio.sleep(1)
        except TimeoutError:
            inner_hit = True
    assert inner_hit


async def test_close_disarms() -> None:
    dl = Deadlines()

    async def guarded() -> str:
        async with dl.after(0.05):
            await asyncio.sleep(0.15)
        return "done"

    task = asyncio.ensure_future(guarded())
    await asyncio.sleep(0)
    dl.close()
    assert await task == "done"


async def test_the_same_on_uvloop() -> None:
    """The daemon's loop: libuv timers count whole milliseconds."""
    import uvloop

    cases = [
        f
        for name, f in sorted(globals().items())
        if name.startswith("test_") and "uvloop" not in name and asyncio.iscoroutinefunction(f)
    ]

    async def all_cases() -> None:
        for case in cases:
            await case()

    await asyncio.to_thread(uvloop.run, all_cases())


def test_used_on_one_loop_then_another() -> None:
    """A client kept across asyncio.run() calls: its deadlines still fire on the second loop."""
    dl = Deadlines()

    async def one() -> str:
        try:
            async with dl.after(0.05):
                await asyncio.sleep(1)
        except TimeoutError:
            return "timeout"
        return "done"

    async def armed_then_left() -> None:
        async with dl.after(30):  # arms the timer for 30 s on this loop
            await asyncio.sleep(0)

    asyncio.run(armed_then_left())
    t0 = time.monotonic()
    assert asyncio.run(one()) == "timeout" and time.monotonic() - t0 < 1
