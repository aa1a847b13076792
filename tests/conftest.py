from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_topology import RedisClusterTopology
from tests.support.servers import RedisServer
from tests.webhook.receiver import Receiver

# Tests run the pure twins too; the compiled ones are built by the README's test command.
os.environ.setdefault("PYTHONHASHSEED", "0")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    parser.addoption(
        "--c-extensions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="test the compiled twins of tykevents._fast as well as the pure ones (the default); "
        "--no-c-extensions runs the whole suite on the pure twins only",
    )
    # The option sets tykevents._fast's one switch, which it reads once, at import. Conftests
    # below this one import it (tests/fast/conftest.py) before pytest has parsed the options
    # they are loaded for, so the option is read here from the arguments pytest will parse.
    config = pluginmanager.get_plugin("pytestconfig")
    args = [
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *config.getini("addopts"),
        *config.invocation_params.args,
    ]
    if parser.parse_known_args(args).c_extensions is False:
        os.environ["TYKEVENTS_NO_EXTENSIONS"] = "1"  # the daemons the tests start inherit it


def pytest_configure(config: pytest.Config) -> None:
    fast = sys.modules.get("tykevents._fast")
    if not config.getoption("c_extensions") and fast is not None and not fast.NO_EXTENSIONS:
        raise pytest.UsageError("--no-c-extensions: tykevents._fast was imported before the switch was set")


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


@pytest.fixture(scope="session")
def _cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterTopology]:
    with RedisClusterTopology(tmp_path_factory.mktemp("cluster")) as topo:
        yield topo


@pytest.fixture
def redis_cluster(_cluster_session: RedisClusterTopology) -> RedisClusterTopology:
    """A Redis Cluster of three masters (tests/support/redis_topology.py), one per session,
    emptied for each test."""
    _cluster_session.flushall()
    return _cluster_session
