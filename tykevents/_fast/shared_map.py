"""The storage of the pure shared twins (shared_cooldown_py.py, shared_thresholds_py.py): a
mapping over fixed 16-byte slots in a MAP_SHARED mapping, and the cross-process lock that
guards it.

`mmap.mmap(-1, size)` is anonymous MAP_SHARED memory: a forked process writes the same pages
(tests/fast/test_fast_shared.py checks it). The slots are open-addressed as in the compiled
twins (_slot_table.pxi: linear probing from a seeded home, backward-shift deletion), and the
count, the seed and the tables' scalars live in a 64-byte header, so every process sees one
table. The map itself takes no lock: the twins hold SharedLock around each public call.

SharedLock is a POSIX record lock (fcntl.lockf) on an unlinked temporary file, plus a thread
lock: record locks belong to a process, so they exclude the other processes (not this
process's threads: hence the thread lock), and the kernel drops them when their process
dies, so a worker killed inside a call does not leave the table locked.
"""

from __future__ import annotations

import fcntl
import functools
import heapq
import mmap
import os
import struct
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, cast

from ._dict_table import DictTable

K = TypeVar("K")
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")

SLOT = 16
HEADER = 64
_M64 = (1 << 64) - 1
_Q = struct.Struct("<Q")
_D = struct.Struct("<d")


