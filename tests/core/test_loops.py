"""runtime/loops.py: the running loop without asyncio.get_running_loop()'s getpid()."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import uvloop

from tykevents.runtime import loops
from tykevents.runtime.loops import current_task, running_loop


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_the_running_loop_on_each_loop_in_turn(run) -> None:
    async def ask() -> tuple[bool, bool]:
        first = running_loop()
        return first is asyncio.get_running_loop(), running_loop() is first

    assert run(ask()) == (True, True)
    assert run(ask()) == (True, True)  # a new loop: the last one is not taken for it


def test_outside_a_loop_it_raises_as_asyncio_does() -> None:
    async def keep() -> None:
        running_loop()  # a loop kept from before

    asyncio.run(keep())
    with pytest.raises(RuntimeError):
        running_loop()


def test_a_callback_outside_any_task_gets_the_running_loop() -> None:
    loop = asyncio.new_event_loop()
    seen: list[asyncio.AbstractEventLoop] = []
    try:
        loop.call_soon(lambda: seen.append(running_loop()))
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert seen == [loop]


def test_another_threads_loop_busy_in_a_task_is_not_taken_for_this_ones() -> None:
    """asyncio's current tasks are one dict for every thread: a loop mid-step elsewhere has
    a current task, yet it is not the loop running here."""
    inside, leave = threading.Event(), threading.Event()
    other: list[asyncio.AbstractEventLoop] = []

    async def busy() -> None:
        other.append(running_loop())  # that thread's kept loop
        inside.set()
        leave.wait(10)  # blocks its loop mid-step: a task of it stays current

    t = threading.Thread(target=asyncio.run, args=(busy(),))
    t.start()
    try:
        assert inside.wait(10)

        async def here() -> bool:
            return running_loop() is asyncio.get_running_loop()

        assert asyncio.run(here())
        with pytest.raises(RuntimeError):  # and outside any loop, still no loop
            running_loop()
    finally:
        leave.set()
        t.join(10)
    assert other and other[0] is not None


def test_a_child_forked_inside_a_task_does_not_take_its_parents_loop() -> None:
    async def fork_here() -> int:
        running_loop()  # kept, and its task is current: as in the forked child's memory
        pid = os.fork()
        if pid == 0:
            try:
                running_loop()
                code = 1  # the parent's loop, handed to the child
            except RuntimeError:
                code = 0  # asyncio asked: no loop runs in this process
            os._exit(code)
        return os.waitpid(pid, 0)[1]

    assert os.waitstatus_to_exitcode(asyncio.run(fork_here())) == 0
    assert loops._seen.loop is not None  # the parent's own stays


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_current_task_is_asyncios_in_a_task_none_in_a_callback(run) -> None:
    async def ask() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        seen: list[object] = []
        loop.call_soon(lambda: seen.append(current_task()))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return current_task() is asyncio.current_task(), seen == [None]

    assert run(ask()) == (True, True)
    assert run(ask()) == (True, True)  # and on the next loop
    with pytest.raises(RuntimeError):
        current_task()
