"""Dead letters: deliveries that failed for good, kept for `tykevents deadletter list|replay`.

Each entry is Delivery.to_record(): the full request (method, URL, Go headers, body in
base64), the handler, the last error and status, the attempts and the time.

- FileDeadLetters: JSON lines in one file (state "memory"). Writers and the CLI take an
  exclusive lock on `<file>.lock`, so a replay can rewrite the file while the daemon appends.
  The file is created 0600: bodies can hold API keys.
- RedisDeadLetters: a Redis stream (state "redis"), shared by every instance; XDEL removes
  replayed entries.
- DeadLetterKeeper: how the daemon writes them without dropping one: the configured store,
  else the fallback file (`webhooks.dead_letter_fallback`), else kept in memory and retried.
  Only at shutdown can some be lost, and then `lost` says how many (the daemon exits 1).
- DeadLetterSet: the configured store and the fallback file as one, for the CLI.

Retention: given `max_entries` and `max_age` (the daemon passes `webhooks.log`'s), a store keeps
the newest `max_entries` dead letters, none older than `max_age` seconds: the Redis stream with
XADD MAXLEN ~ and XTRIM MINID ~, the file compacted (rewritten) at start, every minute when
something expired, and when it grows past the bound (docs/webhooks.md#delivery-log).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson

from tykevents.config import WebhookSettings
from tykevents.runtime.ratelog import RateLimitedLog

logger = logging.getLogger("tykevents.deliver.webhook")
_ratelog = RateLimitedLog(logger)

REDIS_KEY = "tykevents:deadletter"
FALLBACK_NAME = "dead-letter.fallback.jsonl"
RETRIES_AT_STOP = 3  # writes tried at shutdown before what is left counts as lost


def dead_letter_file(settings: WebhookSettings, state_dir: str | os.PathLike[str]) -> Path:
    """The dead-letter file of state "memory": dead_letter_path, relative to the state
    directory (Config.state_path: $STATE_DIRECTORY under systemd, else tyk.conf's directory)."""
    p = Path(settings.dead_letter_path)
    return p if p.is_absolute() else Path(state_dir) / p


def fallback_file(settings: WebhookSettings, state_dir: str | os.PathLike[str]) -> Path:
    """Where dead letters go when the configured store fails: dead_letter_fallback, else
    var/dead-letter.fallback.jsonl, relative to the state directory."""
    p = Path(settings.dead_letter_fallback or f"var/{FALLBACK_NAME}")
    return p if p.is_absolute() else Path(state_dir) / p


class DeadLetterStore(Protocol):
    async def add(self, records: list[dict[str, Any]]) -> None: ...

    async def list(self) -> list[dict[str, Any]]: ...

    async def remove(self, ids: Iterable[str]) -> int: ...

    async def count(self) -> int: ...

    async def close(self) -> None: ...


def _expired_before(max_age: float | None) -> float:
    return time.time() - max_age if max_age is not None else -math.inf


class FileDeadLetters:
    def __init__(
        self, path: str | os.PathLike[str], max_entries: int | None = None, max_age: float | None = None
    ) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self.max_entries = max_entries
        self.max_age = max_age
        self._lines: int | None = None  # entries in the file as of the last compaction or write
        self._expires = -math.inf  # when its oldest entry passes max_age (-inf: not known yet)
        self.expired = 0  # removed by the retention bounds (counted: a dead letter is never dropped unsaid)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _append(self, records: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        with self._locked():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if self.max_entries is None and self.max_age is None:
                return
            if self._lines is not None:
                self._lines += len(records)
            # Past the bound by a tenth (not rewritten on every append), or something expired.
            slack = max(10, (self.max_entries or 0) // 10)
            if (
                self._lines is None
                or (self.max_entries is not None and self._lines > self.max_entries + slack)
                or time.time() >= self._expires
            ):
                self._compact()

    def _compact(self) -> int:
        """Keep the newest max_entries entries younger than max_age (lock held); how many went.
        Unreadable lines have no time: only the count bound removes them."""
        recs = self._read()
        cutoff = _expired_before(self.max_age)
        keep = [r for r in recs if not isinstance(r.get("time"), (int, float)) or r["time"] >= cutoff]
        if self.max_entries is not None:
            keep = keep[-self.max_entries :] if self.max_entries > 0 else []
        if len(keep) < len(recs):
            self._rewrite(keep)
            self.expired += len(recs) - len(keep)
        self._lines = len(keep)
        times = [r["time"] for r in keep if isinstance(r.get("time"), (int, float))]
        # Checked again once the oldest expires, plus a little: not a rewrite per append.
        self._expires = (
            min(times) + self.max_age + max(1.0, self.max_age / 20)
            if times and self.max_age is not None
            else math.inf
        )
        return len(recs) - len(keep)

    def _trim(self) -> int:
        if self.max_entries is None and self.max_age is None:
            return 0
        with self._locked():
            return self._compact()

    async def trim(self) -> int:
        """Apply the retention bounds now (at start, then every minute: DeadLetterKeeper)."""
        if time.time() < self._expires and self._lines is not None:
            if self.max_entries is None or self._lines <= self.max_entries:
                return 0
        if not self.path.exists():  # nothing written yet (or cannot be: the keeper reports that)
            return 0
        return await asyncio.to_thread(self._trim)

    def _rewrite(self, keep: list[dict[str, Any]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(
                fd,
                b"".join((r["_raw"].encode() if "_raw" in r else orjson.dumps(r)) + b"\n" for r in keep),
            )
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def _read(self) -> list[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # nothing could be written there
            return []
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                # A torn line (crash mid-write) must not hide the others.
                rec = {
                    "id": f"line-{n}",
                    "error": "unreadable dead-letter line",
                    "_raw": line.decode("utf-8", "replace"),
                }
            out.append(rec)
        return out

    def _remove(self, ids: set[str]) -> int:
        with self._locked():
            recs = self._read()
            keep = [r for r in recs if r.get("id") not in ids]
            removed = len(recs) - len(keep)
            if removed:
                self._rewrite(keep)
            if self._lines is not None:
                self._lines = len(keep)
            return removed

    async def add(self, records: list[dict[str, Any]]) -> None:
        if records:
            await asyncio.to_thread(self._append, records)

    async def list(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read)

    async def remove(self, ids: Iterable[str]) -> int:
        return await asyncio.to_thread(self._remove, set(ids))

    def _count(self) -> int:
        try:
            with open(self.path, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except (FileNotFoundError, NotADirectoryError):
            return 0

    async def count(self) -> int:
        return await asyncio.to_thread(self._count)

    async def close(self) -> None:
        pass


class RedisDeadLetters:
    def __init__(
        self, client: Any, key: str = REDIS_KEY, max_entries: int | None = None, max_age: float | None = None
    ) -> None:
        self.client = client
        self.key = key
        self.max_entries = max_entries
        self.max_age = max_age
        self.expired = 0  # removed by the retention bounds

    def _min_id(self) -> str:
        return f"{max(0, int(_expired_before(self.max_age) * 1000))}-0"

    async def add(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for r in records:
                pipe.xadd(self.key, {"d": orjson.dumps(r)})
            # Trimmed apart from XADD, so that what the bounds remove is counted.
            if self.max_entries is not None:
                pipe.xtrim(self.key, maxlen=self.max_entries, approximate=True)
            if self.max_age is not None:
                pipe.xtrim(self.key, minid=self._min_id(), approximate=True)
            res = await pipe.execute()
        self.expired += sum(int(n) for n in res[len(records) :])

    async def trim(self) -> int:
        """Apply the retention bounds now (the stream ids are the times the entries were added)."""
        removed = 0
        if self.max_age is not None:
            removed += int(await self.client.xtrim(self.key, minid=self._min_id(), approximate=True))
        if self.max_entries is not None:
            removed += int(await self.client.xtrim(self.key, maxlen=self.max_entries, approximate=True))
        self.expired += removed
        return removed

    async def list(self) -> list[dict[str, Any]]:
        out = []
        for sid, fields in await self.client.xrange(self.key, "-", "+"):
            rec = orjson.loads(fields[b"d"] if b"d" in fields else fields["d"])
            rec["id"] = sid.decode() if isinstance(sid, bytes) else sid  # the stream id
            out.append(rec)
        return out

    async def remove(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        return int(await self.client.xdel(self.key, *ids)) if ids else 0

    async def count(self) -> int:
        return int(await self.client.xlen(self.key))

    async def close(self) -> None:
        pass  # the client belongs to the daemon


class DeadLetterKeeper:
    """Writes dead letters, batched, and never drops one while the process runs: the
    configured store first; when it fails, the fallback file (logged, counted in
    `fallbacks`); when that fails too, they wait in memory (`waiting`) and are retried.
    At shutdown, finish() tries RETRIES_AT_STOP more times and counts the rest in `lost`.
    `on_change` is called whenever waiting ones were stored (or given up): the service
    counts them against its pending limit."""

    def __init__(
        self,
        primary: DeadLetterStore,
        fallback: DeadLetterStore | None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.on_change = on_change
        self.waiting: list[dict[str, Any]] = []
        self.fallbacks = 0  # dead letters written to the fallback file
        self.lost = 0  # given up at shutdown: the daemon exits 1
        self.failing = ""  # why the last write failed everywhere ("" = it did not)
        self.stored = {"primary": 0, "fallback": 0}  # entries in each store (recounted now and then)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    def add(self, record: dict[str, Any]) -> None:
        self.waiting.append(record)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def recount(self) -> None:
        """Apply each store's retention bounds, then count its entries (the CLI's replays
        remove some)."""
        for name, store in (("primary", self.primary), ("fallback", self.fallback)):
            if store is not None:
                with contextlib.suppress(Exception):  # a failing store keeps its last count
                    before = getattr(store, "expired", 0)
                    trim = getattr(store, "trim", None)
                    if trim is not None:
                        await trim()
                    gone = getattr(store, "expired", 0) - before
                    if gone:
                        logger.warning(
                            "%d dead letters past retention removed from the %s store "
                            "(webhooks.log max_entries, max_age; tykevents_webhook_dead_letters_expired)",
                            gone,
                            name,
                        )
                    self.stored[name] = await store.count()

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let a burst collect into one write
        failures = 0
        while self.waiting:
            batch, self.waiting = self.waiting, []
            if await self._write(batch):
                failures = 0
                self.on_change()
                continue
            self.waiting[:0] = batch
            failures += 1
            if self._stopping and failures >= RETRIES_AT_STOP:
                self.lost += len(self.waiting)
                logger.error(
                    "webhooks: %d dead letters could not be stored (%s) and are lost",
                    len(self.waiting),
                    self.failing,
                )
                self.waiting.clear()
                self.on_change()
                return
            if self._stopping:
                await asyncio.sleep(0.2)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # finish() cuts the wait short
                await asyncio.wait_for(self._wake.wait(), min(5.0, 0.2 * 2**failures))

    async def _write(self, batch: list[dict[str, Any]]) -> bool:
        try:
            await self.primary.add(batch)
            self.stored["primary"] += len(batch)
            self.failing = ""
            return True
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
        if self.fallback is None:
            self.failing = why
            _ratelog.log(
                logging.ERROR,
                "deadletter",
                "dead-letter store failed (%d waiting in memory, retrying): %s",
                len(batch),
                why,
            )
            return False
        try:
            await self.fallback.add(batch)
        except Exception as e:
            self.failing = f"{why}; fallback: {type(e).__name__}: {e}"
            _ratelog.log(
                logging.ERROR,
                "deadletter",
                "dead-letter store and its fallback %s failed (%d waiting in memory, retrying): %s",
                getattr(self.fallback, "path", "?"),
                len(batch),
                self.failing,
            )
            return False
        self.fallbacks += len(batch)
        self.stored["fallback"] += len(batch)
        self.failing = ""
        _ratelog.log(
            logging.WARNING,
            "deadletter-fallback",
            "dead-letter store failed (%s): %d dead letters written to the fallback %s "
            "(tykevents deadletter list shows both)",
            why,
            len(batch),
            getattr(self.fallback, "path", "?"),
        )
        return True

    async def finish(self) -> int:
        """Shutdown: store what waits, a few tries at most. Returns how many were lost in all."""
        self._stopping = True
        self._wake.set()
        if self._task is not None and not self._task.done():
            await self._task
        if self.waiting:
            await self._flush()
        return self.lost


class DeadLetterSet:
    """Several stores seen as one (the configured store, then the fallback file): `list`
    shows them all, `remove` takes each id from the store that listed it."""

    def __init__(self, stores: list[DeadLetterStore]) -> None:
        self.stores = stores
        self._where: dict[str, DeadLetterStore] = {}

    async def add(self, records: list[dict[str, Any]]) -> None:
        await self.stores[0].add(records)

    async def list(self) -> list[dict[str, Any]]:
        out = []
        for store in self.stores:
            for rec in await store.list():
                self._where[str(rec.get("id"))] = store
                out.append(rec)
        return out

    async def remove(self, ids: Iterable[str]) -> int:
        by_store: dict[int, list[str]] = {}
        for i in ids:
            store = self._where.get(i)
            for n, s in enumerate(self.stores):
                if store is None or s is store:
                    by_store.setdefault(n, []).append(i)
        return sum([await self.stores[n].remove(chosen) for n, chosen in by_store.items()])

    async def count(self) -> int:
        return sum([await s.count() for s in self.stores])

    async def close(self) -> None:
        for s in self.stores:
            await s.close()
