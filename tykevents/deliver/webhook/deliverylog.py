"""The delivery log: what happened to each webhook delivery, attempt by attempt, for the admin
API's /api/deliveries (docs/webhooks.md#delivery-log).

An entry is one attempt (or outcome: dropped, abandoned) of one delivery, named by the
delivery's `log_id`; a delivery's current state is its newest entry. Both logs keep the last
`max_entries` entries, none older than `max_age` seconds:
- MemoryDeliveryLog: this process's, a ring of entries with an index by id.
- RedisDeliveryLog: one log for every instance: the stream `{tykevents:deliveries}:log`
  (MAXLEN ~, MINID ~ by age) and a list per delivery (`{tykevents:deliveries}:<id>`,
  expiring after max_age) for get(). One hash tag: every key in one Redis Cluster slot.
record_attempt() is on the delivery path: synchronous, a few dict operations, never raises.
The Redis log writes from a background task, a batch per call (a Lua script); while Redis is down,
entries wait in a bounded buffer, and what does not fit is dropped and counted (`dropped`).

Secrets: the URL is kept with its password replaced by `***` (the admin API redacts query
values); error texts are scrubbed of the URL's password, query and fragment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import ResponseError

from tykevents.config import DeliveryLogSettings
from tykevents.deliver.webhook.delivery import Delivery, new_log_id
from tykevents.deliver.webhook.request import RequestPlan, header_from_items
from tykevents.golang import url as gourl
from tykevents.runtime.ratelog import RateLimitedLog

logger = logging.getLogger("tykevents.deliver.webhook")
_ratelog = RateLimitedLog(logger)

OUTCOMES = frozenset(
    {"delivered", "failed", "retrying", "dead_lettered", "dropped", "suppressed", "abandoned", "breaker_open"}
)
KEY_PREFIX = "{tykevents:deliveries}"  # the hash tag keeps every key in one Cluster slot
STREAM_KEY = KEY_PREFIX + ":log"
BUFFER = 65536  # Redis log: entries waiting to be written, at most
BATCH = 512  # entries per pipeline
# A write waits this long for more entries unless a batch is full: at a few hundred
# deliveries a second one command each cost more CPU than the deliveries (off the delivery path).
LINGER = 0.01
ATTEMPTS_KEPT = 1000  # per delivery in Redis (a delivery replayed again and again)
SCAN = 500  # stream entries per XREVRANGE when querying

# One call per batch instead of four commands per entry (the client's encoding is most of the
# cost). KEYS: the stream, then each entry's list (one slot: the hash tag); ARGV: MAXLEN, TTL,
# attempts kept per list, MINID, then the entries.
WRITE_SCRIPT = """
local kept = tonumber(ARGV[3])
for i = 2, #KEYS do
  local raw = ARGV[i + 3]
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', raw)
  if redis.call('RPUSH', KEYS[i], raw) > kept then
    redis.call('LTRIM', KEYS[i], -kept, -1)
  end
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[4])
return #KEYS - 1
"""

_URLS: dict[str, str] = {}


def safe_url(url: str) -> str:
    """`url` with its password replaced by `***` (cached: deliveries of a handler share it)."""
    safe = _URLS.get(url)
    if safe is None:
        cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
        safe = gourl.redact(url[:cut]) + url[cut:]
        if len(_URLS) >= 4096:
            _URLS.clear()
        _URLS[url] = safe
    return safe


def _entry(
    d: Delivery, n: int, status: int | None, latency_ms: float, error: str, outcome: str
) -> dict[str, Any]:
    if d.log_id is None:
        d.log_id = new_log_id()
    return {
        "id": d.log_id,
        "api_id": d.api_id,
        "handler": d.handler,
        "event": d.event,
        "host": d.host,
        "url": safe_url(d.plan.url),
        "created": d.created,
        "n": n,
        "time": time.time(),
        "status": status,
        "latency_ms": round(latency_ms, 3),
        "error": gourl.scrub(error, d.plan.url) if error else "",
        "outcome": outcome,
    }


def _item(e: dict[str, Any]) -> dict[str, Any]:
    """A delivery as /api/deliveries lists it, from its newest entry."""
    return {
        "id": e["id"],
        "api_id": e["api_id"],
        "handler": e["handler"],
        "event": e["event"],
        "host": e["host"],
        "url": e["url"],
        "outcome": e["outcome"],
        "status": e["status"],
        "attempts": e["n"],
        "created": e["created"],
        "last_attempt": e["time"],
        "latency_ms": e["latency_ms"],
        "error": e["error"],
    }


def _attempt(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[k] for k in ("n", "time", "status", "latency_ms", "error", "outcome")}


def _detail(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {**_item(entries[-1]), "attempts": [_attempt(e) for e in entries]}


def letter_view(rec: dict[str, Any]) -> dict[str, Any]:
    """A dead-letter record (Delivery.to_record) as /api/deadletters lists it; DeliveryFilter
    matches it. `id` is the store's id; `log_id` joins it to the delivery log."""
    url = str(rec.get("url") or "")
    try:
        host = RequestPlan(str(rec.get("method") or "POST"), url, header_from_items([])).host_key
    except Exception:  # a damaged record costs only itself
        host = "-"
    error = str(rec.get("error") or "")
    return {
        "id": str(rec.get("id") or ""),
        "log_id": rec.get("log_id"),
        "api_id": rec.get("api_id") or "",
        "handler": rec.get("handler") or "",
        "event": rec.get("event") or "",
        "host": host,
        "url": safe_url(url),
        "outcome": "dead_lettered",
        "status": rec.get("status"),
        "attempts": rec.get("attempts") or 0,
        "error": gourl.scrub(error, url) if error else "",
        "created": rec.get("created") or rec.get("time"),
    }


