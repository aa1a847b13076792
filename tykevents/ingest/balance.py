"""Ingest connections spread evenly over the workers (docs/operations.md#workers).

SO_REUSEPORT gives each TCP connection to a worker by a hash of its addresses, not by load,
and a Unix stream socket is worker 0's alone: a few long-lived gateway connections (streams,
HTTP keep-alive) can all land on one worker while another idles. So under a supervisor each
worker accepts by itself and hands a new connection to the worker holding the fewest, when
that is not itself: the socket goes over a Unix datagram socket (SCM_RIGHTS), as Envoy's
exact connection balancer hands connections between its threads. A worker keeps a
connection on a tie.

The supervisor makes the shared part before the fork (install()): one receiving socket pair
per worker, and counters in one shared anonymous mapping. Each counter has one writer, so no
lock is needed (a lock held by a killed worker would stop every accept):
- live[w]: w's open stream and HTTP ingest connections, and those it is adopting;
- sent[s][t]: connections s has handed to t, received[t]: those t took in (both only grow);
- down[w]: w takes no connections (draining; dead, set by the supervisor until it restarts).
The load of t is live[t] + sum over s of sent[s][t] - received[t]. Two workers deciding at the
same instant may pick the same target; the next decisions even it out. Connections handed to
a worker that died wait in its socket pair for the worker started in its place.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("tykevents.ingest")

BACKLOG = 100  # asyncio's create_server default, kept
ACCEPTS_PER_WAKE = 32  # then let the loop run: a flood of connects must not starve the rest
ACCEPT_RETRY = 1.0  # seconds before accepting again after running out of descriptors


@dataclass
class Shared:
    """The counters and socket pairs every worker inherits."""

    count: int
    counters: Any  # memoryview of int64: live[N], sent[N*N], received[N], down[N]
    inboxes: list[socket.socket]  # worker w reads inboxes[w]
    outboxes: list[socket.socket]  # anyone writes outboxes[w] to reach w

    def load(self, t: int) -> int:
        n, c = self.count, self.counters
        sent = sum(c[n + s * n + t] for s in range(n))
        return int(c[t] + sent - c[n + n * n + t])

    def down(self, w: int) -> bool:
        n = self.count
        return bool(self.counters[2 * n + n * n + w])

    def set_down(self, w: int, down: bool) -> None:
        n = self.count
        self.counters[2 * n + n * n + w] = int(down)

    def add_sent(self, s: int, t: int, k: int) -> None:
        self.counters[self.count + s * self.count + t] += k

    def add_received(self, t: int, k: int) -> None:
        n = self.count
        self.counters[n + n * n + t] += k

    def set_live(self, w: int, live: int) -> None:
        self.counters[w] = live

    def mark_down(self, w: int) -> None:
        """Worker w died: send it nothing until its successor starts."""
        self.set_down(w, True)
        self.set_live(w, 0)


_shared: Shared | None = None


def install(count: int) -> Shared:
    """Before the fork: what the workers will share, for installed() to find."""
    global _shared
    _shared = create(count)
    return _shared


def create(count: int) -> Shared:
    """The counters and one socket pair per worker."""
    size = 8 * (3 * count + count * count)
    region = mmap.mmap(-1, size)  # anonymous and MAP_SHARED: the workers see one copy
    inboxes, outboxes = [], []
    for _ in range(count):
        inbox, outbox = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        inbox.setblocking(False)
        outbox.setblocking(False)
        inboxes.append(inbox)
        outboxes.append(outbox)
    shared = Shared(count, memoryview(region).cast("q"), inboxes, outboxes)
    for w in range(count):
        shared.set_down(w, True)  # until the worker has started: a slow start is handed nothing
    return shared


def installed() -> Shared | None:
    return _shared


def mark_down(w: int) -> None:
    """The supervisor: worker w died; send it nothing until its successor starts."""
    if _shared is not None and w < _shared.count:
        _shared.mark_down(w)


class Counted(set[Any]):
    """A worker's open stream connections, publishing their number on every change."""

    def __init__(self) -> None:
        super().__init__()
        self.on_change: Callable[[], None] | None = None

    def add(self, item: Any) -> None:
        super().add(item)
        if self.on_change is not None:
            self.on_change()

    def discard(self, item: Any) -> None:
        super().discard(item)
        if self.on_change is not None:
            self.on_change()


