"""The GoClient factory the client, transport and wire tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tykevents.golang.http.client import GoClient

MakeClient = Callable[..., Awaitable[GoClient]]


@pytest.fixture
async def clients() -> AsyncIterator[MakeClient]:
    """`await clients(**kw)`: a started GoClient (5 s timeout, 1 MiB read limit, no proxy
    unless given); every one made is closed after the test."""
    made: list[GoClient] = []

    async def make(**kw: Any) -> GoClient:
        c = GoClient(**{"timeout": 5.0, "read_limit": 1 << 20, "proxies": {}, **kw})
        await c.start()
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


@pytest.fixture
def client(clients: MakeClient) -> MakeClient:
    return clients
