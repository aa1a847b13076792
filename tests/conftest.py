from __future__ import annotations

import os
from typing import Iterator

import pytest

from tests.support.servers import RedisServer

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
