"""The daemon: builds the stages, owns the lanes, and runs start / reload / drain / stop.

Order matters (as in aiohttp's runner): sinks start before sources, so that the first
datagram finds workers ready; on stop, sources close first and sinks drain after them,
within `drain_timeout`. A configuration generation (config + API definitions + the handlers
built from them) is swapped in with one assignment on SIGHUP; a failed reload keeps the old
generation and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from tykevents import __version__, _fast
from tykevents.apps import Problem, load_definitions
from tykevents.config import Config, ConfigError, load_config
from tykevents.decode import REJECT_REASONS
from tykevents.deliver.base import Handler, HandlerServices
from tykevents.handlers import build_generation
from tykevents.ingest.listeners import Listeners, admin_off
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime import gcpolicy
from tykevents.runtime.gcpolicy import FrozenCollector
from tykevents.runtime.metrics import Stats, StatsCollector
from tykevents.runtime.systemd import Notifier
from tykevents.runtime.workers import MetricsPeer
from tykevents.runtime.workers import current as current_worker
from tykevents.services import Services
from tykevents.work import Lanes

logger = logging.getLogger("tykevents.daemon")


class ReloadError(Exception):
    pass


class State(enum.StrEnum):
    """The daemon's lifecycle; /health reports the value."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass
class Generation:
    config: Config
    routes: RouteTable
    problems: list[Problem]
    number: int
    services: HandlerServices  # what its handlers were built with
    monitor_webhook: Handler | None = None


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
    "http",
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
        self.listeners: Listeners | None = None
        self.registry = CollectorRegistry()
        self._stop = asyncio.Event()
        self._state = State.STARTING
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retiring: list[Generation] = []
        self._reload_lock = asyncio.Lock()
        self._started = time.monotonic()
        self._peer: MetricsPeer | None = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
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
        services = await self.services.for_generation(cfg)
        try:
            built = await asyncio.to_thread(build_generation, cfg, apis, services)
        except BaseException:
            await self.services.retire_generation(services)  # its JS VM, if any
            raise
        return Generation(
            cfg, built.routes, problems + built.problems, number, services, built.monitor_webhook
        )

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
        self.listeners = Listeners(
            self.pipeline, self.registry, self._health, self._accepting, probes={"/ready": self._ready}
        )
        self.registry.register(StatsCollector(self.stats, self.lanes.depths, REJECT_REASONS))
        self.registry.register(self.services)
        self.registry.register(self.listeners)
        self.registry.register(FrozenCollector())
        self.lanes.start()  # sinks first
        gcpolicy.settle()  # before the first event: the stall it saves is the one it would cause
        await self.listeners.open(first)  # then sources
        worker = current_worker()
        if worker.supervised:  # worker 0's /metrics reads ours
            self._peer = MetricsPeer(worker, self.registry)
            await self._peer.start()
        if worker.first:
            await self._open_admin(first)
        self._state = State.RUNNING
        logger.info("tykevents %s running: %s", __version__, self._summary(gen))
        if not _fast.COMPILED:
            logger.warning(
                "the compiled hot path is not in use (%s): running the pure-Python twins",
                _fast.COMPILE_ERROR or "TYKEVENTS_NO_EXTENSIONS is set",
            )
        self.notifier.ready(self._summary(gen))
        if self.notifier.watchdog_interval:
            self._spawn(self._watchdog())

    async def _open_admin(self, cfg: Config) -> None:
        """The admin listener (tykevents/admin/): only with tyk.conf's `secret`, which every
        route wants."""
        assert self.listeners is not None
        if not cfg.tykevents.admin.listen:
            return
        off = admin_off(cfg)  # not None: no secret
        if off is not None:
            logger.log(off.level, "%s", off.message)
            return
        from tykevents.admin.app import admin_app

        app = admin_app(self, cfg.secret, self.listeners.http["admin"])
        await self.listeners.open_admin(cfg, app)

    # -- what the admin API reads (tykevents.admin.target.AdminTarget) ------------------------
    @property
    def state(self) -> str:
        return self._state.value

    @property
    def uptime(self) -> float:
        return time.monotonic() - self._started

    @property
    def webhooks(self) -> Any:
        return self.services.webhooks if self.services is not None else None

    def _activate(self, gen: Generation) -> None:
        """Make `gen` the live generation: one assignment for the routes, then the monitor."""
        assert self.pipeline is not None and self.services is not None
        self.gen = gen
        self.pipeline.routes = gen.routes  # the atomic swap
        self.services.activate(gen.config, gen.services, gen.monitor_webhook)

    def _accepting(self) -> bool:
        return self._state is State.RUNNING

    def _health(self) -> tuple[bool, dict[str, Any]]:
        gen = self.gen
        detail = {
            "status": self._state.value,
            "version": __version__,
            "generation": gen.number if gen else 0,
            "apis": len(gen.routes.apis) if gen else 0,
            "handlers": len(gen.routes.handlers) if gen else 0,
            "queues": self.lanes.depths() if self.lanes else {},
            "stats": self.stats.snapshot(),
            "ready": self._ready()[1],
        }
        return self._state is State.RUNNING, detail

    def _ready(self) -> tuple[bool, dict[str, Any]]:
        """GET /ready: running, and the services can do their work (Services.ready)."""
        ok, detail = self.services.ready() if self.services else (False, {})
        return ok and self._state is State.RUNNING, {"status": self._state.value, **detail}

    @property
    def lost(self) -> int:
        """Accepted work lost at stop (dead letters that could be stored nowhere)."""
        return self.services.lost if self.services else 0

    async def reload(self) -> bool:
        """SIGHUP: build a new generation; on any failure keep the old one."""
        return await self._reload_here() is None

    async def try_reload(self) -> str | None:
        """The admin API's POST /api/reload: this process's reload, saying why it failed (None
        when the new generation is live); under a supervisor, then every other worker's
        (SIGUSR2 asks the supervisor to pass SIGHUP to them)."""
        error = await self._reload_here()
        worker = current_worker()
        if error is None and worker.supervised:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.supervisor, signal.SIGUSR2)
        return error

    async def _reload_here(self) -> str | None:
        """What SIGHUP does: a new generation, or why not (the old one stays)."""
        async with self._reload_lock:
            if self._state is not State.RUNNING:
                return f"not running ({self._state.value})"
            assert self.gen is not None
            self.notifier.reloading()
            old = self.gen
            try:
                gen = await self._build(old.number + 1)
            except ReloadError as e:
                self.stats.reload_failures += 1
                logger.error("reload failed, keeping generation %d: %s", old.number, e)
                self.notifier.ready(f"reload failed: {e}"[:200])
                return str(e)
            except Exception as e:  # never let a reload take the daemon down
                self.stats.reload_failures += 1
                logger.exception("reload failed, keeping generation %d", old.number)
                self.notifier.ready(f"reload failed: {e}"[:200])
                return f"{type(e).__name__}: {e}"
            report(gen.problems)
            for key in _RESTART_ONLY:
                if getattr(gen.config.tykevents, key) != getattr(old.config.tykevents, key):
                    logger.warning("tykevents.%s changed: it takes effect on restart only", key)
            for key in ("storage", "hash_keys", "external_services", "secret"):
                if getattr(gen.config, key) != getattr(old.config, key):
                    logger.warning("%s changed: it takes effect on restart only", key)
            if gen.config.tykevents.admin.listen != old.config.tykevents.admin.listen:
                logger.warning("tykevents.admin.listen changed: it takes effect on restart only")
            self._activate(gen)
            self.stats.reloads += 1
            logger.info("reloaded: %s", self._summary(gen))
            self.notifier.ready(self._summary(gen))
            self._retiring.append(old)
            self._spawn(self._retire(old))
            return None

    async def _retire(self, old: Generation) -> None:
        """Close the old generation's handlers once every call queued for them has run."""
        deadline = time.monotonic() + max(old.config.tykevents.drain_timeout, 30.0)
        while any(h.inflight for h in old.routes.handlers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self._close_generation(old)
        if not self._retiring:  # the old objects are garbage now: free them, freeze the new
            gcpolicy.settle()

    async def _close_generation(self, gen: Generation) -> None:
        if gen in self._retiring:
            self._retiring.remove(gen)
        await gen.routes.close()
        if gen.monitor_webhook is not None:
            await gen.monitor_webhook.close()
        if self.services is not None:
            await self.services.retire_generation(gen.services)

    async def stop(self) -> None:
        """Stop intake, drain what was accepted within drain_timeout, then close. Safe to
        call on a daemon that failed half-way through start."""
        if self._state in (State.STOPPING, State.STOPPED):
            return
        self._state = State.STOPPING  # HTTP ingest answers 503 from now on; no reload starts
        self.notifier.stopping()
        async with self._reload_lock:  # a reload under way finishes first
            gen = self.gen
        timeout = gen.config.tykevents.drain_timeout if gen else 0.0
        deadline = time.monotonic() + timeout
        logger.info("stopping: intake closed, draining (timeout %.1fs)", timeout)
        if self.listeners is not None:
            self.listeners.stop_intake()
            await self.listeners.drain(deadline)  # records read from streams, waiting for room
        drained = True
        left = 0
        if self.lanes is not None:
            drained = await self.lanes.drain(deadline)
        if self.services is not None:
            drained = await self.services.drain(deadline) and drained
        if self.lanes is not None:
            left = sum(self.lanes.depths().values())
            await self.lanes.stop()
        if self.listeners is not None:
            await self.listeners.close()
        if self._peer is not None:
            await self._peer.close()
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
        self._state = State.STOPPED
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
        if self._state is State.RUNNING:
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
    daemon = Daemon(config_path, config=config)
    await daemon.run()
    if daemon.lost:  # logged where it happened; a supervisor must see it too
        logger.error("exiting with status 1: %d dead letters were lost", daemon.lost)
        return 1
    return 0
