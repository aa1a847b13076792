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

import struct
from typing import cast

from .shared_map import SharedLock, SharedTable, SlotMap, locked
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


class SharedThresholdTable(SharedTable[int, tuple[int, float]], ThresholdTable):
    """ThresholdTable in shared memory (see the module doc)."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self, capacity: int = 1_000_000) -> None:
        super().__init__(capacity)
        cap = self._capacity
        self._d = cast("dict[int, tuple[int, float]]", ThresholdSlots(cap + cap // 2 + 1, 0xFF))
        self._lock = SharedLock()

    @property
    def _last_now(self) -> float:
        d = getattr(self, "_d", None)
        return d.header.f64(_LAST_NOW) if isinstance(d, ThresholdSlots) else 0.0

    @_last_now.setter
    def _last_now(self, value: float) -> None:
        d = getattr(self, "_d", None)
        if isinstance(d, ThresholdSlots):  # else ThresholdTable.__init__: the header holds 0.0
            d.header.set_f64(_LAST_NOW, value)

    @staticmethod
    def _rank(value: tuple[int, float]) -> int:
        return value[0] or 1 << 32  # the period that ends first; non-renewing ones last

    evaluate = locked(ThresholdTable.evaluate)
    evaluate_many = locked(ThresholdTable.evaluate_many)
    forget = locked(ThresholdTable.forget)
    state = locked(ThresholdTable.state)
    load_state = locked(ThresholdTable.load_state)
    purge = locked(ThresholdTable.purge)
