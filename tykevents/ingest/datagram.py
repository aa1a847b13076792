"""UDP and Unix datagram sockets: the main, fire-and-forget ingest.

The receive buffer is raised to what the kernel allows (net.core.rmem_max caps SO_RCVBUF),
because at 200k events/s a default 208 KiB buffer overflows during a few ms of scheduling
jitter (spec/performance.md). Kernel-side drops are read from /proc/net/udp at scrape time.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from typing import TYPE_CHECKING, Any

from tykevents.config import split_hostport

if TYPE_CHECKING:
    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")


class DatagramIngest(asyncio.DatagramProtocol):
    def __init__(self, pipeline: "Pipeline", name: str) -> None:
        self.pipeline = pipeline
        self.name = name
        self.feed = pipeline.feed_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.feed(data, self.name)

    def error_received(self, exc: Exception) -> None:
        logger.warning("%s socket error: %s", self.name, exc)


def _grow_rcvbuf(sock: socket.socket, want: int) -> int:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
    except OSError:
        pass
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def udp_socket(addr: str, rcvbuf: int) -> socket.socket:
    host, port = split_hostport(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
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


async def open_datagram(pipeline: "Pipeline", sock: socket.socket, name: str) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: DatagramIngest(pipeline, name), sock=sock)
    return transport


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
