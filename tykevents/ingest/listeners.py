"""Listeners: the one owner of every ingest socket and HTTP site.

The way aiohttp's AppRunner owns its sites: `open` binds every configured address, `stop_intake`
stops taking new records (datagram readers and stream servers close and their Unix socket files
go, open stream connections stop being read, HTTP answers 503 through the daemon's `accepting`),
`drain` waits for records already read from streams that still wait for lane room, and `close`
closes what is left. The daemon calls them in that order, after the sinks are ready and before
they drain.

`exposed_listeners` names every ingest listener that takes events without credentials from
other hosts: `open` warns about each, and so does `tykevents check`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tykevents.apps import Problem
from tykevents.config import Config, HTTPLimits, Listen, grpc_unix_path, split_hostport
from tykevents.ingest import balance, datagram, stream
from tykevents.runtime.workers import current as current_worker

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from tykevents.ingest.grpc.server import GrpcIngest
    from tykevents.ingest.http import ConnectionCap, HttpCounters, Probe
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
        probes: Mapping[str, Probe] | None = None,
    ) -> None:
        from tykevents.ingest.http import HttpCounters

        self.pipeline = pipeline
        self.registry = registry
        self.health = health
        self.accepting = accepting
        # GET routes of the metrics listener besides /metrics: path -> probe.
        self.probes: dict[str, Probe] = {"/health": health, **(probes or {})}
        self.http: dict[str, HttpCounters] = {
            "events": HttpCounters(),
            "metrics": HttpCounters(),
            "admin": HttpCounters(),
        }
        self._caps: list[ConnectionCap] = []
        self._unix_paths: list[tuple[str, int]] = []  # (path, inode) of the sockets we bound
        self._datagrams: list[datagram.DatagramIngest] = []
        self._servers: list[_Source] = []
        self._connections = balance.Counted()  # open stream connections (StreamIngest)
        self._balancer: balance.Balancer | None = None  # under a supervisor: connections spread evenly
        self._stream_tasks: set[asyncio.Task[None]] = set()  # records parked for backpressure
        self._udp_inodes: set[int] = set()
        self._runners: list[web.AppRunner] = []
        self._grpc: GrpcIngest | None = None  # Tyk's coprocess Dispatcher, with listen.grpc

    async def open(self, cfg: Config) -> None:
        """Bind every configured address. Under a supervisor, every worker binds UDP, TCP,
        HTTP and gRPC with SO_REUSEPORT; Unix sockets and the metrics listener are worker 0's
        (a path cannot be shared; worker 0's /metrics sums every worker's)."""
        d = cfg.tykevents
        pipeline = self.pipeline
        worker = current_worker()
        shared, first = worker.supervised, worker.first
        if first:
            for where, warning in exposed_listeners(cfg):
                logger.warning("SECURITY: %s (%s:%s)", warning, cfg.source, where)
        for addr in d.listen.udp:
            sock = datagram.udp_socket(addr, d.receive_buffer, reuse_port=shared)
            self._udp_inodes.add(os.fstat(sock.fileno()).st_ino)
            self._datagrams.append(await datagram.open_datagram(pipeline, sock, "udp"))
        for path in d.listen.unix_dgram if first else ():
            sock = datagram.unix_dgram_socket(str(cfg.runtime_path(path)), d.receive_buffer)
            self._own_socket(str(cfg.runtime_path(path)), d.listen)
            self._datagrams.append(await datagram.open_datagram(pipeline, sock, "unix_dgram"))
        spread = balance.installed() if shared else None
        if spread is not None:
            self._balancer = balance.Balancer(spread, worker.index, self._connections)
            self._balancer.attach(asyncio.get_running_loop())  # gRPC's start lets the loop run
            self._open_balanced_streams(cfg, self._balancer, first)
        else:
            for addr in d.listen.tcp:
                server = await stream.open_tcp(
                    pipeline, split_hostport(addr), self._connections, self._stream_tasks, reuse_port=shared
                )
                self._servers.append(server)
                logger.info("listening on tcp %s", addr)
            for path in d.listen.unix_stream if first else ():
                server = await stream.open_unix(
                    pipeline, str(cfg.runtime_path(path)), self._connections, self._stream_tasks
                )
                self._servers.append(server)
                self._own_socket(str(cfg.runtime_path(path)), d.listen)
                logger.info("listening on unix stream %s", path)
        from tykevents.ingest.http import ingest_app, ops_app

        if d.listen.http:
            app = ingest_app(
                lambda: pipeline,
                d.max_http_body_bytes,
                self.accepting,
                body_timeout=d.http.body_timeout,
                secret=cfg.secret if d.listen.http_auth else "",
                counters=self.http["events"],
            )
            auth = f"x-tyk-authorization {'required' if d.listen.http_auth else 'not required'}"
            await self._serve("events", app, d.listen.http, d.http, f"POST /events, {auth}", shared)
        if d.listen.grpc:  # grpcio is imported only when it is used
            from tykevents.ingest.grpc.server import GrpcIngest

            self._grpc = GrpcIngest(pipeline, self.accepting)
            await self._grpc.open(cfg)
        if d.metrics and first:
            app = ops_app(self.registry, self.probes)
            routes = ", ".join(f"GET {p}" for p in ("/metrics", *self.probes))
            await self._serve("metrics", app, [d.metrics], d.http, routes)
        if self._balancer is not None:  # every listener's connections known: take hand-overs
            self._balancer.start(asyncio.get_running_loop())

    def _open_balanced_streams(self, cfg: Config, bal: balance.Balancer, first: bool) -> None:
        """Under a supervisor: every worker accepts TCP on SO_REUSEPORT sockets, worker 0 the
        Unix stream sockets, and each connection goes to the worker holding the fewest
        (tykevents/ingest/balance.py)."""
        listen = cfg.tykevents.listen
        loop = asyncio.get_running_loop()
        for kind, addrs in (("tcp", listen.tcp), ("unix_stream", listen.unix_stream)):
            for addr in addrs:
                key = f"{kind} {addr}"
                bal.factories[key] = self._stream_factory(kind)
                if kind == "tcp":
                    socks = balance.tcp_sockets(*split_hostport(addr))
                elif first:
                    path = str(cfg.runtime_path(addr))
                    datagram.remove_stale_socket(path)
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.bind(path)
                    self._own_socket(path, listen)
                    socks = [sock]
                else:
                    continue  # a path is worker 0's: connections come from it
                for sock in socks:
                    server = balance.BalancedServer(sock, key, bal)
                    server.start(loop)
                    self._servers.append(server)
                logger.info("listening on %s %s", "tcp" if kind == "tcp" else "unix stream", addr)

    def _stream_factory(self, kind: str) -> Callable[[], stream.StreamIngest]:
        pipeline, conns, tasks = self.pipeline, self._connections, self._stream_tasks
        return lambda: stream.StreamIngest(pipeline, kind, conns, tasks)

    async def open_admin(self, cfg: Config, app: web.Application) -> None:
        """The admin listener (tykevents/admin/), with the limits of the others; its application
        is the daemon's to build, as the admin routes sit above ingest."""
        for where, warning in admin_warnings(cfg):
            logger.warning("SECURITY: %s (%s:%s)", warning, cfg.source, where)
        what = "admin API and console, x-tyk-authorization required"
        await self._serve("admin", app, [cfg.tykevents.admin.listen], cfg.tykevents.http, what)

    async def _serve(
        self,
        name: str,
        app: web.Application,
        addrs: list[str],
        limits: HTTPLimits,
        what: str,
        reuse_port: bool = False,
    ) -> None:
        """One runner per listener, its addresses sharing one connection cap."""
        from aiohttp import web

        from tykevents.ingest.http import LINGER, CappedSite, ConnectionCap

        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=limits.idle_timeout,
            lingering_time=min(LINGER, limits.body_timeout),
            shutdown_timeout=LINGER,  # at close, after the drain: requests still running get this long
        )
        await runner.setup()
        self._runners.append(runner)
        assert runner.server is not None
        cap = ConnectionCap(runner.server, limits.max_connections, self.http[name])
        self._caps.append(cap)
        bal = self._balancer if reuse_port else None  # the shared listeners: /events
        if bal is not None:
            counters = cap.counters
            bal.others.append(lambda: counters.open)
            cap.on_change = bal.publish
        for addr in addrs:
            host, port = split_hostport(addr)
            await CappedSite(runner, host, port, cap, reuse_port, bal).start()
            logger.info("listening on http %s (%s)", addr, what)

    def _own_socket(self, path: str, listen: Listen) -> None:
        """Give a Unix socket just bound its configured group and mode; it is removed on stop."""
        self._unix_paths.append(datagram.own_socket(path, listen.unix_mode, listen.unix_group))

    def stop_intake(self) -> None:
        if self._grpc is not None:
            self._grpc.stop_intake()
        if self._balancer is not None:
            self._balancer.stop()
        for src in (*self._datagrams, *self._servers):
            src.close()
        datagram.remove_own_sockets(self._unix_paths)
        for conn in list(self._connections):
            conn.stop_reading()

    async def drain(self, deadline: float) -> None:
        """Wait (until the monotonic deadline) for stream records still waiting for room."""
        if self._stream_tasks:
            await asyncio.wait(list(self._stream_tasks), timeout=max(0.0, deadline - time.monotonic()))
        if self._grpc is not None:
            await self._grpc.drain(deadline)

    async def close(self) -> None:
        if self._balancer is not None:
            self._balancer.close()
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.close()
        datagram.remove_own_sockets(self._unix_paths)  # a start that failed half-way did not stop intake
        for cap in self._caps:
            cap.closing = True
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []
        if self._grpc is not None:
            await self._grpc.close()

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
        conns = GaugeMetricFamily(
            "tykevents_ingest_connections",
            "Open stream (TCP, Unix) and HTTP /events connections, by worker",
            labels=["worker"],
        )
        conns.add_metric([str(current_worker().index)], len(self._connections) + self.http["events"].open)
        yield conns
        bal = self._balancer
        yield CounterMetricFamily(
            "tykevents_ingest_connections_handed_over",
            "Ingest connections accepted by one worker and handed to another holding fewer",
            value=0 if bal is None else bal.handed_over,
        )
        yield from _http_metrics(self.http)


