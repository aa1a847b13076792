"""UDP and Unix datagram sockets: the main, fire-and-forget ingest.

The receive buffer is raised to what the kernel allows (net.core.rmem_max caps SO_RCVBUF),
because at 200k events/s a default 208 KiB buffer overflows during a few ms of scheduling
jitter (docs/operations.md, kernel tuning). Kernel-side drops are read from /proc/net/udp at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from typing import TYPE_CHECKING

from tykevents.config import split_hostport, unix_gid
from tykevents.decode import OVERSIZED

if TYPE_CHECKING:
    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")


# A datagram is at most 64 KiB (UDP's own limit); longer Unix datagrams are dropped and
# counted as oversized: the stream sockets carry bigger records.
DATAGRAM_MAX = 65536
# Datagrams read per recvmmsg call, and calls per wake-up before other callbacks get a turn.
BATCH = 64
BATCHES_PER_WAKEUP = 8


class DatagramIngest:
    """Reads a datagram socket in batches (tykevents._fast.recv) and feeds the pipeline.

    uvloop's DatagramProtocol costs one recvfrom and one callback per datagram; reading up to
    BATCH datagrams per system call halves the per-event cost of ingest (bench/udp_throughput.py).
    """

    def __init__(self, pipeline: Pipeline, sock: socket.socket, name: str) -> None:
        from tykevents._fast.recv import BatchReceiver

        self.pipeline = pipeline
        self.sock = sock
        self.name = name
        self.receiver = BatchReceiver(sock.fileno(), BATCH, DATAGRAM_MAX)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._readable)
        self._truncated = 0

    def _readable(self) -> None:
        feed = self.pipeline.feed_datagrams
        recv_batch = self.receiver.recv_batch
        name = self.name
        for _ in range(BATCHES_PER_WAKEUP):
            batch = recv_batch()
            if batch:
                feed(batch, name)
            if len(batch) < BATCH:
                break
        if self.receiver.truncated != self._truncated:
            for _ in range(self.receiver.truncated - self._truncated):
                self.pipeline.reject(OVERSIZED, f"a datagram over {DATAGRAM_MAX} bytes on {name}")
            self._truncated = self.receiver.truncated

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.receiver.close()
            self.sock.close()


def _grow_rcvbuf(sock: socket.socket, want: int) -> int:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
    except OSError:
        pass
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def udp_socket(addr: str, rcvbuf: int, reuse_port: bool = False) -> socket.socket:
    """`reuse_port`: one of the workers' sockets on the address (the kernel spreads senders)."""
    host, port = split_hostport(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    got = _grow_rcvbuf(sock, rcvbuf)
    sock.bind((host, port))
    logger.info("listening on udp %s (receive buffer %d bytes)", addr, got)
    return sock


def unix_dgram_socket(path: str, rcvbuf: int) -> socket.socket:
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    got = _grow_rcvbuf(sock, rcvbuf)
    sock.bind(path)
    logger.info("listening on unix datagram %s (receive buffer %d bytes)", path, got)
    return sock


def remove_stale_socket(path: str) -> None:
    """A socket file left by a previous run would make bind fail; anything else is an error."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(f"{path} exists and is not a socket")
    os.unlink(path)


def own_socket(path: str, mode: str, group: str) -> tuple[str, int]:
    """Give a Unix socket just bound its configured mode and group (tykevents.listen.unix_mode,
    unix_group); returns (path, inode) for remove_own_sockets."""
    gid = unix_gid(group)
    if gid >= 0:
        os.chown(path, -1, gid)
    os.chmod(path, int(mode, 8))
    return path, os.stat(path).st_ino


def remove_own_sockets(paths: list[tuple[str, int]]) -> None:
    """Unlink the Unix socket files we bound, given as (path, inode), unless another process
    has bound the path since (its inode differs); the list is emptied."""
    for path, ino in paths:
        try:
            if os.lstat(path).st_ino == ino:
                os.unlink(path)
        except OSError:
            pass
    paths.clear()


async def open_datagram(pipeline: Pipeline, sock: socket.socket, name: str) -> DatagramIngest:
    return DatagramIngest(pipeline, sock, name)


def udp_kernel_drops(inodes: set[int]) -> int:
    """Sum of the `drops` column of /proc/net/udp{,6} for our sockets (0 if unavailable)."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and int(cols[9]) in inodes:
                        total += int(cols[12])
        except (OSError, ValueError, StopIteration):
            continue
    return total
