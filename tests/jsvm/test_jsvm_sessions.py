"""Tyk's session_editor sample against sessions stored in Tyk's own layout, in memory and in a
real redis-server (tests/conftest.py starts it), with hashed and plain keys."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from tests.jsvm.conftest import build_context, event
from tykevents.deliver.jsvm.handler import build_js_handler
from tykevents.store.sessions import MemorySessionStore, RedisSessionStore

LEGACY = "hello"  # a legacy (org+id) token: murmur32, and "hello" is a published vector
JSON_TOKEN = base64.b64encode(b'{"org":"org-1","id":"4f2a","h":"murmur64"}').decode()
SESSION = {
    "org_id": "org-1",
    "expires": 1700000000,
    "quota_max": 100,
    "quota_remaining": 3,
    "quota_renews": 1600000000,
    "quota_renewal_rate": 3600,
    "access_rights": {"api-1": {"api_id": "api-1", "api_name": "test", "versions": ["Default"]}},
    "meta_data": {"tier": "gold"},
    "last_updated": "1600000000",
}


class RawRedis:
    """The gateway's side of Redis: raw keys and TTLs."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2)

    def put(self, key: str, value: bytes) -> None:
        self.client.set(key, value, ex=3600)

    def get(self, key: str) -> bytes | None:
        return self.client.get(key)

    def ttl(self, key: str) -> int:
        return self.client.ttl(key)


class RawMemory:
    def __init__(self, store: MemorySessionStore) -> None:
        self.store = store

    def put(self, key: str, value: bytes) -> None:
        self.store.set_raw(key, value)

    def get(self, key: str) -> bytes | None:
        return self.store.get_raw(key)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request):
    def make(hash_keys: bool):
        if request.param == "memory":
            store = MemorySessionStore(hash_keys=hash_keys)
            return store, RawMemory(store)
        raw = RawRedis(request.getfixturevalue("redis_url"))
        return RedisSessionStore(raw.client, hash_keys=hash_keys), raw

    return make


@pytest.mark.parametrize(
    "token, hash_keys, key",
    [
        (LEGACY, False, "apikey-hello"),
        (LEGACY, True, "apikey-248bfa47"),  # murmur3 x86_32("hello")
        (JSON_TOKEN, True, None),  # murmur64 named by the token
    ],
)
async def test_session_editor_sample(backend, make_runtime, js_logs, caplog, token, hash_keys, key):
    from tykevents.store.keyhash import murmur3_128

    if key is None:
        key = "apikey-" + murmur3_128(JSON_TOKEN.encode())[0].to_bytes(8, "big").hex()
    store, raw = backend(hash_keys)
    raw.put(key, orjson.dumps(SESSION))
    hashed = key[len("apikey-") :]
    raw.put("quota-" + hashed, b"42")
    rt = make_runtime(store=store)
    h = build_js_handler({"name": "sessionHandler", "path": "session_editor.js"}, build_context(rt))
    assert "Session JS event handler initialised" in js_logs()

    before = int(time.time())
    await h.handle(
        event("QuotaExceeded", {"Message": "Quota exceeded", "Path": "/x", "Origin": "1.2.3.4", "Key": token})
    )
    after = int(time.time())

    assert "Expires: 1700000000" in js_logs() and "Expires now: 1700001000" in js_logs()
    stored = orjson.loads(raw.get(key))
    assert stored["expires"] == 1700001000
    assert stored["meta_data"] == {"tier": "gold"} and stored["access_rights"] == SESSION["access_rights"]
    # No third argument: the quota is reset, as Tyk's doAddOrUpdate does.
    assert stored["quota_remaining"] == 100
    assert before + 3600 <= stored["quota_renews"] <= after + 3600
    assert before <= int(stored["last_updated"]) <= after
    assert raw.get("quota-" + hashed) is None
    if isinstance(raw, RawRedis):
        assert 3590 <= raw.ttl(key) <= 3600  # the key keeps its lifetime
    assert all(token not in r.getMessage() for r in caplog.records if r.levelno > 10)
    assert rt.stats.failures == 0


async def test_session_editor_with_a_missing_key_fails_cleanly(backend, make_runtime, caplog):
    store, raw = backend(False)
    rt = make_runtime(store=store)
    h = build_js_handler({"name": "sessionHandler", "path": "session_editor.js"}, build_context(rt))
    await h.handle(event("QuotaExceeded", {"Key": "no-such-key"}))
    # {"status":"error",...} has no access_rights: TykSetKeyData refuses it, nothing is written.
    assert raw.get("apikey-no-such-key") is None
    assert any("Master keys disallowed" in r.getMessage() for r in caplog.records)