def _http_metrics(http: Mapping[str, HttpCounters]) -> Iterable[Metric]:
    g = GaugeMetricFamily("tykevents_http_connections", "Open HTTP connections", labels=["listener"])
    refused = CounterMetricFamily(
        "tykevents_http_connections_refused",
        "HTTP connections refused over tykevents.http.max_connections",
        labels=["listener"],
    )
    idle = CounterMetricFamily(
        "tykevents_http_idle_closed",
        "HTTP connections closed after tykevents.http.idle_timeout without a request",
        labels=["listener"],
    )
    for name, c in http.items():
        g.add_metric([name], c.open)
        refused.add_metric([name], c.refused)
        idle.add_metric([name], c.idle_closed)
    yield from (g, refused, idle)
    yield CounterMetricFamily(
        "tykevents_http_body_timeouts",
        "POST /events bodies not received within tykevents.http.body_timeout (408)",
        value=http["events"].body_timeouts,
    )
    for metric, listener, what in (
        ("tykevents_http_auth_failures", "events", "POST /events"),
        ("tykevents_admin_auth_failures", "admin", "Admin API requests"),
    ):
        auth = CounterMetricFamily(
            metric,
            f"{what} refused for a missing (401) or wrong (403) x-tyk-authorization header",
            labels=["reason"],
        )
        for reason in ("missing", "wrong"):
            auth.add_metric([reason], http[listener].auth_failures.get(reason, 0))
        yield auth


