"""The daemon: builds the stages, owns the lanes, and runs start / reload / drain / stop.

Order matters (as in aiohttp's runner): sinks start before sources, so that the first
datagram finds workers ready; on stop, sources close first and sinks drain after them,
within `drain_timeout`. A configuration generation (config + API definitions + the handlers
built from them) is swapped in with one assignment on SIGHUP; a failed reload keeps the old
generation and says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from tykevents import __version__, _fast
from tykevents.apps import Problem, load_definitions
from tykevents.config import Config, ConfigError, load_config, split_hostport
from tykevents.ingest import datagram, stream
from tykevents.ingest.http import make_app
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable, build_routes
from tykevents.runtime.metrics import Stats, StatsCollector
from tykevents.runtime.systemd import Notifier
from tykevents.services import Services
from tykevents.work import Lanes

logger = logging.getLogger("tykevents.daemon")


class ReloadError(Exception):
    pass


@dataclass
class Generation:
    config: Config
    routes: RouteTable
    problems: list[Problem]
    number: int
    services: dict[str, Any] = field(default_factory=dict)  # what its handlers were built with


def report(problems: list[Problem]) -> None:
    for p in problems:
        logger.log(p.level, "%s", p)


# tyk.conf settings read once at start: a reload that changes them says they wait for a restart.
_RESTART_ONLY = (
    "listen",
    "lanes",
    "state",
    "metrics",
    "logging",
    "webhooks",
    "max_record_bytes",
    "max_http_body_bytes",
    "receive_buffer",
)


class Daemon:
    def __init__(
        self, config_path: str | None, env: dict[str, str] | None = None, config: Config | None = None
    ) -> None:
        self.config_path = config_path
        self.env = env
        self.first_config = config  # already loaded by the caller, if it was
        self.stats = Stats()
        self.notifier = Notifier()
        self.gen: Generation | None = None
        self.lanes: Lanes | None = None
        self.pipeline: Pipeline | None = None
        self.services: Services | None = None
        self.registry = CollectorRegistry()
        self._sources: list[Any] = []  # datagram readers and stream servers
        self._connections: set[stream.StreamIngest] = set()
        self._stream_tasks: set[asyncio.Task[None]] = set()  # records parked for backpressure
        self._udp_inodes: set[int] = set()
        self._runners: list[Any] = []
        self._stop = asyncio.Event()
        self._state = "starting"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retiring: list[Generation] = []
        self._reload_lock = asyncio.Lock()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    # -- configuration generations -------------------------------------------------------
    async def _build(self, number: int, cfg: Config | None = None) -> Generation:
        """Load tyk.conf and the API definitions and build every handler, all off the event
        loop (files, templates, JS), which keeps serving meanwhile."""
        if cfg is None:
            try:
                cfg = await asyncio.to_thread(load_config, self.config_path, self.env)
            except ConfigError as e:
                raise ReloadError(str(e)) from None
        apis, problems = await asyncio.to_thread(load_definitions, cfg)
        assert self.services is not None
        services = await self.services.for_generation(cfg, apis)
        try:
            routes, more = await asyncio.to_thread(build_routes, cfg, apis, services)
        except BaseException:
            await self.services.retire_generation(services)  # its JS VM, if any
            raise
        return Generation(cfg, routes, problems + more, number, services)

    def _summary(self, gen: Generation) -> str:
        n_apis = len(gen.routes.apis)
        n_handlers = len(gen.routes.handlers)
        return f"generation {gen.number}: {n_apis} APIs, {n_handlers} handlers, {len(gen.problems)} problems"

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        first = self.first_config or load_config(self.config_path, self.env)  # ConfigError: caller's
        d = first.tykevents
        self.lanes = Lanes(d.lanes, self.stats)
        self.services = Services(first, self.stats, self.registry)
        await self.services.start()
        gen = await self._build(1, first)
        report(gen.problems)
        self.pipeline = Pipeline(gen.routes, self.lanes, self.stats, d.max_record_bytes)
        self.services.attach(self.pipeline, self.lanes)
        self._activate(gen)
        self.registry.register(StatsCollector(self.stats, self.lanes.depths, self._extra_metrics))
        self.lanes.start()  # sinks first
        await self._open_sources(first)  # then sources
        self._state = "running"
        logger.info("tykevents %s running: %s", __version__, self._summary(gen))
        if not _fast.COMPILED:
            logger.warning(
                "the compiled hot path is not in use (%s): running the pure-Python twins",
                _fast.COMPILE_ERROR or "TYKEVENTS_NO_EXTENSIONS is set",
            )
        self.notifier.ready(self._summary(gen))
        if self.notifier.watchdog_interval:
            self._spawn(self._watchdog())

    def _activate(self, gen: Generation) -> None:
        """Make `gen` the live generation: one assignment for the routes, then the monitor."""
        assert self.pipeline is not None and self.services is not None
        self.gen = gen
        self.pipeline.routes = gen.routes  # the atomic swap
        self.services.activate(gen.config, gen.services)

    async def _open_sources(self, cfg: Config) -> None:
        assert self.pipeline is not None
        d = cfg.tykevents
        for addr in d.listen.udp:
            sock = datagram.udp_socket(addr, d.receive_buffer)
            self._udp_inodes.add(os.fstat(sock.fileno()).st_ino)
            self._sources.append(await datagram.open_datagram(self.pipeline, sock, "udp"))
        for path in d.listen.unix_dgram:
            sock = datagram.unix_dgram_socket(str(cfg.path(path)), d.receive_buffer)
            self._sources.append(await datagram.open_datagram(self.pipeline, sock, "unix_dgram"))
        for addr in d.listen.tcp:
            self._sources.append(
                await stream.open_tcp(
                    self.pipeline, split_hostport(addr), self._connections, self._stream_tasks
                )
            )
            logger.info("listening on tcp %s", addr)
        for path in d.listen.unix_stream:
            self._sources.append(
                await stream.open_unix(
                    self.pipeline, str(cfg.path(path)), self._connections, self._stream_tasks
                )
            )
            logger.info("listening on unix stream %s", path)
        addrs = list(d.listen.http)
        if d.metrics and d.metrics not in addrs:
            addrs.append(d.metrics)
        if addrs:
            await self._open_http(addrs, d.max_http_body_bytes)

    async def _open_http(self, addrs: list[str], max_body: int) -> None:
        from aiohttp import web

        app = make_app(
            lambda: self.pipeline,
            self.registry,
            self._health,
            max_body,  # type: ignore[arg-type,return-value]
            accepting=lambda: self._state == "running",
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        for addr in addrs:
            host, port = split_hostport(addr)
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            logger.info("listening on http %s (POST /events, GET /health, GET /metrics)", addr)
        self._runners.append(runner)

    def _health(self) -> tuple[bool, dict[str, Any]]:
        gen = self.gen
        detail = {
            "status": self._state,
            "version": __version__,
            "generation": gen.number if gen else 0,
            "apis": len(gen.routes.apis) if gen else 0,
            "handlers": len(gen.routes.handlers) if gen else 0,
            "queues": self.lanes.depths() if self.lanes else {},
            "stats": self.stats.snapshot(),
        }
        return self._state == "running", detail

    def _extra_metrics(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        yield CounterMetricFamily(
            "tykevents_udp_kernel_drops",
            "Datagrams the kernel dropped on our UDP sockets (raise net.core.rmem_max)",
            value=datagram.udp_kernel_drops(self._udp_inodes),
        )
        yield CounterMetricFamily(
            "tykevents_datagram_receive_errors",
            "Datagram socket receive errors",
            value=sum(getattr(s, "receiver", None) and s.receiver.errors or 0 for s in self._sources),
        )
        if self.services is not None:
            yield from self.services.metrics()

    async def reload(self) -> bool:
        """SIGHUP: build a new generation; on any failure keep the old one."""
        async with self._reload_lock:
            if self._state != "running":
                return False
            assert self.gen is not None
            self.notifier.reloading()
            old = self.gen
            try:
                gen = await self._build(old.number + 1)
            except ReloadError as e:
                self.stats.reload_failures += 1
                logger.error("reload failed, keeping generation %d: %s", old.number, e)
                self.notifier.ready(f"reload failed: {e}"[:200])
                return False
            except Exception as e:  # never let a reload take the daemon down
                self.stats.reload_failures += 1
                logger.exception("reload failed, keeping generation %d", old.number)
                self.notifier.ready(f"reload failed: {e}"[:200])
                return False
            report(gen.problems)
            for key in _RESTART_ONLY:
                if getattr(gen.config.tykevents, key) != getattr(old.config.tykevents, key):
                    logger.warning("tykevents.%s changed: it takes effect on restart only", key)
            for key in ("storage", "hash_keys"):
                if getattr(gen.config, key) != getattr(old.config, key):
                    logger.warning("%s changed: it takes effect on restart only", key)
            self._activate(gen)
            self.stats.reloads += 1
            logger.info("reloaded: %s", self._summary(gen))
            self.notifier.ready(self._summary(gen))
            self._retiring.append(old)
            self._spawn(self._retire(old))
            return True

    async def _retire(self, old: Generation) -> None:
        """Close the old generation's handlers once every call queued for them has run."""
        deadline = time.monotonic() + max(old.config.tykevents.drain_timeout, 30.0)
        while any(h.inflight for h in old.routes.handlers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self._close_generation(old)

    async def _close_generation(self, gen: Generation) -> None:
        if gen in self._retiring:
            self._retiring.remove(gen)
        await gen.routes.close()
        if self.services is not None:
            await self.services.retire_generation(gen.services)

    async def stop(self) -> None:
        """Stop intake, drain what was accepted within drain_timeout, then close. Safe to
        call on a daemon that failed half-way through start."""
        if self._state in ("stopping", "stopped"):
            return
        self._state = "stopping"  # HTTP ingest answers 503 from now on; no reload starts
        self.notifier.stopping()
        async with self._reload_lock:  # a reload under way finishes first
            gen = self.gen
        timeout = gen.config.tykevents.drain_timeout if gen else 0.0
        deadline = time.monotonic() + timeout
        logger.info("stopping: intake closed, draining (timeout %.1fs)", timeout)
        for src in self._sources:
            src.close()
        for conn in list(self._connections):
            conn.stop_reading()
        if self._stream_tasks:  # records read from stream sockets, still waiting for room
            await asyncio.wait(list(self._stream_tasks), timeout=max(0.0, deadline - time.monotonic()))
        drained = True
        left = 0
        if self.lanes is not None:
            drained = await self.lanes.drain(deadline)
        if self.services is not None:
            drained = await self.services.drain(deadline) and drained
        if self.lanes is not None:
            left = sum(self.lanes.depths().values())
            await self.lanes.stop()
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.close()
        for runner in self._runners:
            await runner.cleanup()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for old in list(self._retiring):
            await self._close_generation(old)
        if gen is not None:
            await self._close_generation(gen)
        if self.services is not None:
            await self.services.close()
        self._state = "stopped"
        level = logging.INFO if drained and not left else logging.WARNING
        logger.log(
            level,
            "stopped (%s, %d handler calls abandoned): %s",
            "drained" if drained and not left else "drain timed out",
            left,
            self.stats.snapshot(),
        )

    async def _watchdog(self) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(self.notifier.watchdog_interval)

    def request_stop(self) -> None:
        self._stop.set()

    def _on_sighup(self) -> None:
        if self._state == "running":
            self._spawn(self.reload())
        else:
            logger.warning("SIGHUP ignored while %s", self._state)

    async def run(self) -> None:
        """Signals are handled from the start: SIGTERM during a slow start stops cleanly
        once it is done, SIGHUP before READY is ignored (it would kill the process)."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            await self.start()
        except BaseException:
            try:
                await self.stop()  # close what start opened; the start error is what counts
            except Exception:
                logger.debug("cleaning up after a failed start", exc_info=True)
            raise
        try:
            await self._stop.wait()
        finally:
            await self.stop()


def run_daemon(config_path: str | None, config: Config | None = None) -> int:
    import uvloop

    try:
        return uvloop.run(_main(config_path, config))
    except ConfigError as e:
        logger.error("%s", e)
        return 2
    except Exception as e:  # anything that stops start: one clear line, resources closed
        logger.error("cannot start: %s: %s", type(e).__name__, e)
        logger.debug("start failure", exc_info=True)
        return 1


async def _main(config_path: str | None, config: Config | None) -> int:
    await Daemon(config_path, config=config).run()
    return 0