class Balancer:
    """This worker's side: decides where an accepted connection goes, adopts what others hand
    over, and publishes its own load."""

    def __init__(self, shared: Shared, index: int, connections: Counted) -> None:
        self.shared = shared
        self.index = index
        self.connections = connections  # this worker's open stream connections
        connections.on_change = self.publish
        self.others: list[Callable[[], int]] = []  # other connections counted (HTTP listeners')
        self.factories: dict[str, Callable[[], asyncio.Protocol]] = {}
        self.adopting = 0
        self.handed_over = 0  # connections this worker accepted and gave to another
        self.taken_over = 0  # connections another worker gave to this one
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._open = False

    # -- lifecycle ------------------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Before any listener accepts: what this worker accepts it can adopt at once (the
        others hand it nothing until start())."""
        self._loop = loop
        self._open = True

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every listener is open: take hand-overs."""
        self.attach(loop)
        self.publish()
        self.shared.set_down(self.index, False)
        loop.add_reader(self.shared.inboxes[self.index].fileno(), self._receive)

    def stop(self) -> None:
        """Take no more connections (drain): the others stop handing any over. What a sender
        handed over just before is closed on arrival (as a closing listener resets its
        backlog), until close()."""
        if not self._open:
            return
        self._open = False
        self.shared.set_down(self.index, True)
        self._receive()

    def close(self) -> None:
        """At the daemon's close: the inbox is read no more, adoptions under way end."""
        self.stop()
        if self._loop is not None:
            self._receive()
            self._loop.remove_reader(self.shared.inboxes[self.index].fileno())
            self._loop = None
        for task in list(self._tasks):
            task.cancel()

    def publish(self) -> None:
        live = len(self.connections) + self.adopting + sum(count() for count in self.others)
        self.shared.set_live(self.index, live)

    # -- placing --------------------------------------------------------------------------------
    def target(self) -> int:
        """The worker with the fewest connections; this one on a tie (no hand-over to pay)."""
        shared, me = self.shared, self.index
        best, best_load = me, shared.load(me)
        for w in range(shared.count):
            if w == me or shared.down(w):
                continue
            load = shared.load(w)
            if load < best_load:
                best, best_load = w, load
        return best

    def place(self, key: str, conn: socket.socket) -> None:
        """A connection this worker accepted on listener `key`."""
        t = self.target()
        if t != self.index:
            self.shared.add_sent(self.index, t, 1)  # counted first: the next decision sees it
            try:
                socket.send_fds(self.shared.outboxes[t], [key.encode()], [conn.fileno()])
            except OSError as e:  # its inbox is full, or it is gone: keep the connection
                self.shared.add_sent(self.index, t, -1)
                logger.debug("could not hand a %s connection to worker %d: %s", key, t, e)
            else:
                self.handed_over += 1
                conn.close()  # the other worker holds its own descriptor now
                return
        self.adopt(key, conn)

    def adopt(self, key: str, conn: socket.socket) -> None:
        factory = self.factories.get(key)
        if factory is None or self._loop is None:
            logger.warning("a %s connection arrived with no listener for it here: closed", key)
            conn.close()
            return
        conn.setblocking(False)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as create_server does
        self.adopting += 1
        self.publish()
        task = self._loop.create_task(self._loop.connect_accepted_socket(factory, conn))
        self._tasks.add(task)
        task.add_done_callback(self._adopted)

    def _adopted(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self.adopting -= 1
        self.publish()
        if task.cancelled():
            return
        if task.exception() is not None:
            logger.warning("a connection could not be taken: %s", task.exception())
            return
        if not self._open:  # intake stopped while it was being adopted: as the others
            stop = getattr(task.result()[1], "stop_reading", None)
            if stop is not None:
                stop()

    def _receive(self) -> None:
        inbox = self.shared.inboxes[self.index]
        while True:
            try:
                msg, fds, flags, _ = socket.recv_fds(inbox, 1024, 8)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                logger.warning("connection hand-over inbox: %s", e)
                return
            self.shared.add_received(self.index, 1)  # one connection per message, even if lost
            if flags & socket.MSG_CTRUNC:  # out of descriptors here: the kernel dropped it
                logger.error("a connection handed over was lost: this worker is out of descriptors")
            for fd in fds:
                conn = socket.socket(fileno=fd)
                if not self._open:
                    conn.close()  # draining: as a listener closing its backlog
                    continue
                self.taken_over += 1
                self.adopt(msg.decode(errors="replace"), conn)


class BalancedServer:
    """A listening socket whose connections go to the least-loaded worker (Balancer.place)."""

    def __init__(self, sock: socket.socket, key: str, balancer: Balancer) -> None:
        self.sock = sock
        self.key = key
        self.balancer = balancer
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sock.setblocking(False)
        self.sock.listen(BACKLOG)
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:  # out of descriptors: the connection waits in the backlog
                logger.error("accept on %s failed: %s; trying again in %.0f s", self.key, e, ACCEPT_RETRY)
                self._pause()
                return
            self.balancer.place(self.key, conn)

    def _pause(self) -> None:
        """Stop watching the socket for a while: it stays readable, and asking again at once
        would spin (asyncio waits as long)."""
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop.call_later(ACCEPT_RETRY, self._resume)

    def _resume(self) -> None:
        if self._loop is not None:
            self._loop.add_reader(self.sock.fileno(), self._accept)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()


def tcp_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound SO_REUSEPORT sockets for every address `host` names (as create_server binds)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    out: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(infos):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:
                continue  # a family this host cannot make (IPv6 off), skipped as uvloop does
            out.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as e:
                raise OSError(
                    e.errno, f"error while attempting to bind on address {addr!r}: {e.strerror}"
                ) from None
        if not out:
            raise OSError(f"no socket could be made for {host}:{port}")
    except BaseException:
        for sock in out:
            sock.close()
        raise
    return out
