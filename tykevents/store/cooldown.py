"""Webhook cooldown stores: "was this exact webhook fired less than event_timeout ago?"

Both stores answer `await acquire(digest, ttl)`: True means fire now, and the cooldown is
armed in the same step (Tyk checks with GET and sets with SET later, so two identical events
can both fire: K8 in docs/compatibility.md). A ttl <= 0 means no cooldown (Tyk: suppressed
forever).

- MemoryCooldown: this process only, on the compiled CooldownTable; or, when a supervisor
  installed shared tables before forking its workers (tykevents._fast.shared), every worker
  on one shared table.
- RedisCooldown: `SET webhook.cache.<md5> 1 NX EX <ttl>`, Tyk's own key, so that several
  tykevents instances (and Tyk gateways on the same Redis) share cooldowns. When Redis fails
  the webhook fires, as Tyk's GET error counts as "not fired"; the error is counted.
  The checks made while one batch is in flight go together in the next: one Lua call for a
  batch (a cluster: one pipeline, split by node). One redis-py command costs about 100 µs of
  Python, the batch about 8 µs a key (bench/bench_cooldown_store.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoScriptError

from tykevents._fast.cooldown import CooldownTable
from tykevents._fast.shared import shared_cooldown
from tykevents.runtime.loops import running_loop
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.runtime.workers import current as current_worker

logger = logging.getLogger("tykevents.store.cooldown")
_ratelog = RateLimitedLog(logger)

KEY_PREFIX = "webhook.cache."
MAX_TTL = 1 << 26  # seconds (776 days), as the in-memory table; Redis refuses huge EX values


def _digest(d: bytes | str) -> bytes:
    return bytes.fromhex(d) if isinstance(d, str) else d


def _hex(d: bytes | str) -> str:
    return d if isinstance(d, str) else d.hex()


class MemoryCooldown:
    """In-process cooldowns, bounded by `capacity` keys (see tykevents._fast.cooldown); the
    installed shared table instead, if any (its own capacity applies)."""

    def __init__(
        self,
        capacity: int = 1_000_000,
        purge_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        shared = shared_cooldown()
        self.table: Any = shared if shared is not None else CooldownTable(capacity)
        # A shared table's purge pauses every worker while it scans: one worker does it.
        self._purges = shared is None or current_worker().first
        self._clock = clock
        self._purge_every = purge_every
        self._next_purge = clock() + purge_every
        self.errors = 0  # never fails; present so both stores read alike

    async def acquire(self, digest: bytes | str, ttl: float) -> bool:
        now = self._clock()
        if now >= self._next_purge and self._purges:
            self._next_purge = now + self._purge_every
            self.table.purge(now)
        return self.table.acquire(_digest(digest), now, float(ttl))

    async def check(self, digest: bytes | str, ttl: float) -> tuple[bool, bool]:
        """(fire, the store failed): acquire(), and whether its answer is a fallback."""
        return await self.acquire(digest, ttl), False

    async def release(self, digest: bytes | str) -> None:
        self.table.release(_digest(digest))

    def __len__(self) -> int:
        return len(self.table)

    async def close(self) -> None:
        pass


# SET NX EX each key; ARGV[i] is KEYS[i]'s EX, or ARGV[1] for all when a batch shares one.
# The reply is one string of '1' (set: fire) and '0' (held), cheap for redis-py to read.
ACQUIRE = """
local out = {}
for i, k in ipairs(KEYS) do
  out[i] = redis.call('SET', k, '1', 'NX', 'EX', ARGV[i] or ARGV[1]) and '1' or '0'