def _time(value: Any, name: str) -> float:
    """RFC 3339 (a time without an offset is UTC) or unix seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: not a time")
    if isinstance(value, (int, float)):
        t = float(value)
    elif isinstance(value, str):
        try:
            t = float(value)
        except ValueError:
            try:
                dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
            except ValueError:
                raise ValueError(f"{name}: {value!r} is neither RFC 3339 nor unix seconds") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            t = dt.timestamp()
    else:
        raise ValueError(f"{name}: not a time")
    if not math.isfinite(t):
        raise ValueError(f"{name}: not a time")
    return t


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries (or dead letters) a query, replay or purge concerns; None = any.
    `host` matches "host:port" or the bare host; since/until bound the creation time."""

    api: str | None = None
    handler: str | None = None
    event: str | None = None
    host: str | None = None
    outcome: str | None = None
    status: int | None = None
    since: float | None = None
    until: float | None = None

    IGNORED = frozenset({"limit", "reveal"})  # query parameters that are not filters

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> DeliveryFilter:
        """From query parameters or a JSON object; ValueError names the bad key. Unknown keys
        are errors: a misspelled filter must not widen a purge to everything."""
        names = {f.name for f in fields(cls)}
        out: dict[str, Any] = {}
        for key, value in query.items():
            if key in cls.IGNORED:
                continue
            if key not in names:
                raise ValueError(f"unknown filter {key!r}")
            if value is None or value == "":
                continue
            if key in ("since", "until"):
                out[key] = _time(value, key)
            elif key == "status":
                if isinstance(value, bool) or not isinstance(value, (int, str)):
                    raise ValueError("status: not an HTTP status")
                try:
                    status = int(value)
                except ValueError:
                    raise ValueError(f"status: {value!r} is not an HTTP status") from None
                if not 100 <= status <= 999:
                    raise ValueError(f"status: {value!r} is not an HTTP status")
                out[key] = status
            elif not isinstance(value, str):
                raise ValueError(f"{key}: not a string")
            elif key == "outcome" and value not in OUTCOMES:
                raise ValueError(f"outcome: {value!r} is not one of {', '.join(sorted(OUTCOMES))}")
            else:
                out[key] = value
        return cls(**out)

    def match(self, rec: Mapping[str, Any]) -> bool:
        if self.api is not None and rec.get("api_id") != self.api:
            return False
        if self.handler is not None and rec.get("handler") != self.handler:
            return False
        if self.event is not None and rec.get("event") != self.event:
            return False
        if self.outcome is not None and rec.get("outcome") != self.outcome:
            return False
        if self.status is not None and rec.get("status") != self.status:
            return False
        if self.host is not None:
            host = str(rec.get("host") or "")
            if self.host != host and self.host != host.rpartition(":")[0].strip("[]"):
                return False
        if self.since is not None or self.until is not None:
            created = rec.get("created")
            if not isinstance(created, (int, float)):
                return False
            if self.since is not None and created < self.since:
                return False
            if self.until is not None and created > self.until:
                return False
        return True


