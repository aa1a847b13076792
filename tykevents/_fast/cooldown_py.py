"""Webhook cooldown table, pure-Python twin. This file is the specification; the compiled
twin (cooldown_c.pyx) must behave the same through this API.

Tyk suppresses a webhook whose checksum was fired less than `event_timeout` seconds ago
(docs/webhooks.md, "Cooldown"). We differ on purpose: the check and the set are one call
(`acquire`), and a ttl <= 0 means "no cooldown" (Tyk: suppressed forever).

Keys. A digest is the 16-byte md5 of the request; the table keys on its first 96 bits. md5
output is uniform, so with n live keys a fresh digest matches some stored prefix with
probability n / 2**96 (1e-22 at 10 million keys): a wrongly suppressed webhook will not
happen. (64 bits would give n / 2**64, about once in 100 days at 200k events/s against 10
million keys; that is why the compiled twin spends 12 of its 16 slot bytes on the key.)

Time. `now` is any clock in seconds (the daemon passes loop.time()). Expiry is stored as a
32-bit tick count of 1/16 s from a base set by the first call that passes `now`; the base
sits 2**26 s (776 days) before that first `now`, so a clock that steps back stays in range.
An expiry is rounded up to the next tick, and to at least the tick after `now`, so a
positive ttl always suppresses and never ends early; it may last up to 1/16 s longer.
A ttl above MAX_TTL (2**26 s, 776 days; inf included) is cut to MAX_TTL. When an expiry no
longer fits in 32 bits (after about 4 years of uptime) the base moves forward and every
stored expiry is shifted (one pass over the table, at most once every few years); entries
that had already expired stay, expired, until purged.

Size. `capacity` bounds the number of stored entries, live or expired. `len()` counts
stored entries: live ones plus expired ones not yet purged or re-armed; after `purge(now)`
it is the number of live keys. Expired entries are removed lazily: by `purge(now)` (the
daemon calls it periodically), by a re-arm of the same key, and by eviction.

Eviction. When the table is full and a new key must be stored, room is made first from
expired entries and only then from live ones. An evicted live key can only cause one
duplicate webhook later, never a lost one. The policies differ in detail between the
twins, which is why the twin property tests stay below capacity:
  - pure twin: purge every expired entry; if that frees less than capacity/64 slots, drop
    the oldest-armed live entries (dict order, a re-arm moves a key to the end) until
    capacity/64 slots are free (_dict_table.py).
  - compiled twin: drop one entry from the probe neighbourhood of the new key (32 slots
    from its home slot): the first expired entry found, else the one expiring soonest.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from . import _args
from ._dict_table import DictTable

TICKS_PER_SECOND = 16.0
_HEADROOM_TICKS = 1 << 30
MAX_TTL = float(1 << 26)  # seconds: 2**30 ticks
_TICK_MAX = (1 << 32) - 1
MAX_CAPACITY = _args.MAX_CAPACITY
KEY_BYTES = 12
DIGEST_BYTES = 16
NOW_LIMIT = float(1 << 40)


def _key(digest: object) -> bytes:
    if not isinstance(digest, bytes):
        raise TypeError(f"digest must be bytes, not {type(digest).__name__}")
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"digest must be {DIGEST_BYTES} bytes (an md5), got {len(digest)}")
    return digest[:KEY_BYTES]


def _ttl(v: float) -> float:
    if v != v:
        raise ValueError("ttl must not be NaN")
    return v if v <= MAX_TTL else MAX_TTL


def _now(v: float) -> float:
    # Bounded so that tick arithmetic stays exact to well under a tick (2**40 s: 34,000 years).
    if not -NOW_LIMIT <= v <= NOW_LIMIT:  # also refuses NaN
        raise ValueError(f"now must be finite and within +-2**40 s, got {v!r}")
    return v


class CooldownTable(DictTable[bytes, int]):  # 12-byte key -> expiry tick
    """Check-and-set cooldowns keyed by md5 digests, bounded by `capacity` entries."""

    __slots__ = ("_base",)

    def __init__(self, capacity: int = 1_000_000) -> None:
        super().__init__(capacity)
        self._base: float | None = None

    def memory_bytes(self) -> int:
        """An estimate: the dict plus its key and value objects (sampled)."""
        d = self._d
        n = len(d)
        size = sys.getsizeof(d)
        if n:
            sample = 0
            k = 0
            for key, exp in d.items():
                sample += sys.getsizeof(key) + sys.getsizeof(exp)
                k += 1
                if k == 1000:
                    break
            size += sample * n // k
        return size

    # -- time ---------------------------------------------------------------------------

    def _now_ticks(self, now: float) -> float:
        base = self._base
        if base is None:
            base = self._base = now - _HEADROOM_TICKS / TICKS_PER_SECOND
        return (now - base) * TICKS_PER_SECOND

    def _expiry(self, now: float, ttl: float) -> int:
        """The expiry tick for a ttl > 0 recorded at `now`, rebasing when it overflows."""
        base = self._base
        assert base is not None
        t = math.ceil((now - base + ttl) * TICKS_PER_SECOND)
        if t > _TICK_MAX:
            base = self._rebase(math.floor((now - base) * TICKS_PER_SECOND) - _HEADROOM_TICKS)
            t = math.ceil((now - base + ttl) * TICKS_PER_SECOND)
        floor_next = math.floor((now - base) * TICKS_PER_SECOND) + 1
        if t < floor_next:
            t = floor_next
        return t if t >= 1 else 1

    def _rebase(self, delta: int) -> float:
        """Moves the time base `delta` ticks forward; returns the new base."""
        # delta > 0: t > 2**32-1 with ttl <= 2**30 ticks implies now_t > 2**31.
        d = self._d  # in place: the shared twin's slots are this mapping
        for k, e in list(d.items()):
            d[k] = e - delta if e > delta else 1
        base = self._base
        assert base is not None
        base = self._base = base + delta / TICKS_PER_SECOND
        return base

    # -- operations -----------------------------------------------------------------------

    def _acquire(self, key: bytes, now: float, ttl: float) -> bool:
        now_t = self._now_ticks(now)
        if ttl <= 0.0:
            return True
        d = self._d
        e = d.get(key)
        if e is not None and e > now_t:
            return False
        exp = self._expiry(now, ttl)
        if e is not None:
            del d[key]  # re-armed keys go to the end of the eviction order
        elif len(d) >= self._capacity:
            self._make_room(self._now_ticks(now))
        d[key] = exp
        return True

    def _dead_keys(self, now_t: float) -> list[bytes]:
        return [k for k, e in self._d.items() if not e > now_t]

    def acquire(self, digest: bytes, now: float, ttl: float) -> bool:
        """True if the caller may fire: the key is absent or expired. With ttl > 0 the key
        is then armed until now+ttl in the same call; with ttl <= 0 nothing is recorded."""
        now = _args.real(now, "now")
        ttl = _args.real(ttl, "ttl")
        key = _key(digest)
        return self._acquire(key, _now(now), _ttl(ttl))

    def acquire_many(
        self, digests: bytes | bytearray | memoryview, now: float, ttls: float | Sequence[float]
    ) -> bytes:
        """`acquire` for concatenated 16-byte digests, in order (a repeated digest in one
        batch is suppressed after its first arming). `ttls`: one ttl for all, or one per
        digest. Returns one byte per digest, 1 = fire. Inputs are checked before any
        digest is acquired."""
        now = _args.real(now, "now")
        buf = _args.byte_buffer(digests, "digests")
        if len(buf) % DIGEST_BYTES:
            raise ValueError(f"digests length {len(buf)} is not a multiple of {DIGEST_BYTES}")
        n = len(buf) // DIGEST_BYTES
        now = _now(now)
        if isinstance(ttls, (int, float)):
            one = _ttl(float(ttls))
            per = [one] * n
        else:
            arr = _args.typed_array(ttls, "d", n, "ttls")
            per = [_ttl(t) for t in arr]
        self._now_ticks(now)  # fixes the time base even for an empty batch (as the C twin)
        data = buf.tobytes()
        out = bytearray(n)
        acquire = self._acquire
        for i in range(n):
            o = i * DIGEST_BYTES
            out[i] = acquire(data[o : o + KEY_BYTES], now, per[i])
        return bytes(out)

    def contains(self, digest: bytes, now: float) -> bool:
        """True if the key is armed and not expired at `now`."""
        now = _args.real(now, "now")
        key = _key(digest)
        now_t = self._now_ticks(_now(now))
        e = self._d.get(key)
        return e is not None and e > now_t

    def release(self, digest: bytes) -> bool:
        """Forget a key (live or expired); True if an entry was stored."""
        return self._d.pop(_key(digest), None) is not None

    def purge(self, now: float) -> int:
        """Remove every entry expired at `now`; returns how many were removed."""
        return self._purge(self._now_ticks(_now(_args.real(now, "now"))))