def mix64(x: int) -> int:
    """splitmix64's finaliser, as tyk_mix64 in _common.pxd."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Header:
    """The shared scalars at the start of the mapping: the count (offset 0), the seed (8)
    and three fields of the twins (16, 24, 32)."""

    def __init__(self, mem: mmap.mmap) -> None:
        self.mem = mem

    def u64(self, off: int) -> int:
        v: int = _Q.unpack_from(self.mem, off)[0]
        return v

    def set_u64(self, off: int, v: int) -> None:
        _Q.pack_into(self.mem, off, v)

    def f64(self, off: int) -> float:
        v: float = _D.unpack_from(self.mem, off)[0]
        return v

    def set_f64(self, off: int, v: float) -> None:
        _D.pack_into(self.mem, off, v)


class SlotMap(MutableMapping[K, V], Generic[K, V]):
    """A dict-like view of `nslots` slots; subclasses say how a slot encodes an entry."""

    fmt: struct.Struct

    def __init__(self, nslots: int, fill: int) -> None:
        self.nslots = nslots
        self.mem = mmap.mmap(-1, HEADER + nslots * SLOT)  # MAP_SHARED | MAP_ANONYMOUS
        if fill:
            self.mem[HEADER:] = bytes([fill]) * (nslots * SLOT)
        self.header = Header(self.mem)
        self.header.set_u64(8, int.from_bytes(os.urandom(8), "little"))
        self._seed = self.header.u64(8)

    # What a subclass defines: the entry in a slot (None if empty), the bytes of an entry, the
    # 64 bits of a key that choose its home slot, and an empty slot's bytes.
    def _decode(self, raw: tuple[object, ...]) -> tuple[K, V] | None:
        raise NotImplementedError

    def _encode(self, key: K, value: V) -> bytes:
        raise NotImplementedError

    def _word(self, key: K) -> int:
        raise NotImplementedError

    empty: bytes

    def _home(self, word: int) -> int:
        return (mix64(word ^ self._seed) * self.nslots) >> 64

    def _at(self, i: int) -> tuple[K, V] | None:
        return self._decode(self.fmt.unpack_from(self.mem, HEADER + i * SLOT))

    def _probe(self, key: K) -> tuple[int, tuple[K, V] | None]:
        """The slot holding `key` and its entry, else the empty slot ending its run and None."""
        n = self.nslots
        i = self._home(self._word(key))
        while True:
            e = self._at(i)
            if e is None or e[0] == key:
                return i, e
            i = i + 1 if i + 1 < n else 0

    def __getitem__(self, key: K) -> V:
        e = self._probe(key)[1]
        if e is None:
            raise KeyError(key)
        return e[1]

    # A process killed inside a call leaves its last writes half done (the lock is dropped
    # with it). Writes are ordered so the count is never below the slots held, as in the
    # compiled twins (count first on insert, last on delete): an undercount would go
    # negative when the survivors delete what the dead process stored.
    def _put(self, i: int, raw: bytes) -> None:
        self.mem[HEADER + i * SLOT : HEADER + (i + 1) * SLOT] = raw

    def __setitem__(self, key: K, value: V) -> None:
        i, e = self._probe(key)
        if e is None:
            self.header.set_u64(0, self.header.u64(0) + 1)
        self._put(i, self._encode(key, value))

    def __delitem__(self, key: K) -> None:
        i, e = self._probe(key)
        if e is None:
            raise KeyError(key)
        # Backward-shift deletion, as table_delete_at in _slot_table.pxi.
        n, mem = self.nslots, self.mem
        hole = k = i
        while True:
            k = k + 1 if k + 1 < n else 0
            moved = self._at(k)
            if moved is None:
                break
            h = self._home(self._word(moved[0]))
            if (hole < h <= k) if hole <= k else (hole < h or h <= k):
                continue
            self._put(hole, mem[HEADER + k * SLOT : HEADER + (k + 1) * SLOT])
            hole = k
        self._put(hole, self.empty)
        self.header.set_u64(0, self.header.u64(0) - 1)

    def __iter__(self) -> Iterator[K]:
        """Keys in slot order (the twins' eviction order, see their docs)."""
        for i in range(self.nslots):
            e = self._at(i)
            if e is not None:
                yield e[0]

    def __len__(self) -> int:
        return self.header.u64(0)

    def memory_bytes(self) -> int:
        return len(self.mem)


class SharedLock:
    """A lock that excludes every process sharing it (made before the fork) and every thread."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="tykevents-lock-")
        os.unlink(path)  # the open file is all the lock needs
        self._fd = fd
        weakref.finalize(self, os.close, fd)
        self._thread = threading.Lock()
        _locks.add(self)

    def __enter__(self) -> None:
        self._thread.acquire()
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1)
        except BaseException:
            self._thread.release()
            raise

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1)
        finally:
            self._thread.release()

    def _forked(self) -> None:
        self._thread = threading.Lock()  # a thread of the parent may have held it at fork


_locks: weakref.WeakSet[SharedLock] = weakref.WeakSet()


def _after_fork() -> None:
    for lock in list(_locks):
        lock._forked()


os.register_at_fork(after_in_child=_after_fork)


def locked(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A private table's method, run holding the shared table's lock (self._lock)."""

    @functools.wraps(method)
    def call(self: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    return call


class SharedTable(DictTable[K, V]):
    """What a pure shared twin adds to its private table (listed first among its bases):
    `create`, the locked length, the mapping's size and the eviction by `_rank`. The twin
    sets `_d` to its SlotMap and `_lock` to a SharedLock."""

    __slots__ = ()
    _lock: SharedLock

    @classmethod
    def create(cls, capacity: int = 1_000_000) -> Self:
        """A table in a new shared mapping; make it before forking the processes that share it."""
        return cls(capacity)

    def memory_bytes(self) -> int:
        """Bytes of the shared mapping (header and slots)."""
        return cast("SlotMap[K, V]", self._d).memory_bytes()

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)

    @staticmethod
    def _rank(value: V) -> int:
        """The order in which live entries are evicted, lowest first (the compiled twins')."""
        raise NotImplementedError

    def _make_room(self, now: float) -> None:
        # DictTable's batching, but the live entries dropped are those of the lowest rank:
        # the slots keep no insertion order.
        self._purge(now)
        d, cap, rank = self._d, self._capacity, self._rank
        excess = len(d) - (cap - max(1, cap // 64))
        if excess > 0:
            for k, _ in heapq.nsmallest(excess, d.items(), key=lambda kv: rank(kv[1])):
                del d[k]
