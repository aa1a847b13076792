"""Tyk's key hashing (docs/monitor.md#sessions-in-redis). Vectors: the reference strings of Go's
murmur3 package that Tyk uses (TykTechnologies/murmur3 murmur_test.go) and `abc` -> b3dd93fa."""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from tykevents.store.keyhash import (
    hash_key,
    hash_str,
    hash_token,
    murmur3_32,
    murmur3_128,
    token_hash_algorithm,
)

VECTORS = [  # seed, x86_32, x64_128 h1, h2, input
    (0x00, 0x00000000, 0x0000000000000000, 0x0000000000000000, ""),
    (0x00, 0x248BFA47, 0xCBD8A7B341BD9B02, 0x5B1E906A48AE1D19, "hello"),
    (0x00, 0x149BBB7F, 0x342FAC623A5EBC8E, 0x4CDCBC079642414D, "hello, world"),
    (0x00, 0xE31E8A70, 0xB89E5988B737AFFC, 0x664FC2950231B2CB, "19 Jan 2038 at 3:14:07 AM"),
    (
        0x00,
        0xD5C48BFC,
        0xCD99481F9EE902C9,
        0x695DA1A38987B6E7,
        "The quick brown fox jumps over the lazy dog.",
    ),
    (0x01, 0x514E28B7, 0x4610ABE56EFF5CB5, 0x51622DAA78F83583, ""),
    (0x01, 0xBB4ABCAD, 0xA78DDFF5ADAE8D10, 0x128900EF20900135, "hello"),
    (0x01, 0x6F5CB2E9, 0x8B95F808840725C6, 0x1597ED5422BD493B, "hello, world"),
    (0x01, 0xF50E1F30, 0x2A929DE9C8F97B2F, 0x56A41D99AF43A2DB, "19 Jan 2038 at 3:14:07 AM"),
    (
        0x01,
        0x846F6A36,
        0xFB3325171F9744DA,
        0xAAF8B92A5F722952,
        "The quick brown fox jumps over the lazy dog.",
    ),
    (0x2A, 0x087FCD5C, 0xF02AA77DFA1B8523, 0xD1016610DA11CBB9, ""),
    (0x2A, 0xE2DBD2E1, 0xC4B8B3C960AF6F08, 0x2334B875B0EFBC7A, "hello"),
    (0x2A, 0x7EC7C6C2, 0xB91864D797CAA956, 0xD5D139A55AFE6150, "hello, world"),
    (0x2A, 0x58F745F6, 0xFD8F19EBDC8C6B6A, 0xD30FDC310FA08FF9, "19 Jan 2038 at 3:14:07 AM"),
    (
        0x2A,
        0xC02D1434,
        0x74F33C659CDA5AF7,
        0x4EC7A891CAF316F0,
        "The quick brown fox jumps over the lazy dog.",
    ),
]


@pytest.mark.parametrize("seed, h32, h1, h2, s", VECTORS)
def test_murmur3_reference_vectors(seed, h32, h1, h2, s):
    assert murmur3_32(s.encode(), seed) == h32
    assert murmur3_128(s.encode(), seed) == (h1, h2)


def test_smhasher_verification_values():
    # SMHasher's VerificationTest hashes keys of 0..255 bytes (every tail length) with seed
    # 256-n and hashes the concatenated results: Murmur3A 0xB0F57EE3, Murmur3F 0x6384BA69.
    key = bytes(range(256))
    h32 = b"".join(murmur3_32(key[:n], 256 - n).to_bytes(4, "little") for n in range(256))
    assert murmur3_32(h32, 0) == 0xB0F57EE3
    h128 = b"".join(h.to_bytes(8, "little") for n in range(256) for h in murmur3_128(key[:n], 256 - n))
    assert murmur3_128(h128, 0)[0] & 0xFFFFFFFF == 0x6384BA69


def test_digests_are_big_endian_hex():
    assert hash_str("abc", "") == "b3dd93fa"  # docs/monitor.md#sessions-in-redis (verified with Go)
    assert hash_str("hello", "murmur32") == "248bfa47"
    assert hash_str("hello", "murmur64") == "cbd8a7b341bd9b02"
    assert hash_str("hello", "murmur128") == "cbd8a7b341bd9b025b1e906a48ae1d19"
    assert hash_str("hello", "sha256") == hashlib.sha256(b"hello").hexdigest()


def _token(doc: bytes) -> str:
    return base64.b64encode(doc).decode()


@pytest.mark.parametrize(
    "token, algo",
    [
        ("5e9d9544a1dcd60001d0ed20abcdef", ""),  # legacy orgID+keyID
        (_token(b'{"org":"o","id":"i","h":"murmur64"}'), "murmur64"),
        (_token(b'{"org":"o","id":"i","h":"murmur128"}'), "murmur128"),
        (_token(b'{"org":"o","id":"i","h":"sha256"}'), "sha256"),
        (_token(b'{"org":"o","id":"i"}'), ""),  # no "h"
        (_token(b'{"org":"o","id":"i","h":5}'), ""),  # not a string
        ("eyNotBase64!", ""),
        (_token(b'{"org":"o","id":"i","h":"murmur64"}').rstrip("="), ""),  # Go's StdEncoding wants padding
    ],
)
def test_token_hash_algorithm(token, algo):
    assert token_hash_algorithm(token) == algo


def test_hash_token_and_hash_key(caplog):
    legacy = "5e9d9544a1dcd60001d0ed20abcdef"
    assert hash_token(legacy) == hash_str(legacy, "murmur32")
    t64 = _token(b'{"org":"o","id":"i","h":"murmur64"}')
    assert hash_token(t64) == murmur3_128(t64.encode())[0].to_bytes(8, "big").hex()
    # An unknown algorithm falls back to murmur32 (at the spec's commit) and says so.
    odd = _token(b'{"org":"o","id":"i","h":"MURMUR64"}')
    with caplog.at_level(logging.ERROR, logger="tykevents.store.keyhash"):
        assert hash_token(odd) == hash_str(odd, "murmur32")
    assert "Unknown key hash function: MURMUR64. Falling back to murmur32." in caplog.text
    assert hash_key(legacy, False) == legacy
    assert hash_key(legacy, True) == hash_token(legacy)
