"""Quota-threshold table shared by forked processes, pure-Python twin. This file is the
specification of the shared twins; the compiled twin (shared_thresholds_c.pyx) must behave
the same through this API, which is ThresholdTable's (thresholds_py.py) plus `create`.

Use. `SharedThresholdTable.create(capacity)` maps the table in anonymous shared memory; every
process forked after that uses the same table through its inherited copy of the object.
Within those processes the rule is ThresholdTable's as in one process: each level fires once
per key per period, whichever process evaluates the record that crosses it.

Differences from ThresholdTable:
  - Eviction (a full table): the compiled twin keeps the compiled ThresholdTable's policy
    (one state of the new key's probe neighbourhood goes); this twin keeps the pure one
    (states that carry nothing go, then live ones until capacity/64 are free), but the live
    ones it drops are those whose period ends first, non-renewing ones last (the compiled
    rank; the slots keep no creation order). As today, a dropped live state can re-fire a
    passed level once, never lose a fire.
  - The `now` of load_state's eviction is the latest evaluate/purge `now` of any process.
  - Concurrency: this twin holds a cross-process lock (shared_map.SharedLock) around every
    call. The compiled twin evaluates lock-free (CAS on a slot's state word), and takes its
    gate exclusively for an insert into a full table, forget, load_state and purge.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable, Sequence
from typing import cast

from .shared_map import SharedLock, SlotMap
from .thresholds_py import ThresholdTable

_EMPTY = 0xFFFFFFFF
_LAST_NOW = 32  # header offset


class ThresholdSlots(SlotMap[int, tuple[int, float]]):
    """Slots as the compiled twin's: key hash, period uint32, fired float32; period
    0xFFFFFFFF (every byte 0xFF) = empty. A fired level is a float32 already (f32_up), so it
    is stored exactly."""

    fmt = struct.Struct("<QIf")
    empty = b"\xff" * 16

    def _decode(self, raw: tuple[object, ...]) -> tuple[int, tuple[int, float]] | None:
        key, period, fired = cast("tuple[int, int, float]", raw)
        return None if period == _EMPTY else (key, (period, fired))

    def _encode(self, key: int, value: tuple[int, float]) -> bytes:
        return self.fmt.pack(key, value[0], value[1])

    def _word(self, key: int) -> int:
        return key


class SharedThresholdTable(ThresholdTable):
    """ThresholdTable in shared memory (see the module doc)."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self, capacity: int = 1_000_000) -> None:
        super().__init__(capacity)
        cap = self._capacity
        self._d = cast("dict[int, tuple[int, float]]", ThresholdSlots(cap + cap // 2 + 1, 0xFF))
        self._lock = SharedLock()

    @classmethod
    def create(cls, capacity: int = 1_000_000) -> SharedThresholdTable:
        """A table in a new shared mapping; make it before forking the processes that share it."""
        return cls(capacity)

    @property
    def _last_now(self) -> float:
        d = getattr(self, "_d", None)
        return d.header.f64(_LAST_NOW) if isinstance(d, ThresholdSlots) else 0.0

    @_last_now.setter
    def _last_now(self, value: float) -> None:
        d = getattr(self, "_d", None)
        if isinstance(d, ThresholdSlots):  # else ThresholdTable.__init__: the header holds 0.0
            d.header.set_f64(_LAST_NOW, value)

    def _make_room(self, now: float) -> None:
        # DictTable's batching, but the live states dropped are those whose period ends
        # first, non-renewing ones last (the compiled twins' rank): the slots keep no order.
        self._purge(now)
        d, cap = self._d, self._capacity
        excess = len(d) - (cap - max(1, cap // 64))
        if excess > 0:
            for k, _ in heapq.nsmallest(excess, d.items(), key=lambda kv: kv[1][0] or 1 << 32):
                del d[k]

    def memory_bytes(self) -> int:
        """Bytes of the shared mapping (header and slots)."""
        return cast(ThresholdSlots, self._d).memory_bytes()

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)

    def evaluate(
        self,
        key_hash: int,
        quota_max: int,
        quota_remaining: int,
        quota_renews: int,
        now: float,
        global_limit: float,
        trigger_limits: Iterable[float],
        renewing: bool,
    ) -> tuple[float, float] | None:
        with self._lock:
            return super().evaluate(
                key_hash,
                quota_max,
                quota_remaining,
                quota_renews,
                now,
                global_limit,
                trigger_limits,
                renewing,
            )

    def evaluate_many(
        self,
        key_hashes: Sequence[int],
        quota_max: Sequence[int],
        quota_remaining: Sequence[int],
        quota_renews: Sequence[int],
        now: float,
        global_limit: float,
        trigger_limits: Sequence[float],
        renewing: bool | Sequence[bool] = True,
        limit_offsets: Sequence[int] | None = None,
    ) -> list[tuple[int, float, float]]:
        with self._lock:
            return super().evaluate_many(
                key_hashes,
                quota_max,
                quota_remaining,
                quota_renews,
                now,
                global_limit,
                trigger_limits,
                renewing,
                limit_offsets,
            )

    def forget(self, key_hash: int) -> bool:
        with self._lock:
            return super().forget(key_hash)

    def state(self, key_hash: int) -> tuple[int, float] | None:
        with self._lock:
            return super().state(key_hash)

    def load_state(self, key_hash: int, period: int, fired_level: float) -> None:
        with self._lock:
            super().load_state(key_hash, period, fired_level)

    def purge(self, now: float) -> int:
        with self._lock:
            return super().purge(now)
