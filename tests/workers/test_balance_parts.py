"""tykevents/ingest/balance.py in one process: two Balancers on one loop, real sockets, real
SCM_RIGHTS hand-overs (the e2e tests in test_stream_balance.py run it across workers)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tykevents.ingest import balance

KEY = "tcp test"


class Recorder(asyncio.Protocol):
    def __init__(self, conns: balance.Counted) -> None:
        self.conns = conns
        self.data = bytearray()

    def connection_made(self, transport: Any) -> None:
        self.conns.add(self)

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[balance.Shared, list[balance.Balancer]]]:
    shared = balance.create(2)
    loop = asyncio.get_running_loop()
    bals = []
    for i in range(2):
        conns = balance.Counted()
        b = balance.Balancer(shared, i, conns)
        b.factories[KEY] = lambda c=conns: Recorder(c)  # type: ignore[misc]
        b.start(loop)
        bals.append(b)
    yield shared, bals
    for b in bals:
        b.stop()
        for p in list(b.connections):
            p.conns.discard(p)
    for s in (*shared.inboxes, *shared.outboxes):
        s.close()


async def accepted(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    return client, conn


async def settle(cond: Any) -> None:
    for _ in range(200):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never settled")


async def test_ties_stay_and_the_emptier_worker_gets_the_next(pair: Any) -> None:
    shared, (b0, b1) = pair
    with socket.create_server(("127.0.0.1", 0)) as listener:
        clients = []
        for _ in range(4):  # all accepted by worker 0
            client, conn = await accepted(listener)
            clients.append(client)
            b0.place(KEY, conn)
            await settle(lambda: b0.adopting == 0 == b1.adopting and shared.load(1) == len(b1.connections))
        assert (len(b0.connections), len(b1.connections)) == (2, 2)
        assert (b0.handed_over, b1.taken_over) == (2, 2)
        assert [shared.load(w) for w in (0, 1)] == [2, 2]
        for i, c in enumerate(clients):  # the bytes a client sent follow its socket
            c.sendall(b"x%d\n" % i)
        every = [p for b in (b0, b1) for p in b.connections]
        await settle(lambda: sorted(bytes(p.data) for p in every) == [b"x0\n", b"x1\n", b"x2\n", b"x3\n"])
        for c in clients:
            c.close()
        await settle(lambda: shared.load(0) == shared.load(1) == 0)


async def test_a_full_inbox_keeps_the_connection_where_it_was_accepted(pair: Any) -> None:
    shared, (b0, b1) = pair
    asyncio.get_running_loop().remove_reader(shared.inboxes[1].fileno())  # worker 1 is stuck
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client0, conn = await accepted(listener)
        b0.place(KEY, conn)  # a tie: kept
        with pytest.raises(BlockingIOError):
            while True:
                shared.outboxes[1].send(b"filler")
        client1, conn = await accepted(listener)
        b0.place(KEY, conn)  # worker 1 is emptier, but cannot be reached
        await settle(lambda: len(b0.connections) == 2)
        assert b0.handed_over == 0 and shared.load(1) == 0
        client0.close()
        client1.close()


async def kept_here(shared: balance.Shared, b0: balance.Balancer, n: int) -> None:
    """n connections accepted by worker 0 all stay with it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        clients = []
        for _ in range(n):
            client, conn = await accepted(listener)
            clients.append(client)
            b0.place(KEY, conn)
        await settle(lambda: len(b0.connections) == n)
        assert b0.handed_over == 0 and shared.load(1) == 0
        for c in clients:
            c.close()


def test_workers_start_down() -> None:
    shared = balance.create(2)  # a worker still starting (waiting for Redis, say) is never picked
    try:
        assert shared.down(0) and shared.down(1)
    finally:
        for s in (*shared.inboxes, *shared.outboxes):
            s.close()


@pytest.mark.parametrize("why", ["dead", "draining"])
async def test_a_worker_down_is_handed_nothing(pair: Any, why: str) -> None:
    shared, (b0, b1) = pair
    if why == "dead":
        shared.mark_down(1)  # what the supervisor does when it reaps worker 1
    else:
        b1.stop()
    assert shared.down(1)
    await kept_here(shared, b0, 3)


async def test_what_reaches_a_stopped_worker_is_closed_and_counted(pair: Any) -> None:
    shared, (b0, b1) = pair
    b1.stop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client, conn = await accepted(listener)
        # a sender that read worker 1 as up just before it stopped
        shared.add_sent(0, 1, 1)
        socket.send_fds(shared.outboxes[1], [KEY.encode()], [conn.fileno()])
        conn.close()
        client.settimeout(5)
        await settle(lambda: shared.load(1) == 0)
        assert await asyncio.get_running_loop().run_in_executor(None, client.recv, 10) == b""
        assert not b1.connections
        client.close()


EMFILE_CHILD = r"""
import asyncio, logging, resource, socket, sys
from tykevents.ingest import balance

errors = []
class Count(logging.Handler):
    def emit(self, record):
        errors.append(record)
logging.getLogger("tykevents.ingest").addHandler(Count())

async def main():
    shared = balance.create(1)
    b = balance.Balancer(shared, 0, balance.Counted())
    loop = asyncio.get_running_loop()
    b.start(loop)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = balance.BalancedServer(sock, "tcp test", b)
    server.start(loop)
    print(sock.getsockname()[1], flush=True)
    sys.stdin.readline()  # the parent has connected
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    fill = []
    try:
        while True:
            fill.append(open("/dev/null"))
    except OSError:
        pass  # no descriptor left: accept() fails with EMFILE
    await asyncio.sleep(1.5)
    print(len(errors), flush=True)

asyncio.run(main())
"""


def test_out_of_descriptors_the_listener_waits_instead_of_spinning() -> None:
    import subprocess
    import sys

    with subprocess.Popen(
        [sys.executable, "-c", EMFILE_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdin is not None and child.stdout is not None
            port = int(child.stdout.readline())
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                child.stdin.write("go\n")
                child.stdin.flush()
                logged = int(child.stdout.readline())
            assert 1 <= logged <= 3  # once per ACCEPT_RETRY, not once per loop turn
        finally:
            child.kill()


async def test_a_worker_still_opening_listeners_keeps_what_it_accepts() -> None:
    """Attached, not started: gRPC's start lets the loop run while the other listeners
    already accept; those connections are adopted, not closed."""
    shared = balance.create(2)
    b0 = balance.Balancer(shared, 0, balance.Counted())
    b0.factories[KEY] = lambda: Recorder(b0.connections)
    b0.attach(asyncio.get_running_loop())
    try:
        assert shared.down(0)  # the others hand it nothing yet
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client, conn = await accepted(listener)
            b0.place(KEY, conn)
            await settle(lambda: len(b0.connections) == 1)
            client.close()
    finally:
        b0.close()
        for s in (*shared.inboxes, *shared.outboxes):
            s.close()
