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
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from tykevents._fast.cooldown import CooldownTable
from tykevents._fast.shared import shared_cooldown
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

    async def release(self, digest: bytes | str) -> None:
        self.table.release(_digest(digest))

    def __len__(self) -> int:
        return len(self.table)

    async def close(self) -> None:
        pass


class RedisCooldown:
    """Cooldowns shared through Redis under Tyk's key `webhook.cache.<md5 hex>`."""

    def __init__(self, client: Any, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.client = client  # redis.asyncio.Redis or RedisCluster
        self.errors = 0
        self._on_error = on_error

    async def acquire(self, digest: bytes | str, ttl: float) -> bool:
        if ttl <= 0:
            return True
        key = KEY_PREFIX + _hex(digest)
        try:
            # EX takes whole seconds; round up so a cooldown never ends early.
            ex = max(1, math.ceil(min(ttl, MAX_TTL)))
            return bool(await self.client.set(key, "1", nx=True, ex=ex))
        except Exception as e:  # any Redis failure: fire, as Tyk does, and count it
            self.errors += 1
            if self._on_error is not None:
                self._on_error(e)
            _ratelog.log(logging.ERROR, "redis", "cooldown store unavailable, firing anyway: %s", e)
            return True

    async def release(self, digest: bytes | str) -> None:
        try:
            await self.client.delete(KEY_PREFIX + _hex(digest))
        except Exception as e:
            self.errors += 1
            _ratelog.log(logging.ERROR, "redis", "cooldown store unavailable: %s", e)

    async def close(self) -> None:
        pass  # the client belongs to the daemon
