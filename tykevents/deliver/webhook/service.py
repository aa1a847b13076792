"""WebhookService: the one delivery engine of a daemon process (ctx.services.webhooks).

A handler hands over a Delivery with put(), which waits while `pending_limit` deliveries are
held in memory (backpressure: the webhook lane fills, and the lane holds back stream and HTTP
readers; datagrams are dropped and counted at the lane). submit() never waits: over the
limit it drops and counts. Deliveries queue per target host:port; each host gets at most
`max_per_host` worker tasks, started on demand and ended when its queue is empty, so one
slow receiver holds only its own workers. An attempt that
fails with a transport error, a timeout, 408, 429 or 5xx is retried after a jittered
exponential backoff (Retry-After honoured), up to `max_attempts`; after the last try, or on
a permanent failure (another 4xx, a redirect loop), the delivery goes to the dead-letter
store. Tyk tries once and forgets (docs/compatibility.md); this is our deliberate improvement.

Nothing accepted is lost: drain() (SIGTERM) lets queued, in-flight and retrying deliveries
finish within its timeout and dead-letters whatever is left. With `spool` and Redis, put()
writes each delivery to a Redis stream instead, and any instance reads it back and delivers
it, so a crash loses nothing and instances share the work (spool.py). Dead letters are never
dropped while running (deadletter.DeadLetterKeeper); those lost at shutdown are counted in
`lost`, and the daemon exits 1.

Wiring (the daemon makes one per process): `service_from_config(cfg, redis, registry)`,
`await start()`, handlers find it as ctx.services.webhooks, `ready()` for GET /ready,
`await drain(timeout)` on SIGTERM, `await close()`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric

from tykevents.config import Config, ExternalServices, WebhookSettings
from tykevents.deliver.webhook.client import HttpSender, Result
from tykevents.deliver.webhook.deadletter import (
    DeadLetterKeeper,
    DeadLetterSet,
    DeadLetterStore,
    FileDeadLetters,
    RedisDeadLetters,
    dead_letter_file,
    fallback_file,
)
from tykevents.deliver.webhook.delivery import Delivery, new_log_id
from tykevents.deliver.webhook.deliverylog import DeliveryFilter, letter_view, make_log
from tykevents.deliver.webhook.endpoints import EndpointHealth
from tykevents.deliver.webhook.metrics import NoopMetrics, WebhookCounters, WebhookMetrics, state_families
from tykevents.deliver.webhook.spool import raise_eaten_cancel
from tykevents.golang import url as gourl
from tykevents.runtime.loops import running_loop
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.runtime.workers import current as current_worker
from tykevents.store.redis import follow_primary

logger = logging.getLogger("tykevents.deliver.webhook")
_ratelog = RateLimitedLog(logger)

WATCH_EVERY = 0.5  # seconds between Redis checks (spool marker, or PING)
RECOUNT_EVERY = 60.0  # seconds between counts of the dead-letter stores (the CLI removes entries)
FOLLOW_TIMEOUT = 1.0  # seconds the Sentinels get to name the primary, each check


class _Lane:
    __slots__ = ("queue", "workers")

    def __init__(self) -> None:
        self.queue: deque[Delivery] = deque()
        self.workers = 0


class WebhookService:
    def __init__(
        self,
        settings: WebhookSettings | None = None,
        *,
        cooldown: Any = None,
        dead_letters: DeadLetterStore | None = None,
        metrics: WebhookMetrics | None = None,
        redis: Any = None,
        base_dir: str | Path = ".",
        external: ExternalServices | None = None,
    ) -> None:
        self.settings = s = settings or WebhookSettings()
        if cooldown is None:
            from tykevents.store.cooldown import MemoryCooldown, RedisCooldown

            cooldown = RedisCooldown(redis) if redis is not None else MemoryCooldown()
        self.cooldown = cooldown
        keep: dict[str, Any] = {"max_entries": s.log.max_entries, "max_age": s.log.max_age}  # as the log
        if dead_letters is None:
            dead_letters = (
                RedisDeadLetters(redis, **keep)
                if redis is not None
                else FileDeadLetters(dead_letter_file(s, base_dir), **keep)
            )
        self.dead_letters = dead_letters
        fallback = fallback_file(s, base_dir)
        self.fallback_letters = (
            None if getattr(dead_letters, "path", None) == fallback else FileDeadLetters(fallback, **keep)
        )
        self.keeper = DeadLetterKeeper(dead_letters, self.fallback_letters, on_change=self._wake_room)
        self.log = make_log(s.log, redis)  # the delivery log; None when off (deliverylog.py)
        self.redis = redis
        self.redis_up: bool | None = None  # None: no Redis, or not checked yet
        self._sentinels_up = True  # follow_primary() got an answer (always, without Sentinel)
        self.metrics: WebhookMetrics = metrics or NoopMetrics()
        # Per-host health, and the opt-in breaker and rate limit (endpoints.py).
        self.endpoints = EndpointHealth(s.breaker, s.rate_limit, self.metrics)
        self.sender = HttpSender(s, external=external)  # tyk.conf external_services picks the client
        self.spool: Any = None
        if s.spool and redis is not None:
            from tykevents.deliver.webhook.spool import Spool

            self.spool = Spool(redis, self, claim_after=s.spool_claim_after, consumer=spool_consumer(s))
        self._lanes: dict[str, _Lane] = {}
        self._live: set[Delivery] = set()  # accepted and not finished
        self._timers: dict[Delivery, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._room: deque[asyncio.Future[None]] = deque()  # put() calls waiting for room
        self._watch_task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        self._stopping = False
        self._final = False  # past the drain: what arrives now is dead-lettered (or spooled)
        self._closed = False
        self.dead_lettered = 0
        self.dropped = 0

    @property
    def lost(self) -> int:
        """Dead letters that could be stored nowhere (only at shutdown): the daemon exits 1."""
        return self.keeper.lost

    def collect(self) -> Iterable[Metric]:
        """Its counters for Prometheus (a collector: see tykevents.runtime.metrics)."""
        if isinstance(self.metrics, WebhookCounters):
            yield from self.metrics.collect()
        yield from state_families(self)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the HTTP session on the running loop (and recover spooled deliveries)."""
        if self._started:
            return
        await self.sender.start()
        self._started = True
        if self.spool is not None:
            await self.spool.start()
            self.redis_up = True
        self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Redis reachability (and the spool's check: spool.py), and the dead-letter counts."""
        recount = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if self.redis is not None:
                await self._check_redis()
            if loop.time() >= recount:
                recount = loop.time() + RECOUNT_EVERY
                await self.keeper.recount()
            raise_eaten_cancel()
            await asyncio.sleep(WATCH_EVERY)

    async def _check_redis(self) -> None:
        try:
            # Bounded: Sentinels that hang must not hold up the ping and the spool's check.
            async with asyncio.timeout(FOLLOW_TIMEOUT):
                await follow_primary(self.redis)
        except Exception as e:  # the Sentinels are unreachable: keep the connections we have
            if self._sentinels_up:
                logger.warning("no Sentinel answers (the primary's address is not checked): %s", e)
            self._sentinels_up = False
        else:
            if not self._sentinels_up:
                logger.info("the Sentinels answer again")
            self._sentinels_up = True
        try:
            await self.redis.ping()
        except Exception as e:
            if self.redis_up is not False:
                logger.error("Redis is unreachable: %s", e)
            self.redis_up = False
            return
        if self.redis_up is False:
            logger.warning("Redis is reachable again")
        self.redis_up = True
        if self.spool is not None:
            try:
                await self.spool.check()
            except Exception as e:
                self.spool._failed("check", e)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Readiness: Redis reachable, the spool working and dead letters being stored."""
        detail: dict[str, Any] = {
            "pending": len(self._live),
            "pending_limit": self.settings.pending_limit,
            "dead_letters_waiting": len(self.keeper.waiting),
        }
        problems = []
        if self.keeper.failing:
            problems.append(f"dead-letter stores failing: {self.keeper.failing}")
        if self.redis is not None:
            detail["redis"] = {None: "unknown", True: "up", False: "down"}[self.redis_up]
            if self.redis_up is False:
                problems.append("Redis unreachable")
        if self.spool is not None:
            detail["spool"] = {"backlog": self.spool.backlog, "state": self.spool.failing or "working"}
            if not self.spool.working:
                problems.append(f"spool: {self.spool.failing}")
        if not self._started or self._stopping:
            problems.append("stopping" if self._stopping else "not started")
        detail["problems"] = problems
        return not problems, detail

    @property
    def pending(self) -> int:
        """Accepted deliveries not finished: queued, in flight or waiting to retry."""
        return len(self._live)

    @property
    def held(self) -> int:
        """Deliveries held in memory: pending, spooled and not read back yet, dead letters
        not stored yet. put() keeps it under pending_limit."""
        backlog = self.spool.backlog if self.spool is not None else 0
        return len(self._live) + backlog + len(self.keeper.waiting)

    @property
    def full(self) -> bool:
        return self.held >= self.settings.pending_limit or self._closed

    def drop(self, kind: str, handler: str, host: str) -> None:
        self.dropped += 1
        self.metrics.outcome(kind, handler, host, "dropped")
        _ratelog.log(
            logging.WARNING,
            "overload",
            "webhook pending limit (%d) reached: delivery dropped (handler %s, host %s)",
            self.settings.pending_limit,
            handler,
            host,
        )

    def submit(self, d: Delivery) -> bool:
        """Accept a delivery without waiting; False (counted) when over the pending limit."""
        if not self._started:
            raise RuntimeError("WebhookService.start() was not awaited")
        if self.full:
            self.drop(d.kind, d.handler, d.host)
            self._record(d, None, 0.0, "dropped")
            return False
        if d.log_id is None:
            d.log_id = new_log_id()
        if self.spool is not None:
            self.spool.add(d)  # to Redis first; an instance reads it back and delivers it
        else:
            self.accept(d)
        return True

    async def wait_room(self) -> None:
        """Wait while the pending limit is reached (until drain() lets everyone through)."""
        while self.full and not self._unbounded:
            fut = asyncio.get_running_loop().create_future()
            self._room.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                self._wake_room()  # pass on a wake-up this one can no longer use
                raise

    async def put(self, d: Delivery) -> None:
        """Accept a delivery, waiting for room first (backpressure); never drops."""
        if not self._started:
            raise RuntimeError("WebhookService.start() was not awaited")
        await self.wait_room()
        if d.log_id is None:
            d.log_id = new_log_id()
        if self.spool is not None and not self._closed:
            self.spool.add(d)  # when stopping, Redis keeps it for the next reader
        else:
            self.accept(d)

    @property
    def _unbounded(self) -> bool:
        """put() takes without waiting: past the drain (dead letters), or stopping with the
        spool (Redis keeps them; this instance reads nothing more)."""
        return self._final or (self._stopping and self.spool is not None)

    def _wake_room(self) -> None:
        """Let as many waiting put() calls go on as there is room (all of them once final)."""
        if not self._room:
            return
        free = self.settings.pending_limit - self.held
        while self._room and (free > 0 or self._unbounded):
            fut = self._room.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    def room_changed(self) -> None:
        self._wake_room()

    @property
    def room(self) -> int:
        """Deliveries this service can take now (the spool reads no more than this)."""
        return self.settings.pending_limit - len(self._live)

    def accept(self, d: Delivery) -> None:
        """Start delivering `d` (submit() and the spool's reader come here). Past the drain,
        nothing can be sent any more: it becomes a dead letter at once."""
        if d.log_id is None:
            d.log_id = new_log_id()
        if self._final:
            self._abandon_one(d)
            return
        self._live.add(d)
        self._idle.clear()
        self._enqueue(d)

    async def drain(self, timeout: float) -> bool:
        """Finish what was accepted within `timeout` s; dead-letter the rest. True if all done.
        put() calls still waiting for room then go on: their deliveries are dead-lettered (or,
        spooled, left in Redis for the next reader)."""
        self._stopping = True
        self._wake_room()  # spooled: they need no room any more
        if self.spool is not None:
            self.spool.stop_reading()  # take no more; what is written stays for the others
            await self.spool.write_pending()
        if self._live:
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await self._idle.wait()
            except TimeoutError:
                pass
        self._final = True
        self._wake_room()
        await asyncio.sleep(0)  # the put() calls just woken run now (before the lanes stop)
        left = await self._abandon()
        if self.spool is not None:
            await self.spool.write_pending()  # what the woken put() calls spooled
        await self.keeper.finish()
        if self.spool is not None:
            await self.spool.flush()
        return left == 0

    async def close(self) -> None:
        if self._closed:
            return
        await self.drain(0.0)
        self._closed = True
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        if self.spool is not None:
            await self.spool.close()
        await self.sender.close()
        if self.log is not None:
            await self.log.close()
        await self.dead_letters.close()

    async def _abandon(self) -> int:
        """Stop every worker and timer; what was not finished becomes a dead letter (or, when
        spooled, stays in the stream for another instance to claim)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        left = list(self._live)
        self._live.clear()
        stored = 0
        for d in left:
            if self.spool is not None and d.spool_id is not None:
                continue  # stays pending in the stream: claimed again after a restart
            self._abandon_one(d)
            stored += 1
        if left:
            logger.warning(
                "webhooks: %d deliveries unfinished at shutdown (%d dead-lettered, %d left in the spool)",
                len(left),
                stored,
                len(left) - stored,
            )
        self._idle.set()
        return len(left)

    def _abandon_one(self, d: Delivery) -> None:
        note = "not delivered before shutdown"
        d.error = f"{note}; last error: {d.error}" if d.error else note
        self._dead_letter(d)
        self.metrics.outcome(d.kind, d.handler, d.host, "abandoned")
        self._record(d, d.status, 0.0, "abandoned")

    # -- delivery ---------------------------------------------------------------------------
    def _enqueue(self, d: Delivery) -> None:
        host = d.plan.host_key
        lane = self._lanes.get(host)
        if lane is None:
            lane = self._lanes[host] = _Lane()
        lane.queue.append(d)
        if self.endpoints.guarded and self.endpoints.state(host) == "open":
            self._record(d, d.status, 0.0, "breaker_open")  # waits for the cool-off (endpoints.py)
        if lane.workers < self.settings.max_per_host:
            lane.workers += 1
            task = running_loop().create_task(self._work(host, lane))  # no syscall (runtime/loops.py)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self, host: str, lane: _Lane) -> None:
        try:
            queue = lane.queue
            endpoints = self.endpoints
            while queue:
                if not endpoints.guarded:
                    await self._attempt(queue.popleft())
                    continue
                # Breaker or rate limit: wait here, the delivery still queued (and pending).
                ticket = await endpoints.admit(host)
                try:
                    if queue:
                        await self._attempt(queue.popleft())
                finally:
                    endpoints.release(host, ticket)
        finally:
            lane.workers -= 1
            if lane.workers == 0 and not lane.queue and self._lanes.get(host) is lane:
                del self._lanes[host]

    def _held(self, host: str) -> None:
        """The host's breaker just opened: its queued deliveries wait (the delivery log says so)."""
        lane = self._lanes.get(host)
        for q in lane.queue if lane is not None else ():
            self._record(q, q.status, 0.0, "breaker_open")

    async def _attempt(self, d: Delivery) -> None:
        """One attempt and what follows from it. An unexpected exception (a bug, a closed
        session) gives the delivery up as a dead letter: it must not end the worker or stay
        counted in `pending` forever."""
        try:
            await self._try(d)
        except Exception as e:  # CancelledError is not an Exception: drain() still works
            self._crashed(d, e)

    def _crashed(self, d: Delivery, e: Exception) -> None:
        why = gourl.scrub(f"{type(e).__name__}: {e}", d.plan.url)
        _ratelog.log(
            logging.ERROR,
            f"crash:{d.host}",
            "Webhook delivery failed with an internal error: %s (handler %s); kept as a dead letter",
            why,
            d.handler,
        )
        logger.debug("webhook internal error (handler %s)", d.handler, exc_info=e)  # raw: DEBUG only
        if d in self._live and d not in self._timers:  # else: finished, or waiting for its retry
            d.error = f"internal error: {why}"
            self._record(d, d.status, 0.0, "failed")
            try:
                self._dead_letter(d)
            finally:
                self._finish(d, "failed")

    async def _try(self, d: Delivery) -> None:
        d.attempts += 1
        # time.monotonic, not loop.time(): uvloop's counts whole milliseconds, and
        # asyncio.get_running_loop() makes a getpid() syscall on 3.11.
        started = time.monotonic()
        res = await self.sender.send(d.plan, d.body, d)
        elapsed = time.monotonic() - started
        self.metrics.attempt(d.host, res.label(), elapsed)
        if self.endpoints.record(d.host, d.plan.url, res.status, res.retry, res.error, elapsed):
            self._held(d.host)
        d.status = res.status
        if res.ok:
            d.error = ""
            self._record(d, res.status, elapsed, "delivered")
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "webhook %s delivered to %s: %d %r", d.handler, d.host, res.status, res.body[:200]
                )
            self._finish(d, "delivered")
            return
        d.error = res.error
        if res.retry and d.attempts < self.settings.max_attempts and not self._closed:
            delay = self.backoff(d.attempts, res.retry_after)
            self.metrics.outcome(d.kind, d.handler, d.host, "retried")
            self._record(d, res.status, elapsed, "retrying")
            _ratelog.log(
                logging.WARNING,
                f"retry:{d.host}",
                "Webhook delivery failed (attempt %d of %d, retrying in %.1fs): %s (handler %s)",
                d.attempts,
                self.settings.max_attempts,
                delay,
                res.error,
                d.handler,
            )
            self._timers[d] = asyncio.get_running_loop().call_later(delay, self._retry, d)
            return
        self._record(d, res.status, elapsed, "dead_lettered")
        self._give_up(d, res)

    def _retry(self, d: Delivery) -> None:
        if self._timers.pop(d, None) is not None:
            self._enqueue(d)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Delay before retry `attempt`: d/2 + up to d/2 more (jitter), d doubling per attempt,
        at least Retry-After (capped by retry_after_max)."""
        s = self.settings
        d = min(s.backoff_max, s.backoff_base * (2 ** (attempt - 1)))
        delay = d / 2 + random.random() * d / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.retry_after_max))
        return delay

    def _give_up(self, d: Delivery, res: Result) -> None:
        _ratelog.log(
            logging.ERROR,
            f"fail:{d.host}",
            "Webhook delivery failed: %s (handler %s, %d attempt%s); kept as a dead letter",
            res.error,
            d.handler,
            d.attempts,
            "" if d.attempts == 1 else "s",
        )
        self._dead_letter(d)
        self._finish(d, "failed")

    def _finish(self, d: Delivery, outcome: str) -> None:
        self._live.discard(d)
        self.metrics.outcome(d.kind, d.handler, d.host, outcome)
        if self.spool is not None and d.spool_id is not None:
            self.spool.done(d)
        if not self._live:
            self._idle.set()
        if self._room:
            self._wake_room()

    # -- dead letters -------------------------------------------------------------------------
    def _dead_letter(self, d: Delivery) -> None:
        self.dead_lettered += 1
        self.keeper.add(d.to_record())

    async def _chosen_letters(
        self, ids: Iterable[str] | None, filter: DeliveryFilter | None
    ) -> tuple[DeadLetterSet, list[dict[str, Any]]]:
        """The dead letters (store and fallback file) named by store id or log_id, or matching
        `filter`. One of the two is required: nothing given must not mean everything."""
        if ids is None and filter is None:
            raise ValueError("give ids or a filter")
        stores = [self.dead_letters, *([self.fallback_letters] if self.fallback_letters else [])]
        letters = DeadLetterSet(stores)
        records = await letters.list()
        if ids is not None:
            wanted = {str(i) for i in ids}
            return letters, [r for r in records if r.get("id") in wanted or r.get("log_id") in wanted]
        assert filter is not None
        return letters, [r for r in records if filter.match(letter_view(r))]

    async def replay_dead_letters(
        self, ids: Iterable[str] | None = None, filter: DeliveryFilter | None = None
    ) -> int:
        """Deliver dead letters again through accept() (or the spool), with the normal retry
        policy and their log_id; each leaves the store as it is re-queued. Waits for room
        under pending_limit. Unreadable entries stay (the CLI lists them). How many went."""
        letters, chosen = await self._chosen_letters(ids, filter)
        replayed = 0
        for rec in chosen:
            try:
                d = Delivery.from_record(rec)
            except (KeyError, ValueError, TypeError):
                continue
            d.attempts, d.error, d.status, d.id = 0, "", None, None
            await self.wait_room()
            if self._stopping:
                break
            if not await letters.remove([str(rec["id"])]):
                continue  # replayed or purged meanwhile (another instance, the CLI)
            if self.spool is not None:
                self.spool.add(d)
            else:
                self.accept(d)
            replayed += 1
        if replayed:
            await self.keeper.recount()
        return replayed

    async def purge_dead_letters(
        self, ids: Iterable[str] | None = None, filter: DeliveryFilter | None = None
    ) -> int:
        """Remove dead letters for good (by store id or log_id, or by filter): how many."""
        letters, chosen = await self._chosen_letters(ids, filter)
        purged = await letters.remove([str(r["id"]) for r in chosen]) if chosen else 0
        if purged:
            await self.keeper.recount()
        return purged

    def suppressed(self, d: Delivery) -> None:
        """A webhook the cooldown held back (never sent, as in Tyk): the delivery log says so."""
        if self.log is not None:
            d.log_id = new_log_id()
            self._record(d, None, 0.0, "suppressed")

    def _record(self, d: Delivery, status: int | None, seconds: float, outcome: str) -> None:
        """An attempt's (or a final) outcome into the delivery log (deliverylog.py)."""
        if self.log is not None:
            self.log.record_attempt(d, d.attempts, status, seconds * 1000, d.error, outcome)


def spool_consumer(s: WebhookSettings) -> str:
    """The spool's consumer name: `spool_consumer` or the host name, and under a supervisor
    the worker's index too, so that a restarted worker takes its own pending entries back."""
    worker = current_worker()
    base = s.spool_consumer or socket.gethostname()
    return f"{base}-w{worker.index}" if worker.supervised else base


def service_from_config(cfg: Config, redis: Any = None, registry: Any = None) -> WebhookService:
    """The daemon's service: settings from `tykevents.webhooks`, dead-letter paths from the
    state directory (Config.state_path), Redis state (cooldowns, dead letters, spool) when
    `redis` is given, and its counters collected by `registry`."""
    svc = WebhookService(
        cfg.tykevents.webhooks,
        redis=redis,
        base_dir=cfg.state_path("."),
        metrics=WebhookCounters(),
        external=cfg.external_services,
    )
    if registry is not None:
        registry.register(svc)
    return svc
