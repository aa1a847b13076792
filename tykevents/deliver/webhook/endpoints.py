"""Endpoint health and protection, per target host:port (the service's per-host lanes).

Always: attempts, successes, recent latencies (p50/p90/p99), the last error, for
`service.endpoints.snapshot()` (GET /api/endpoints). Opt-in (Tyk has neither:
docs/compatibility.md), both read in docs/webhooks.md#endpoint-protection:

- a circuit breaker: `failures` consecutive failed attempts open it; while open the host's
  queued deliveries wait untouched (no attempt, none of their attempts or retry schedule
  used) for `cool_off` seconds; then `probes` attempts go (half-open): all of them
  succeeding closes it, any failure opens it again. A failure is what the service retries:
  a transport error or timeout, 408, 429 or 5xx. Any other answer (2xx, another 4xx, a
  redirect) shows the host up; a request never sent says nothing either way.
- a token bucket: at most `per_second` attempts a second on average, `burst` at once.

A worker of the host's lane calls `ticket = await admit(host)` before it takes a delivery
(it returns when the breaker lets an attempt go and a token is there), `record()` after each
attempt and `release(host, ticket)` in a finally, so a probe that ends without a verdict
frees its slot. While half-open, any attempt's result decides, a probe's or one that started
before the breaker opened: both are news of the host.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections import OrderedDict
from typing import Any, Protocol

from tykevents.config import BreakerSettings, RateLimitSettings
from tykevents.golang import url as gourl

OFF, CLOSED, OPEN, HALF_OPEN = "off", "closed", "open", "half_open"
SAMPLES = 256  # latencies kept per host (the most recent), for the percentiles
MAX_HOSTS = 4096  # hosts tracked; past it the least recently used idle one is forgotten
MAX_ERROR = 512  # characters of the last error kept


class EndpointMetrics(Protocol):
    def breaker_transition(self, host: str, to: str) -> None: ...

    def rate_limited(self, host: str) -> None: ...


class _NoMetrics:
    def breaker_transition(self, host: str, to: str) -> None:
        pass

    def rate_limited(self, host: str) -> None:
        pass


class TokenBucket:
    """Reservations, as Go's rate.Limiter: take() always takes a token, possibly one not there
    yet, and says how long to wait for it; so waiters are served in order at `rate`."""

    __slots__ = ("rate", "burst", "tokens", "last")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self.tokens = self.burst
        self.last = now

    def take(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Endpoint:
    """One target host:port: its counters, latencies and breaker."""

    __slots__ = (
        "host",
        "attempts",
        "successes",
        "latencies",
        "_next",
        "last_error",
        "last_error_at",
        "state",
        "failures",
        "open_until",
        "probing",
        "probe_successes",
        "epoch",
        "bucket",
        "waiters",
        "_changed",
    )

    def __init__(self, host: str, breaker: bool, bucket: TokenBucket | None) -> None:
        self.host = host
        self.attempts = 0
        self.successes = 0
        self.latencies = array("d")
        self._next = 0  # where the next latency goes once `latencies` is full
        self.last_error = ""
        self.last_error_at: float | None = None
        self.state = CLOSED if breaker else OFF
        self.failures = 0  # consecutive, while closed
        self.open_until = 0.0  # loop time
        self.probing = 0  # probes in flight, while half-open
        self.probe_successes = 0
        self.epoch = 0  # bumped at every transition: a probe's ticket is the epoch it went in
        self.bucket = bucket
        self.waiters = 0  # workers inside admit()
        self._changed: asyncio.Event | None = None

    def add_latency(self, ms: float) -> None:
        if len(self.latencies) < SAMPLES:
            self.latencies.append(ms)
        else:
            self.latencies[self._next] = ms
            self._next = (self._next + 1) % SAMPLES

    def percentiles(self) -> dict[str, float | None]:
        xs = sorted(self.latencies)
        if not xs:
            return {"p50": None, "p90": None, "p99": None}
        # nearest rank
        return {f"p{q}": round(xs[max(0, math.ceil(q / 100 * len(xs)) - 1)], 3) for q in (50, 90, 99)}

    def wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def changed(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()


class EndpointHealth:
    """Every target host's Endpoint, bounded to MAX_HOSTS (least recently used idle one goes)."""

    def __init__(
        self,
        breaker: BreakerSettings | None = None,
        rate_limit: RateLimitSettings | None = None,
        metrics: EndpointMetrics | None = None,
        max_hosts: int = MAX_HOSTS,
    ) -> None:
        self.breaker = breaker or BreakerSettings()
        self.rate_limit = rate_limit or RateLimitSettings()
        self.metrics: EndpointMetrics = metrics or _NoMetrics()
        self.max_hosts = max_hosts
        # Whether workers must call admit(): False by default, so the hot path skips it.
        self.guarded = self.breaker.enabled or self.rate_limit.enabled
        self._hosts: OrderedDict[str, Endpoint] = OrderedDict()

    # -- the table -----------------------------------------------------------------------
    def get(self, host: str) -> Endpoint:
        ep = self._hosts.get(host)
        if ep is not None:
            self._hosts.move_to_end(host)
            return ep
        if len(self._hosts) >= self.max_hosts:
            self._forget_one()
        ep = self._hosts[host] = Endpoint(host, self.breaker.enabled, self._bucket(host))
        return ep

    def _forget_one(self) -> None:
        victim = next(
            (h for h, e in self._hosts.items() if e.waiters == 0 and e.state in (OFF, CLOSED)),
            next(iter(self._hosts)),
        )
        del self._hosts[victim]

    def limit_for(self, host: str) -> float:
        """The host's per_second (0 = none): its "host:port" entry, else its bare host's."""
        rl = self.rate_limit
        if not rl.enabled:
            return 0.0
        if host in rl.hosts:
            return rl.hosts[host]
        bare = host.rpartition(":")[0].strip("[]")
        return rl.hosts.get(bare, rl.per_second)

    def _bucket(self, host: str) -> TokenBucket | None:
        rate = self.limit_for(host)
        return TokenBucket(rate, self.rate_limit.burst, _now()) if rate > 0 else None

    # -- the worker's side ----------------------------------------------------------------
    async def admit(self, host: str) -> int | None:
        """Return when an attempt to `host` may go: the breaker closed (or a probe slot taken
        while half-open: the ticket returned) and a token taken. Cancellable at any point."""
        ep = self.get(host)
        ep.waiters += 1
        try:
            while True:
                ticket = await self._breaker_wait(ep)
                if ep.bucket is None:
                    return ticket
                delay = ep.bucket.take(_now())
                if delay <= 0:
                    return ticket
                self.metrics.rate_limited(host)
                try:
                    await asyncio.sleep(delay)
                except BaseException:
                    self._free_probe(ep, ticket)
                    raise
                if (ep.state in (OFF, CLOSED)) if ticket is None else (ticket == ep.epoch):
                    return ticket
                # The breaker moved while this one waited for its token: ask it again.
        finally:
            ep.waiters -= 1

    async def _breaker_wait(self, ep: Endpoint) -> int | None:
        while True:
            if ep.state in (OFF, CLOSED):
                return None
            if ep.state == OPEN:
                left = ep.open_until - _now()
                if left > 0:
                    await asyncio.sleep(left)
                    continue
                self._move(ep, HALF_OPEN)
            if ep.probing < self.breaker.probes:  # half-open, a probe slot free
                ep.probing += 1
                return ep.epoch
            await ep.changed()

    def release(self, host: str, ticket: int | None) -> None:
        """After an attempt admit() let go, whatever came of it: a probe's slot is freed for
        another (unless its verdict already moved the breaker)."""
        if ticket is not None:
            ep = self._hosts.get(host)
            if ep is not None:
                self._free_probe(ep, ticket)

    def _free_probe(self, ep: Endpoint, ticket: int | None) -> None:
        if ticket is not None and ticket == ep.epoch and ep.state == HALF_OPEN and ep.probing > 0:
            ep.probing -= 1
            ep.wake()

    # -- results ------------------------------------------------------------------------
    def record(
        self, host: str, url: str, status: int | None, retry: bool, error: str, seconds: float
    ) -> bool:
        """One attempt's result (the service's Result: status, retry, error); True when it
        opened the breaker. Never raises."""
        if host == "-":
            return False  # a URL without a host: no endpoint to speak of
        ep = self.get(host)
        ep.attempts += 1
        if status is not None:
            ep.add_latency(seconds * 1000.0)
        if status is not None and 200 <= status < 300:
            ep.successes += 1
        elif error:
            ep.last_error = gourl.scrub(error, url)[:MAX_ERROR]
            ep.last_error_at = time.time()
        if ep.state == OFF:
            return False
        if retry:
            return self._failed(ep)
        if status is not None:
            self._succeeded(ep)
        return False

    def _failed(self, ep: Endpoint) -> bool:
        if ep.state == CLOSED:
            ep.failures += 1
            if ep.failures < self.breaker.failures:
                return False
        elif ep.state != HALF_OPEN:
            return False  # OPEN: an attempt that started before it opened; the cool-off stands
        self._open(ep)
        return True

    def _succeeded(self, ep: Endpoint) -> None:
        if ep.state == CLOSED:
            ep.failures = 0
        elif ep.state == HALF_OPEN:
            ep.probe_successes += 1
            if ep.probe_successes >= self.breaker.probes:
                self._move(ep, CLOSED)

    def _open(self, ep: Endpoint) -> None:
        ep.open_until = _now() + self.breaker.cool_off
        self._move(ep, OPEN)

    def _move(self, ep: Endpoint, to: str) -> None:
        ep.state = to
        ep.failures = 0
        ep.probing = 0
        ep.probe_successes = 0
        ep.epoch += 1
        self.metrics.breaker_transition(ep.host, to)
        ep.wake()

    # -- reading ------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """GET /api/endpoints items, hosts sorted."""
        out = []
        for host in sorted(self._hosts):
            ep = self._hosts[host]
            rate = self.limit_for(host)
            out.append(
                {
                    "host": host,
                    "attempts": ep.attempts,
                    "successes": ep.successes,
                    "success_rate": round(ep.successes / ep.attempts, 4) if ep.attempts else None,
                    "latency_ms": ep.percentiles(),
                    "last_error": ep.last_error,
                    "last_error_at": ep.last_error_at,
                    "breaker": self.state(host),
                    "rate_limit": {"per_second": rate} if rate > 0 else None,
                }
            )
        return out

    def state(self, host: str) -> str:
        """The breaker's state as a reader sees it: an open breaker whose cool-off has ended
        reads half_open (the next attempt is a probe)."""
        ep = self._hosts.get(host)
        if ep is None:
            return CLOSED if self.breaker.enabled else OFF
        if ep.state == OPEN and ep.open_until <= _now():
            return HALF_OPEN
        return ep.state

    def states(self) -> list[tuple[str, str]]:
        """(host, state) of every tracked host, for the state gauge (none when the breaker is off)."""
        if not self.breaker.enabled:
            return []
        return [(h, self.state(h)) for h in list(self._hosts)]


def _now() -> float:
    return time.monotonic()  # asyncio's loop.time() on Unix; usable outside a loop too
