from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import RedisServer
from tests.webhook.receiver import Receiver

# Tests run the pure twins too; the compiled ones are built by the README's test command.
os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session; tests use their own key names or FLUSHALL."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    """Start real loopback HTTP receivers (tests/webhook/receiver.py); closed after the test."""
    started: list[Receiver] = []

    async def make(respond: Any = None, ssl: Any = None) -> Receiver:
        r = Receiver(ssl=ssl) if respond is None else Receiver(respond=respond, ssl=ssl)
        await r.start()
        started.append(r)
        return r

    yield make
    for r in started:
        await r.close()


@pytest.fixture
async def receiver(receivers: Callable[..., Any]) -> Receiver:
    """One receiver answering 200."""
    return await receivers()


@pytest.fixture
def run_daemon(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start real daemons (tests/support/daemon.py) and stop every one after the test.
    `run_daemon(subdir="a", conf=..., apps=...)`: `subdir` gives each daemon its own folder."""
    from tests.support.daemon import DaemonProcess

    started: list[Any] = []

    def make(subdir: str = "", **kw: Any) -> Any:
        where = tmp_path / subdir if subdir else tmp_path
        where.mkdir(exist_ok=True)
        d = DaemonProcess(where, **kw)
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()
