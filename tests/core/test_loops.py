"""runtime/loops.py: the running loop without asyncio.get_running_loop()'s getpid()."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from tykevents.runtime.loops import running_loop


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_the_kept_loop_while_it_runs_and_the_new_one_after(run) -> None:
    kept: list[asyncio.AbstractEventLoop | None] = [None]

    async def ask() -> bool:
        loop = running_loop(kept[0])
        was_kept = loop is kept[0]
        assert loop is asyncio.get_running_loop()
        kept[0] = loop
        return was_kept

    async def twice() -> tuple[bool, bool]:
        return await ask(), await ask()

    assert run(twice()) == (False, True)  # asked asyncio once, then kept
    assert run(twice()) == (False, True)  # a new loop: the old one is not taken for it


def test_outside_a_loop_it_raises_as_asyncio_does() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError):
            running_loop(loop)
        with pytest.raises(RuntimeError):
            running_loop(None)
    finally:
        loop.close()


def test_a_callback_of_the_kept_loop_outside_any_task_gets_the_running_loop() -> None:
    """No task is current in a plain callback: asyncio is asked (no wrong answer)."""
    loop = asyncio.new_event_loop()
    seen: list[asyncio.AbstractEventLoop] = []
    try:
        loop.call_soon(lambda: seen.append(running_loop(loop)))
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert seen == [loop]
