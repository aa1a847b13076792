"""An asyncio test server on its own loop in a thread, for tests that drive a subprocess
with blocking calls (the daemon harness) while the server keeps answering."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tests.webhook.receiver import RawRequest, Receiver


class ThreadedReceiver:
    def __init__(self, respond: Any = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        r = Receiver() if respond is None else Receiver(respond=respond)
        self.receiver = asyncio.run_coroutine_threadsafe(r.start(), self.loop).result(10)

    @property
    def requests(self) -> list[RawRequest]:
        return list(self.receiver.requests)

    def url(self, path: str = "/") -> str:
        return self.receiver.url(path)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[RawRequest]:
        deadline = time.monotonic() + timeout
        while len(self.receiver.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} request(s), got {len(self.receiver.requests)}")
            time.sleep(0.02)
        return self.requests

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.close(), self.loop).result(10)

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()  # its self-pipe sockets too


def threaded_receivers() -> Iterator[Callable[..., ThreadedReceiver]]:
    """A fixture body: `make(respond=None)` gives a receiver on its own loop in a thread (the
    daemon harness blocks); every one made is closed after the test."""
    made: list[ThreadedReceiver] = []

    def make(respond: Any = None) -> ThreadedReceiver:
        r = ThreadedReceiver(respond)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
