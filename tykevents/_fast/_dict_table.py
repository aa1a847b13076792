"""The table both pure twins are built on: a dict bounded by `capacity` entries.

A table's entries are live or dead (the twin says which: `_dead_keys`). When a new key must
be stored in a full table, every dead entry goes; if that frees less than capacity/64 slots,
the oldest-inserted live entries go too (dicts keep insertion order) until capacity/64 are
free, so that a full table is not cleaned on every insert and batches keep the O(n) purge
amortised. The compiled twins evict one entry near the new key instead (_slot_table.pxi).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from . import _args

K = TypeVar("K")
V = TypeVar("V")


class DictTable(Generic[K, V]):
    __slots__ = ("_d", "_capacity")

    def __init__(self, capacity: int) -> None:
        self._capacity = _args.capacity(capacity)
        self._d: dict[K, V] = {}

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._d)

    def _dead_keys(self, now: float) -> list[K]:
        """The keys of the entries that carry nothing at `now` (in the twin's time unit)."""
        raise NotImplementedError

    def _purge(self, now: float) -> int:
        d = self._d
        dead = self._dead_keys(now)
        for k in dead:
            del d[k]
        return len(dead)

    def _make_room(self, now: float) -> None:
        self._purge(now)
        d = self._d
        capacity = self._capacity
        excess = len(d) - (capacity - max(1, capacity // 64))
        if excess > 0:
            for k in [k for k, _ in zip(d, range(excess), strict=False)]:
                del d[k]
