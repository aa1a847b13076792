"""WebhookService: the one delivery engine of a daemon process (ctx.services.webhooks).

A handler hands over a Delivery with submit(), which never waits. Deliveries queue per target
host:port; each host gets at most `max_per_host` worker tasks, started on demand and ended
when its queue is empty, so one slow receiver holds only its own workers. An attempt that
fails with a transport error, a timeout, 408, 429 or 5xx is retried after a jittered
exponential backoff (Retry-After honoured), up to `max_attempts`; after the last try, or on
a permanent failure (another 4xx, a redirect loop), the delivery goes to the dead-letter
store. Tyk tries once and forgets (spec 3.6); this is our deliberate improvement.

Nothing accepted is lost: drain() (SIGTERM) lets queued, in-flight and retrying deliveries
finish within its timeout and dead-letters whatever is left. With `spool` and Redis, submit()
writes each delivery to a Redis stream instead, and any instance reads it back and delivers
it, so a crash loses nothing and instances share the work (spool.py).

Wiring (the daemon makes one per process): `service_from_config(cfg, redis, registry)`,
`await start()`, handlers find it as ctx.services.webhooks, `await drain(timeout)` on
SIGTERM, `await close()`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric

from tykevents.config import Config, WebhookSettings
from tykevents.deliver.webhook.client import HttpSender, Result
from tykevents.deliver.webhook.deadletter import DeadLetterStore, FileDeadLetters, RedisDeadLetters
from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.metrics import NoopMetrics, WebhookCounters, WebhookMetrics
from tykevents.golang import url as gourl
from tykevents.runtime.ratelog import RateLimitedLog

logger = logging.getLogger("tykevents.deliver.webhook")
_ratelog = RateLimitedLog(logger)


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
    ) -> None:
        self.settings = s = settings or WebhookSettings()
        if cooldown is None:
            from tykevents.store.cooldown import MemoryCooldown, RedisCooldown

            cooldown = RedisCooldown(redis) if redis is not None else MemoryCooldown()
        self.cooldown = cooldown
        if dead_letters is None:
            path = Path(s.dead_letter_path)
            dead_letters = (
                RedisDeadLetters(redis)
                if redis is not None
                else FileDeadLetters(path if path.is_absolute() else Path(base_dir) / path)
            )
        self.dead_letters = dead_letters
        self.metrics: WebhookMetrics = metrics or NoopMetrics()
        self.sender = HttpSender(s)
        self.spool: Any = None
        if s.spool and redis is not None:
            from tykevents.deliver.webhook.spool import Spool

            self.spool = Spool(redis, self, claim_after=s.spool_claim_after, consumer=s.spool_consumer)
        self._lanes: dict[str, _Lane] = {}
        self._live: set[Delivery] = set()  # accepted and not finished
        self._timers: dict[Delivery, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dl_buffer: list[dict[str, Any]] = []
        self._dl_task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        self._stopping = False
        self._closed = False
        self.dead_lettered = 0
        self.dropped = 0

    def collect(self) -> Iterable[Metric]:
        """Its counters for Prometheus (a collector: see tykevents.runtime.metrics)."""
        if isinstance(self.metrics, WebhookCounters):
            yield from self.metrics.collect()
        yield CounterMetricFamily(
            "tykevents_webhook_dead_lettered", "Deliveries kept as dead letters", value=self.dead_lettered
        )
        yield CounterMetricFamily(
            "tykevents_webhook_dropped", "Deliveries dropped over pending_limit", value=self.dropped
        )
        if self.spool is not None:
            yield CounterMetricFamily(
                "tykevents_webhook_spool_fallbacks",
                "Deliveries kept in memory only because Redis failed",
                value=self.spool.fallbacks,
            )
            yield CounterMetricFamily(
                "tykevents_webhook_spool_recovered",
                "Spooled deliveries claimed after a crash",
                value=self.spool.recovered,
            )

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the HTTP session on the running loop (and recover spooled deliveries)."""
        if self._started:
            return
        await self.sender.start()
        self._started = True
        if self.spool is not None:
            await self.spool.start()

    @property
    def pending(self) -> int:
        """Accepted deliveries not finished: queued, in flight or waiting to retry."""
        return len(self._live)

    @property
    def full(self) -> bool:
        backlog = self.spool.backlog if self.spool is not None else 0
        return len(self._live) + backlog >= self.settings.pending_limit or self._closed

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
            return False
        if self.spool is not None:
            self.spool.add(d)  # to Redis first; an instance reads it back and delivers it
        else:
            self.accept(d)
        return True

    @property
    def room(self) -> int:
        """Deliveries this service can take now (the spool reads no more than this)."""
        return self.settings.pending_limit - len(self._live)

    def accept(self, d: Delivery) -> None:
        """Start delivering `d` (submit() and the spool's reader come here)."""
        self._live.add(d)
        self._idle.clear()
        self._enqueue(d)

    async def drain(self, timeout: float) -> bool:
        """Finish what was accepted within `timeout` s; dead-letter the rest. True if all done."""
        self._stopping = True
        if self.spool is not None:
            self.spool.stop_reading()  # take no more; what is written stays for the others
            await self.spool.write_pending()
        if self._live:
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await self._idle.wait()
            except TimeoutError:
                pass
        left = await self._abandon()
        if self._dl_task is not None and not self._dl_task.done():
            await self._dl_task
        await self._flush_dead_letters()
        if self.spool is not None:
            await self.spool.flush()
        return left == 0

    async def close(self) -> None:
        if self._closed:
            return
        await self.drain(0.0)
        self._closed = True
        if self.spool is not None:
            await self.spool.close()
        await self.sender.close()
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
            note = "not delivered before shutdown"
            d.error = f"{note}; last error: {d.error}" if d.error else note
            self._dead_letter(d)
            self.metrics.outcome(d.kind, d.handler, d.host, "abandoned")
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

    # -- delivery ---------------------------------------------------------------------------
    def _enqueue(self, d: Delivery) -> None:
        host = d.plan.host_key
        lane = self._lanes.get(host)
        if lane is None:
            lane = self._lanes[host] = _Lane()
        lane.queue.append(d)
        if lane.workers < self.settings.max_per_host:
            lane.workers += 1
            task = asyncio.get_running_loop().create_task(self._work(host, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self, host: str, lane: _Lane) -> None:
        try:
            queue = lane.queue
            while queue:
                await self._attempt(queue.popleft())
        finally:
            lane.workers -= 1
            if lane.workers == 0 and not lane.queue and self._lanes.get(host) is lane:
                del self._lanes[host]

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
            try:
                self._dead_letter(d)
            finally:
                self._finish(d, "failed")

    async def _try(self, d: Delivery) -> None:
        loop = asyncio.get_running_loop()
        d.attempts += 1
        started = loop.time()
        res = await self.sender.send(d.plan, d.body)
        self.metrics.attempt(d.host, res.label(), loop.time() - started)
        d.status = res.status
        if res.ok:
            d.error = ""
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
            self._timers[d] = loop.call_later(delay, self._retry, d)
            return
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

    # -- dead letters -------------------------------------------------------------------------
    def _dead_letter(self, d: Delivery) -> None:
        self.dead_lettered += 1
        self._dl_buffer.append(d.to_record())
        if self._dl_task is None or self._dl_task.done():
            self._dl_task = asyncio.get_running_loop().create_task(self._flush_dead_letters())

    async def _flush_dead_letters(self) -> None:
        """Write buffered dead letters in batches; on a store error keep them and try again."""
        await asyncio.sleep(0)  # let a burst collect into one write
        failures = 0
        while self._dl_buffer:
            batch, self._dl_buffer = self._dl_buffer, []
            try:
                await self.dead_letters.add(batch)
                failures = 0
            except Exception as e:
                self._dl_buffer[:0] = batch
                failures += 1
                _ratelog.log(
                    logging.ERROR,
                    "deadletter",
                    "dead-letter store failed (%d waiting): %s",
                    len(self._dl_buffer),
                    e,
                )
                if self._stopping and failures >= 3:
                    logger.error(
                        "webhooks: %d dead letters could not be stored and are lost", len(self._dl_buffer)
                    )
                    self._dl_buffer.clear()
                    return
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))


def service_from_config(cfg: Config, redis: Any = None, registry: Any = None) -> WebhookService:
    """The daemon's service: settings from `tykevents.webhooks`, paths from tyk.conf's
    directory, Redis state (cooldowns, dead letters, spool) when `redis` is given, and its
    counters collected by `registry`."""
    svc = WebhookService(
        cfg.tykevents.webhooks, redis=redis, base_dir=cfg.base_dir, metrics=WebhookCounters()
    )
    if registry is not None:
        registry.register(svc)
    return svc
