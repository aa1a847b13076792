"""Argument checks shared by both twins.

Both twins must reject the same bad inputs with the same exception types, so the rules live
here once. The compiled twin uses these only off the hot path (batch argument conversion);
its per-call checks are written in C with the same outcomes, which the tests pin.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterable
from typing import Any, cast

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


def real(x: object, name: str) -> float:
    """A real number as a float: int, float or anything with __float__/__index__, never str."""
    if type(x) is float:
        return x
    if isinstance(x, (str, bytes, bytearray, memoryview)) or x is None:
        raise TypeError(f"{name} must be a real number, not {type(x).__name__}")
    return float(x)  # type: ignore[arg-type]


def i64(x: object, name: str) -> int:
    """An int64 (floats are refused: quota counters are integers)."""
    v = operator.index(x)  # type: ignore[arg-type]
    if not INT64_MIN <= v <= INT64_MAX:
        raise OverflowError(f"{name} does not fit in int64: {v}")
    return v


def u64(x: object, name: str) -> int:
    v = operator.index(x)  # type: ignore[arg-type]
    if not 0 <= v <= UINT64_MAX:
        raise OverflowError(f"{name} does not fit in uint64: {v}")
    return v


def index(x: object, name: str) -> int:
    try:
        return operator.index(x)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(x).__name__}") from None


def byte_buffer(x: object, name: str) -> memoryview:
    """A C-contiguous buffer of single bytes (bytes, bytearray, memoryview, array('B'))."""
    mv = memoryview(x)  # type: ignore[arg-type]  # TypeError without the buffer protocol
    if mv.itemsize != 1 or mv.ndim != 1:
        raise ValueError(f"{name} must be a buffer of bytes (itemsize 1)")
    if not mv.c_contiguous:
        raise BufferError(f"{name} must be C-contiguous")
    return mv.cast("B") if mv.format != "B" else mv


def typed_array(x: object, code: str, n: int | None, name: str) -> array:
    """`x` as array(code): an array of that type code passes through, other iterables are
    converted item by item (TypeError/OverflowError on a bad item). `n`: required length."""
    if isinstance(x, array) and x.typecode == code:
        arr = x
    else:
        if isinstance(x, (str, bytes)):
            raise TypeError(f"{name} must be a sequence of numbers, not {type(x).__name__}")
        try:
            arr = array(code, cast("Iterable[Any]", x))
        except TypeError as e:
            raise TypeError(f"{name}: {e}") from None
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} items, expected {n}")
    return arr


def flags(x: object, n: int, name: str) -> bytes:
    """Per-record booleans as n bytes of 0/1; a scalar bool/int applies to all records."""
    if isinstance(x, int):
        return (b"\x01" if x else b"\x00") * n
    out = bytes(1 if b else 0 for b in cast("Iterable[object]", x))
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} items, expected {n}")
    return out


def offsets(x: object, n: int, total: int, name: str) -> array:
    """n+1 non-decreasing int64 offsets from 0 to `total` (record i owns [off[i], off[i+1]))."""
    arr = typed_array(x, "q", n + 1, name)
    if arr[0] != 0 or arr[n] != total:
        raise ValueError(f"{name} must start at 0 and end at {total}")
    prev = 0
    for v in arr:
        if v < prev:
            raise ValueError(f"{name} must be non-decreasing")
        prev = v
    return arr


MAX_CAPACITY = 1 << 32


def capacity(value: object) -> int:
    """A table's capacity: a whole number in [1, MAX_CAPACITY] (both twins, both tables)."""
    n = index(value, "capacity")
    if not 1 <= n <= MAX_CAPACITY:
        raise ValueError(f"capacity must be in [1, {MAX_CAPACITY}], got {n}")
    return n
