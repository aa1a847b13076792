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

import struct
from typing import cast

from .cooldown_py import KEY_BYTES, CooldownTable
from .shared_map import SharedLock, SharedTable, SlotMap, locked


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


class SharedCooldownTable(SharedTable[bytes, int], CooldownTable):
    """CooldownTable in shared memory (see the module doc)."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self, capacity: int = 1_000_000) -> None:
        super().__init__(capacity)
        cap = self._capacity
        self._d = cast("dict[bytes, int]", CooldownSlots(cap + cap // 2 + 1, 0))
        self._lock = SharedLock()

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

    @staticmethod
    def _rank(value: int) -> int:
        return value  # the soonest expiring (for equal ttls, the oldest armed)

    acquire = locked(CooldownTable.acquire)
    acquire_many = locked(CooldownTable.acquire_many)
    contains = locked(CooldownTable.contains)
    release = locked(CooldownTable.release)
    purge = locked(CooldownTable.purge)


__all__ = ["KEY_BYTES", "SharedCooldownTable"]