class MemoryDeliveryLog:
    def __init__(self, max_entries: int = 10000, max_age: float = 86400.0) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._ring: deque[dict[str, Any]] = deque()  # every entry, oldest first
        self._index: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()  # least recent first
        self.errors = 0

    def record_attempt(
        self, d: Delivery, n: int, status: int | None, latency_ms: float, error: str, outcome: str
    ) -> None:
        try:
            e = _entry(d, n, status, latency_ms, error, outcome)
            lid = e["id"]
            entries = self._index.get(lid)
            if entries is None:
                self._index[lid] = [e]
            else:
                self._index.move_to_end(lid)
                entries.append(e)
            ring = self._ring
            ring.append(e)
            if len(ring) > self.max_entries or ring[0]["time"] < e["time"] - self.max_age:
                self._evict(e["time"])
        except Exception as exc:  # the log must never cost a delivery
            self.errors += 1
            logger.debug("delivery log: entry not recorded", exc_info=exc)

    def _evict(self, now: float) -> None:
        """Drop entries over the count or past the age. The oldest entry of the ring is the
        oldest of its delivery too."""
        ring, cutoff = self._ring, now - self.max_age
        while ring and (len(ring) > self.max_entries or ring[0]["time"] < cutoff):
            lid = ring.popleft()["id"]
            entries = self._index[lid]
            if len(entries) == 1:
                del self._index[lid]
            else:
                del entries[0]

    def __len__(self) -> int:
        return len(self._ring)

    async def query(self, f: DeliveryFilter, limit: int = 100) -> list[dict[str, Any]]:
        self._evict(time.time())
        out: list[dict[str, Any]] = []
        if limit <= 0:
            return out
        for entries in reversed(self._index.values()):
            if f.match(entries[-1]):
                out.append(_item(entries[-1]))
                if len(out) >= limit:
                    break
        return out

    async def get(self, id: str) -> dict[str, Any] | None:
        self._evict(time.time())
        entries = self._index.get(id)
        return _detail(entries) if entries else None

    async def flush(self, timeout: float = 5.0) -> bool:
        return True

    async def close(self) -> None:
        pass


