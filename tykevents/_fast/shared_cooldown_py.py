"""Cooldown table shared by forked processes, pure-Python twin. This file is the
specification of the shared twins; the compiled twin (shared_cooldown_c.pyx) must behave the
same through this API, which is CooldownTable's (cooldown_py.py) plus `create`.

Use. `SharedCooldownTable.create(capacity)` maps the table in anonymous shared memory; every
process forked after that (os.fork, multiprocessing's fork context) uses the same table
through its inherited copy of the object. Made after a fork, or sent to a spawned process,
it is not shared. Within the shared processes a cooldown behaves as in one process: of
concurrent acquire() calls for one digest within its ttl exactly one returns True.

The rules are CooldownTable's, with these differences:
  - Time: the time base is shared and set by the first call of any process; the callers
    must pass the same clock (the daemon: time.monotonic, which is CLOCK_MONOTONIC, one
    clock for the whole machine). The rare rebase (about every 4 years) runs with the table
    locked, so no process sees half of it.
  - Eviction (a full table): the compiled twin keeps the compiled CooldownTable's policy
    (one entry of the new key's probe neighbourhood goes: the first expired one, else the
    one expiring soonest); this twin keeps the pure one (every expired entry goes, then live
    ones until capacity/64 slots are free), but the live ones it drops are those expiring
    soonest, not the oldest armed (the slots keep no order; with equal ttls they are the
    same). As today, an evicted live key can cause one duplicate webhook, never a lost one.
  - Concurrency: this twin holds a cross-process lock (shared_map.SharedLock) around every
    call. The compiled twin is lock-free for acquire/contains (CAS on the slot), and takes
    its gate exclusively for release, purge, eviction and rebase; a purge waits for calls in
    flight, never corrupts them. A process killed inside a call releases the lock (kernel
    record lock; the compiled gate clears a dead process's flag).
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Sequence
from typing import cast

from .cooldown_py import KEY_BYTES, CooldownTable
from .shared_map import SharedLock, SlotMap


class CooldownSlots(SlotMap[bytes, int]):
    """Slots as the compiled twin's: 96-bit key, 32-bit expiry tick, expiry 0 = empty."""

    fmt = struct.Struct("<12sI")
    empty = bytes(16)

    def _decode(self, raw: tuple[object, ...]) -> tuple[bytes, int] | None:
        key, exp = cast("tuple[bytes, int]", raw)
        return None if exp == 0 else (key, exp)

    def _encode(self, key: bytes, value: int) -> bytes:
        return self.fmt.pack(key, value)

    def _word(self, key: bytes) -> int:
        return int.from_bytes(key[:8], "little")


_BASE, _HAS_BASE = 16, 24  # header offsets


class SharedCooldownTable(CooldownTable):
    """CooldownTable in shared memory (see the module doc)."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self, capacity: int = 1_000_000) -> None:
        super().__init__(capacity)
        cap = self._capacity
        self._d = cast("dict[bytes, int]", CooldownSlots(cap + cap // 2 + 1, 0))
        self._lock = SharedLock()

    @classmethod
    def create(cls, capacity: int = 1_000_000) -> SharedCooldownTable:
        """A table in a new shared mapping; make it before forking the processes that share it."""
        return cls(capacity)

    @property
    def _slots(self) -> CooldownSlots:
        return cast(CooldownSlots, self._d)

    @property
    def _base(self) -> float | None:
        d = getattr(self, "_d", None)
        if not isinstance(d, CooldownSlots):
            return None
        return d.header.f64(_BASE) if d.header.u64(_HAS_BASE) else None

    @_base.setter
    def _base(self, value: float | None) -> None:
        d = getattr(self, "_d", None)
        if not isinstance(d, CooldownSlots):
            return  # CooldownTable.__init__, before the slots exist: nothing stored yet
        if value is None:
            d.header.set_u64(_HAS_BASE, 0)
        else:
            d.header.set_f64(_BASE, value)
            d.header.set_u64(_HAS_BASE, 1)

    def _rebase(self, delta: int) -> float:
        d = self._d
        for k, e in list(d.items()):
            d[k] = e - delta if e > delta else 1
        base = self._base
        assert base is not None
        base = self._base = base + delta / 16.0
        return base

    def _make_room(self, now: float) -> None:
        # DictTable's batching, but the live entries dropped are the soonest expiring: the
        # slots keep no arming order (for equal ttls, the same entries).
        self._purge(now)
        d, cap = self._d, self._capacity
        excess = len(d) - (cap - max(1, cap // 64))
        if excess > 0:
            for k, _ in heapq.nsmallest(excess, d.items(), key=lambda kv: kv[1]):
                del d[k]

    def memory_bytes(self) -> int:
        """Bytes of the shared mapping (header and slots)."""
        return self._slots.memory_bytes()

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)

    def acquire(self, digest: bytes, now: float, ttl: float) -> bool:
        with self._lock:
            return super().acquire(digest, now, ttl)

    def acquire_many(
        self, digests: bytes | bytearray | memoryview, now: float, ttls: float | Sequence[float]
    ) -> bytes:
        with self._lock:
            return super().acquire_many(digests, now, ttls)

    def contains(self, digest: bytes, now: float) -> bool:
        with self._lock:
            return super().contains(digest, now)

    def release(self, digest: bytes) -> bool:
        with self._lock:
            return super().release(digest)

    def purge(self, now: float) -> int:
        with self._lock:
            return super().purge(now)


__all__ = ["KEY_BYTES", "SharedCooldownTable"]