def exposed_listeners(cfg: Config) -> list[tuple[str, str]]:
    """(JSON path, warning) for each ingest listener bound off loopback that takes events
    without credentials: UDP and TCP always, HTTP unless listen.http_auth, gRPC (TCP
    addresses) unless grpc_client_ca_file asks gateways for a client certificate."""
    listen = cfg.tykevents.listen
    out = []
    if not listen.grpc_client_ca_file:
        for i, addr in enumerate(listen.grpc):
            if grpc_unix_path(addr) is None and not _loopback(split_hostport(addr)[0]):
                out.append(
                    (
                        f"$.tykevents.listen.grpc[{i}]",
                        f"unauthenticated grpc ingest on {addr} is reachable from other hosts: anyone who "
                        "can reach it can send events (set tykevents.listen.grpc_client_ca_file for mutual "
                        "TLS, bind it to 127.0.0.1 or firewall it)",
                    )
                )
    for kind in ("udp", "tcp", "http"):
        if kind == "http" and listen.http_auth:
            continue
        for i, addr in enumerate(getattr(listen, kind)):
            if not _loopback(split_hostport(addr)[0]):
                fix = "set tykevents.listen.http_auth, " if kind == "http" else ""
                out.append(
                    (
                        f"$.tykevents.listen.{kind}[{i}]",
                        f"unauthenticated {kind} ingest on {addr} is reachable from other hosts: anyone "
                        f"who can reach it can send events ({fix}bind it to 127.0.0.1 or firewall it)",
                    )
                )
    return out


def admin_warnings(cfg: Config) -> list[tuple[str, str]]:
    """(JSON path, warning) for an admin listener bound off loopback: it takes the secret."""
    addr = cfg.tykevents.admin.listen
    if not addr or not cfg.secret or _loopback(split_hostport(addr)[0]):
        return []
    return [
        (
            "$.tykevents.admin.listen",
            f"the admin API on {addr} is reachable from other hosts: anyone who learns tyk.conf's "
            "secret can reload and replay, and the secret crosses the network in clear (bind it to "
            "127.0.0.1 or firewall it)",
        )
    ]


def admin_off(cfg: Config) -> Problem | None:
    """Why the admin listener will not start although configured: tyk.conf's `secret` is empty.
    A warning when admin.listen was changed from its default (someone wants it), else info."""
    from tykevents.config import AdminSettings

    addr = cfg.tykevents.admin.listen
    if not addr or cfg.secret:
        return None
    level = logging.INFO if addr == AdminSettings().listen else logging.WARNING
    return Problem(
        f"{cfg.source}:$.secret",
        f"the admin API ({addr}) is off: tyk.conf `secret` is empty and every admin route needs it",
        level,
    )


def exposure_problems(cfg: Config) -> list[Problem]:
    """exposed_listeners, admin_warnings and admin_off as `tykevents check` problems."""
    out = [
        Problem(f"{cfg.source}:{where}", msg, logging.WARNING)
        for where, msg in (*exposed_listeners(cfg), *admin_warnings(cfg))
    ]
    off = admin_off(cfg)
    return out if off is None else [*out, off]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere
