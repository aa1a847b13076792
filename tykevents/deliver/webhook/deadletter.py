"""Dead letters: deliveries that failed for good, kept for `tykevents deadletter list|replay`.

Each entry is Delivery.to_record(): the full request (method, URL, Go headers, body in
base64), the handler, the last error and status, the attempts and the time.

- FileDeadLetters: JSON lines in one file (state "memory"). Writers and the CLI take an
  exclusive lock on `<file>.lock`, so a replay can rewrite the file while the daemon appends.
  The file is created 0600: bodies can hold API keys.
- RedisDeadLetters: a Redis stream (state "redis"), shared by every instance; XDEL removes
  replayed entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson

REDIS_KEY = "tykevents:deadletter"


class DeadLetterStore(Protocol):
    async def add(self, records: list[dict[str, Any]]) -> None: ...

    async def list(self) -> list[dict[str, Any]]: ...

    async def remove(self, ids: Iterable[str]) -> int: ...

    async def close(self) -> None: ...


class FileDeadLetters:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

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

    def _read(self) -> list[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
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
                tmp = self.path.with_name(self.path.name + ".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(
                        fd,
                        b"".join(
                            (r["_raw"].encode() if "_raw" in r else orjson.dumps(r)) + b"\n" for r in keep
                        ),
                    )
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            return removed

    async def add(self, records: list[dict[str, Any]]) -> None:
        if records:
            await asyncio.to_thread(self._append, records)

    async def list(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read)

    async def remove(self, ids: Iterable[str]) -> int:
        return await asyncio.to_thread(self._remove, set(ids))

    async def close(self) -> None:
        pass


class RedisDeadLetters:
    def __init__(self, client: Any, key: str = REDIS_KEY) -> None:
        self.client = client
        self.key = key

    async def add(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for r in records:
                pipe.xadd(self.key, {"d": orjson.dumps(r)})
            await pipe.execute()

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

    async def close(self) -> None:
        pass  # the client belongs to the daemon
