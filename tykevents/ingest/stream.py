"""Newline-delimited stream sockets (Unix and TCP): lossless ingest with backpressure.

When a handler lane is full the connection stops being read until the parked calls fit, so
the sender's socket buffer fills and the sender blocks: nothing accepted here is dropped.
A line longer than max_record_bytes is discarded up to its newline and counted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from tykevents.decode import OVERSIZED

if TYPE_CHECKING:
    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")


class StreamIngest(asyncio.Protocol):
    def __init__(
        self,
        pipeline: Pipeline,
        name: str,
        connections: set[StreamIngest],
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self.pipeline = pipeline
        self.name = name
        self.connections = connections
        self.tasks = tasks  # shared with the daemon, which waits for them when it drains
        self.buf = bytearray()
        self.discarding = False  # inside an oversized line, skipping to its newline
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Task[None] | None = None  # the last parked batch, if any
        self.closing = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.buf and not self.discarding:
            self._feed(bytes(self.buf))  # a last record without its newline still counts
        self.buf.clear()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        limit = self.pipeline.max_record
        if self.discarding:
            nl = data.find(b"\n")
            if nl < 0:
                return
            self.discarding = False
            data = data[nl + 1 :]
        end = data.rfind(b"\n") + 1
        if not end:
            buf += data
            if len(buf) > limit:
                self._oversized(len(buf))
            return
        # The complete lines are buf + data[:end]; data is read in place, not copied.
        head = bytes(buf)
        buf.clear()
        buf += memoryview(data)[end:]
        if len(buf) > limit:
            self._oversized(len(buf))
        self._feed_parts(head, data, end)

    def _oversized(self, n: int) -> None:
        self.pipeline.reject(
            OVERSIZED, f"a line of more than {n} bytes on {self.name} (limit {self.pipeline.max_record})"
        )
        self.buf.clear()
        self.discarding = True

    def _feed(self, chunk: bytes) -> None:
        self._feed_parts(b"", chunk, len(chunk))

    def _feed_parts(self, head: bytes, data: bytes, end: int) -> None:
        """The chunk head + data[:end]."""
        if self.waiter is not None:  # keep order behind records still waiting for room
            self._park(None, head + data[:end])
            return
        parked = self.pipeline.feed_parts(head, data, end, self.name)
        if parked:
            self._park(parked, None)

    def _park(self, parked: Any, later: bytes | None) -> None:
        """Stop reading until the parked calls fit; chained, so records keep their order
        even when the connection closes with a batch still waiting."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        task = asyncio.ensure_future(self._wait(self.waiter, parked, later))
        self.waiter = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _wait(self, before: asyncio.Task[None] | None, parked: Any, later: bytes | None) -> None:
        if before is not None:
            await before
        if later is not None:
            parked = self.pipeline.feed(later, self.name, lossless=True)
        if parked:
            await self.pipeline.put_parked(parked)
        if self.waiter is asyncio.current_task():
            self.waiter = None
            if self.transport is not None and not self.transport.is_closing() and not self.closing:
                self.transport.resume_reading()

    def stop_reading(self) -> None:
        """Stop intake (drain): read nothing more; what is parked still gets queued."""
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()


async def open_tcp(
    pipeline: Pipeline,
    addr: tuple[str, int],
    connections: set[StreamIngest],
    tasks: set[asyncio.Task[None]],
    reuse_port: bool = False,
) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: StreamIngest(pipeline, "tcp", connections, tasks),
        addr[0],
        addr[1],
        reuse_port=reuse_port or None,
    )


async def open_unix(
    pipeline: Pipeline, path: str, connections: set[StreamIngest], tasks: set[asyncio.Task[None]]
) -> asyncio.AbstractServer:
    from tykevents.ingest.datagram import remove_stale_socket

    remove_stale_socket(path)
    loop = asyncio.get_running_loop()
    return await loop.create_unix_server(
        lambda: StreamIngest(pipeline, "unix_stream", connections, tasks), path
    )