class RedisDeliveryLog:
    def __init__(
        self, client: Any, max_entries: int = 10000, max_age: float = 86400.0, buffer: int = BUFFER
    ) -> None:
        self.client = client
        self.max_entries = max_entries
        self.max_age = max_age
        self.buffer = buffer
        self._script = client.register_script(WRITE_SCRIPT)
        self._buf: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self.written = 0
        self.dropped = 0  # entries that did not fit in the buffer (Redis down or too slow)
        self.errors = 0
        self.failing = ""  # why the last write failed ("" = it did not)

    def record_attempt(
        self, d: Delivery, n: int, status: int | None, latency_ms: float, error: str, outcome: str
    ) -> None:
        try:
            if len(self._buf) >= self.buffer:
                self.dropped += 1
                return
            self._buf.append(_entry(d, n, status, latency_ms, error, outcome))
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._run())
            self._wake.set()
        except Exception as exc:
            self.errors += 1
            logger.debug("delivery log: entry not recorded", exc_info=exc)

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buf:
                if len(self._buf) < BATCH:  # before each write: those made during the last join
                    await asyncio.sleep(LINGER)
                batch = [self._buf.popleft() for _ in range(min(BATCH, len(self._buf)))]
                self._writing = True
                try:
                    await self._write(batch)
                except Exception as e:
                    if isinstance(e, ResponseError):  # Redis refused it: trying again would not help
                        self.dropped += len(batch)
                    else:
                        self._requeue(batch)
                    failures += 1
                    self.failing = f"{type(e).__name__}: {e}"
                    _ratelog.log(
                        logging.WARNING,
                        "deliverylog",
                        "delivery log: Redis write failed (%d entries waiting, %d dropped): %s",
                        len(self._buf),
                        self.dropped,
                        self.failing,
                    )
                    await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                    continue
                finally:
                    self._writing = False
                failures = 0
                self.failing = ""
                self.written += len(batch)

    def _requeue(self, batch: list[dict[str, Any]]) -> None:
        """Put a failed batch back in front; past the bound the newest entries go."""
        self._buf.extendleft(reversed(batch))
        while len(self._buf) > self.buffer:
            self._buf.pop()
            self.dropped += 1

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        keys = [STREAM_KEY, *(f"{KEY_PREFIX}:{e['id']}" for e in batch)]
        args: list[Any] = [
            self.max_entries,
            max(1, math.ceil(self.max_age)),
            min(self.max_entries, ATTEMPTS_KEPT),
            f"{max(0, int((time.time() - self.max_age) * 1000))}-0",
        ]
        args += [orjson.dumps(e) for e in batch]
        await self._script(keys=keys, args=args)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was recorded is written (tests, shutdown); False on timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._buf or self._writing:
                    await asyncio.sleep(0.005)
                return True
        return False

    async def close(self) -> None:
        await self.flush(2.0)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @staticmethod
    def _decode(raw: Any) -> dict[str, Any] | None:
        try:
            e = orjson.loads(raw)
            return e if isinstance(e, dict) and isinstance(e.get("id"), str) else None
        except orjson.JSONDecodeError:
            return None

    async def query(self, f: DeliveryFilter, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: the stream read backwards; a delivery's first entry met is its newest.
        Only the newest max_entries entries count (MAXLEN ~ trims approximately)."""
        out: list[dict[str, Any]] = []
        if limit <= 0:
            return out
        seen: set[str] = set()
        cutoff = time.time() - self.max_age
        end: Any = "+"
        left = self.max_entries
        while len(out) < limit and left > 0:
            chunk = await self.client.xrevrange(STREAM_KEY, max=end, min="-", count=min(SCAN, left))
            if not chunk:
                break
            left -= len(chunk)
            for _sid, data in chunk:
                e = self._decode(data.get(b"d", data.get("d")))
                if e is None or e["id"] in seen:
                    continue
                seen.add(e["id"])
                if not isinstance(e.get("time"), (int, float)) or e["time"] < cutoff:
                    continue  # MINID trims approximately
                if f.match(e):
                    out.append(_item(e))
                    if len(out) >= limit:
                        break
            last = chunk[-1][0]
            end = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return out

    async def get(self, id: str) -> dict[str, Any] | None:
        if not id or len(id) > 64:
            return None
        cutoff = time.time() - self.max_age
        entries = []
        for raw in await self.client.lrange(f"{KEY_PREFIX}:{id}", 0, -1):
            e = self._decode(raw)
            if e is not None and isinstance(e.get("time"), (int, float)) and e["time"] >= cutoff:
                entries.append(e)
        try:
            return _detail(entries) if entries else None
        except KeyError:  # not an entry we wrote
            return None


DeliveryLog = MemoryDeliveryLog | RedisDeliveryLog


def make_log(settings: DeliveryLogSettings, redis: Any = None) -> DeliveryLog | None:
    """The service's log: shared in Redis with `state: "redis"`, else in memory; None when off."""
    if not settings.enabled:
        return None
    if redis is not None:
        return RedisDeliveryLog(redis, settings.max_entries, settings.max_age)
    return MemoryDeliveryLog(settings.max_entries, settings.max_age)
