"""Listeners: the one owner of every ingest socket and HTTP site.

The way aiohttp's AppRunner owns its sites: `open` binds every configured address, `stop_intake`
stops taking new records (datagram readers and stream servers close, open stream connections
stop being read, HTTP answers 503 through the daemon's `accepting`), `drain` waits for records
already read from streams that still wait for lane room, and `close` closes what is left. The
daemon calls them in that order, after the sinks are ready and before they drain.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import CounterMetricFamily, Metric

from tykevents.config import Config, split_hostport
from tykevents.ingest import datagram, stream

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.daemon")


class _Source(Protocol):
    def close(self) -> None: ...


class Listeners:
    def __init__(
        self,
        pipeline: Pipeline,
        registry: CollectorRegistry,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        accepting: Callable[[], bool],
    ) -> None:
        self.pipeline = pipeline
        self.registry = registry
        self.health = health
        self.accepting = accepting
        self._datagrams: list[datagram.DatagramIngest] = []
        self._servers: list[_Source] = []
        self._connections: set[stream.StreamIngest] = set()
        self._stream_tasks: set[asyncio.Task[None]] = set()  # records parked for backpressure
        self._udp_inodes: set[int] = set()
        self._runners: list[web.AppRunner] = []

    async def open(self, cfg: Config) -> None:
        d = cfg.tykevents
        pipeline = self.pipeline
        for addr in d.listen.udp:
            sock = datagram.udp_socket(addr, d.receive_buffer)
            self._udp_inodes.add(os.fstat(sock.fileno()).st_ino)
            self._datagrams.append(await datagram.open_datagram(pipeline, sock, "udp"))
        for path in d.listen.unix_dgram:
            sock = datagram.unix_dgram_socket(str(cfg.path(path)), d.receive_buffer)
            self._datagrams.append(await datagram.open_datagram(pipeline, sock, "unix_dgram"))
        for addr in d.listen.tcp:
            server = await stream.open_tcp(
                pipeline, split_hostport(addr), self._connections, self._stream_tasks
            )
            self._servers.append(server)
            logger.info("listening on tcp %s", addr)
        for path in d.listen.unix_stream:
            server = await stream.open_unix(
                pipeline, str(cfg.path(path)), self._connections, self._stream_tasks
            )
            self._servers.append(server)
            logger.info("listening on unix stream %s", path)
        addrs = list(d.listen.http)
        if d.metrics and d.metrics not in addrs:
            addrs.append(d.metrics)
        if addrs:
            await self._open_http(addrs, d.max_http_body_bytes)

    async def _open_http(self, addrs: list[str], max_body: int) -> None:
        from aiohttp import web

        from tykevents.ingest.http import make_app

        pipeline = self.pipeline
        app = make_app(lambda: pipeline, self.registry, self.health, max_body, accepting=self.accepting)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        for addr in addrs:
            host, port = split_hostport(addr)
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            logger.info("listening on http %s (POST /events, GET /health, GET /metrics)", addr)

    def stop_intake(self) -> None:
        for src in (*self._datagrams, *self._servers):
            src.close()
        for conn in list(self._connections):
            conn.stop_reading()

    async def drain(self, deadline: float) -> None:
        """Wait (until the monotonic deadline) for stream records still waiting for room."""
        if self._stream_tasks:
            await asyncio.wait(list(self._stream_tasks), timeout=max(0.0, deadline - time.monotonic()))

    async def close(self) -> None:
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.close()
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    def collect(self) -> Iterable[Metric]:
        """Socket-level counters (the daemon's metrics style: see tykevents.runtime.metrics)."""
        yield CounterMetricFamily(
            "tykevents_udp_kernel_drops",
            "Datagrams the kernel dropped on our UDP sockets (raise net.core.rmem_max)",
            value=datagram.udp_kernel_drops(self._udp_inodes),
        )
        yield CounterMetricFamily(
            "tykevents_datagram_receive_errors",
            "Datagram socket receive errors",
            value=sum(s.receiver.errors for s in self._datagrams),
        )
