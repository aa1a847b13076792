"""Tyk's key hashing: which algorithm a token asks for, and the hex digest
(docs/monitor.md#sessions-in-redis).

With tyk.conf `hash_keys`, sessions live under `apikey-<hash(token)>`. The algorithm comes
from the token itself, never from config: a token that looks like base64 JSON (`ey...`) and
decodes to an object with a string `"h"` names one of murmur32 / murmur64 / murmur128 /
sha256; every other token (legacy `orgID+keyID`, custom keys) uses murmur32, and so does an
unknown name (logged, as Tyk does). The digest is lower-case hex of the big-endian bytes that
Go's murmur3 package writes: x86_32 for murmur32, h1 of x64_128 for murmur64, h1||h2 for
murmur128, all with seed 0.

MurmurHash3 is written out here in pure Python (mmh3 on PyPI would be faster, but tokens
repeat, so `hash_key` caches digests and a few microseconds per new token do not matter).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging

logger = logging.getLogger("tykevents.store.keyhash")

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF

MURMUR32 = "murmur32"
MURMUR64 = "murmur64"
MURMUR128 = "murmur128"
SHA256 = "sha256"


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _M32
    n = len(data)
    end = n - n % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (_rotl32((k * c1) & _M32, 15) * c2) & _M32
        h = _rotl32(h ^ k, 13)
        h = (h * 5 + 0xE6546B64) & _M32
    if n % 4:
        k = int.from_bytes(data[end:], "little")
        k = (_rotl32((k * c1) & _M32, 15) * c2) & _M32
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def murmur3_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """MurmurHash3 x64_128 as (h1, h2)."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed & _M64
    n = len(data)
    end = n - n % 16
    for i in range(0, end, 16):
        k1 = int.from_bytes(data[i : i + 8], "little")
        k2 = int.from_bytes(data[i + 8 : i + 16], "little")
        h1 ^= (_rotl64((k1 * c1) & _M64, 31) * c2) & _M64
        h1 = (_rotl64(h1, 27) + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        h2 ^= (_rotl64((k2 * c2) & _M64, 33) * c1) & _M64
        h2 = (_rotl64(h2, 31) + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[end:]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl64((k2 * c2) & _M64, 33) * c1) & _M64
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl64((k1 * c1) & _M64, 31) * c2) & _M64
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix64(h1)
    h2 = _fmix64(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1, h2


def token_hash_algorithm(token: str) -> str:
    """The algorithm a token names (Tyk's TokenHashAlgo): "" for legacy tokens."""
    if not token.startswith("ey"):
        return ""
    try:
        # Go's StdEncoding: padding required; it skips \r and \n like binascii does.
        raw = base64.b64decode(token.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return ""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        doc = None
    h = doc.get("h") if isinstance(doc, dict) else None
    if not isinstance(h, str):
        # Tyk logs jsonparser's error and falls back to the legacy algorithm.
        logger.debug('token looks like base64 JSON but has no string "h": murmur32')
        return ""
    return h


def hash_str(data: str, algorithm: str) -> str:
    """Lower-case hex digest of `data` with one of Tyk's algorithms ("" = murmur32)."""
    b = data.encode("utf-8", "surrogatepass")
    if algorithm == SHA256:
        return hashlib.sha256(b).hexdigest()
    if algorithm == MURMUR64:
        return murmur3_128(b)[0].to_bytes(8, "big").hex()
    if algorithm == MURMUR128:
        h1, h2 = murmur3_128(b)
        return (h1.to_bytes(8, "big") + h2.to_bytes(8, "big")).hex()
    if algorithm not in ("", MURMUR32):
        logger.error("Unknown key hash function: %s. Falling back to murmur32.", algorithm)
    return murmur3_32(b).to_bytes(4, "big").hex()


@functools.lru_cache(maxsize=65536)
def hash_token(token: str) -> str:
    """Tyk's HashStr(token): the token's own algorithm, murmur32 for legacy tokens."""
    return hash_str(token, token_hash_algorithm(token))


def hash_key(token: str, hash_keys: bool) -> str:
    """Tyk's HashKey: the token itself unless `hash_keys` is on."""
    return hash_token(token) if hash_keys else token