end
return table.concat(out)
"""
ACQUIRE_SHA = hashlib.sha1(ACQUIRE.encode()).hexdigest()
BATCH = 512  # keys per call: Lua's unpack() and one reply stay small


class RedisCooldown:
    """Cooldowns shared through Redis under Tyk's key `webhook.cache.<md5 hex>`."""

    def __init__(self, client: Any, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.client = client  # redis.asyncio.Redis or RedisCluster
        self.errors = 0
        self.batches = 0  # round trips made, for tests and bench/
        self._on_error = on_error
        self._cluster = hasattr(client, "get_node_from_key")
        # A future's answer: True fire, False held back, None the store failed (fire).
        self._queue: list[tuple[str, int, asyncio.Future[bool | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def acquire(self, digest: bytes | str, ttl: float) -> bool:
        return (await self.check(digest, ttl))[0]

    async def check(self, digest: bytes | str, ttl: float) -> tuple[bool, bool]:
        """(fire, the store failed): this call's own answer, whatever other batches met."""
        if ttl <= 0:
            return True, False
        # EX takes whole seconds; round up so a cooldown never ends early.
        ex = max(1, math.ceil(min(ttl, MAX_TTL)))
        loop = running_loop()  # once per check: no syscall (runtime/loops.py)
        fut: asyncio.Future[bool | None] = loop.create_future()
        self._queue.append((KEY_PREFIX + _hex(digest), ex, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = task = loop.create_task(self._flush())
            task.add_done_callback(self._flushed)
        answer = await fut
        return answer is not False, answer is None

    def _flushed(self, task: asyncio.Task[None]) -> None:
        """The flusher ended (done, or cancelled, even before it ran): the checks still
        queued get an answer, and the next check starts a new one."""
        if self._flusher is task:
            self._flusher = None
            left, self._queue = self._queue, []
            if left:
                self._failed(left, asyncio.CancelledError())

    async def _flush(self) -> None:
        """Send what is queued, a batch at a time, until nothing is."""
        batch: list[tuple[str, int, asyncio.Future[bool | None]]] = []
        try:
            # A task starts on the loop's next pass: the checks made in this one are queued.
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                try:
                    fired = await self._set(batch)
                except Exception as e:  # any Redis failure: fire, as Tyk does, and count it
                    fired = None
                    self._failed(batch, e)
                done, batch = batch, []
                for (_, _, fut), ok in zip(done, fired or (), strict=False):
                    if not fut.done():  # its caller may have been cancelled
                        fut.set_result(ok)
        finally:
            if batch:  # cancelled with a batch on its way: it still gets an answer
                self._failed(batch, asyncio.CancelledError())

    async def _set(self, batch: list[tuple[str, int, asyncio.Future[bool | None]]]) -> list[bool]:
        self.batches += 1
        if len(batch) == 1:  # alone: a plain SET costs both sides less than the script
            key, ex, _ = batch[0]
            return [bool(await self.client.set(key, "1", nx=True, ex=ex))]
        if self._cluster:  # a script's keys must share a slot: a pipeline, split by node
            pipe = self.client.pipeline()
            for key, ex, _ in batch:
                pipe.set(key, "1", nx=True, ex=ex)
            fired = [bool(r) for r in await pipe.execute()]
        else:
            fired = await self._script(batch)
        if len(fired) != len(batch):  # never from a sound server; fire rather than hang
            raise ValueError(f"{len(fired)} answers to {len(batch)} cooldown checks")
        return fired

    async def _script(self, batch: list[tuple[str, int, asyncio.Future[bool | None]]]) -> list[bool]:
        keys = [key for key, _, _ in batch]
        exs = {ex for _, ex, _ in batch}
        args = [batch[0][1]] if len(exs) == 1 else [ex for _, ex, _ in batch]
        try:
            reply = await self.client.evalsha(ACQUIRE_SHA, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or flushed Redis: EVAL caches it again
            reply = await self.client.eval(ACQUIRE, len(keys), *keys, *args)
        return [c == 0x31 for c in (reply if isinstance(reply, bytes) else reply.encode())]

    def _failed(self, batch: list[tuple[str, int, asyncio.Future[bool | None]]], e: BaseException) -> None:
        for _, _, fut in batch:
            self.errors += 1
            if self._on_error is not None:
                self._on_error(e)
            if not fut.done():
                fut.set_result(None)
        _ratelog.log(logging.ERROR, "redis", "cooldown store unavailable, firing anyway: %s", e)

    async def release(self, digest: bytes | str) -> None:
        try:
            await self.client.delete(KEY_PREFIX + _hex(digest))
        except Exception as e:
            self.errors += 1
            _ratelog.log(logging.ERROR, "redis", "cooldown store unavailable: %s", e)

    async def close(self) -> None:
        """Answer the checks under way (the client belongs to the daemon)."""
        if self._flusher is not None:
            await asyncio.gather(asyncio.shield(self._flusher), return_exceptions=True)
