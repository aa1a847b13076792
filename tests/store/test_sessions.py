"""Session stores in Tyk's layout (docs/monitor.md#sessions-in-redis): memory, redis-py, and the
asyncio twins, with the same cases run on each. Redis cases use the real redis-server of
tests/conftest.py."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tykevents.store.keyhash import hash_token
from tykevents.store.sessions import (
    AsyncRedisSessionStore,
    AsyncSessionView,
    MemorySessionStore,
    RedisSessionStore,
    SessionError,
    validate_session,
)

TOKEN = "5e9d9544a1dcd60001d0ed20c0ffee"
RIGHTS = {
    "api-1": {"api_id": "api-1", "versions": ["Default"]},
    "api-2": {
        "api_id": "api-2",
        "allowance_scope": "shared",
        "limit": {"rate": 10, "per": 1, "quota_max": 50, "quota_remaining": 1, "quota_renewal_rate": 60},
    },
    "api-3": {"api_id": "api-3", "limit": {"quota_max": 50}},  # no scope: the key's own counter
}
SESSION = {
    "org_id": "org-1",
    "quota_max": 100,
    "quota_remaining": 5,
    "quota_renews": 1,
    "quota_renewal_rate": 3600,
    "expires": 0,
    "access_rights": RIGHTS,
    "last_updated": "1",
}


class Sync:
    """Runs the same async test body against a sync store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.hash_keys = store.hash_keys

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.store, name)

        async def call(*a: Any, **kw: Any) -> Any:
            return fn(*a, **kw)

        return call


class Raw:
    def __init__(self, get, put, ttl=None) -> None:
        self.get, self.put, self.ttl = get, put, ttl


@pytest.fixture(
    params=[
        "memory",
        "memory-async",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-async", marks=pytest.mark.redis),
    ]
)
async def stores(request):
    """make(hash_keys) -> (store with async methods, raw access to the keys)."""
    made = []

    def make(hash_keys: bool):
        kind = request.param
        if kind.startswith("memory"):
            mem = MemorySessionStore(hash_keys=hash_keys)
            store = AsyncSessionView(mem) if kind == "memory-async" else Sync(mem)
            return store, Raw(mem.get_raw, mem.set_raw)
        import redis
        import redis.asyncio as aredis

        url = request.getfixturevalue("redis_url")
        sync = redis.Redis.from_url(url, socket_timeout=2)
        made.append(sync)
        raw = Raw(sync.get, lambda k, v: sync.set(k, v, ex=600), sync.ttl)
        if kind == "redis":
            return Sync(RedisSessionStore(sync, hash_keys=hash_keys)), raw
        client = aredis.Redis.from_url(url, socket_timeout=2)
        made.append(client)
        return AsyncRedisSessionStore(client, hash_keys=hash_keys), raw

    yield make
    for c in made:
        if hasattr(c, "aclose"):
            await c.aclose()
        else:
            c.close()


@pytest.mark.parametrize("hash_keys", [False, True])
async def test_layout_read_and_org_sessions(stores, hash_keys):
    store, raw = stores(hash_keys)
    key = "apikey-" + (hash_token(TOKEN) if hash_keys else TOKEN)
    raw.put(key, orjson.dumps(SESSION))
    raw.put("orgkey.org-1", orjson.dumps({"org_id": "org-1", "quota_max": 9}))
    assert await store.get_session(TOKEN) == SESSION
    assert await store.get_session("other") is None
    assert await store.get_org_session("org-1") == {"org_id": "org-1", "quota_max": 9}
    assert await store.get_org_session("org-2") is None
    raw.put("apikey-" + ("x" if not hash_keys else hash_token("x")), b"not json")
    assert await store.get_session("x") is None  # Tyk: cannot unmarshal -> not found


@pytest.mark.parametrize("hash_keys", [False, True])
async def test_detail_recomputes_quota_from_counters(stores, hash_keys):
    store, raw = stores(hash_keys)
    h = hash_token(TOKEN) if hash_keys else TOKEN
    raw.put("apikey-" + h, orjson.dumps(SESSION))
    raw.put("quota-" + h, b"30")
    raw.put("quota-shared-" + h, b"60")  # over the API's quota_max: clamped to 0
    detail = await store.get_session_detail(TOKEN)
    assert detail["quota_remaining"] == 70
    assert detail["access_rights"]["api-2"]["limit"]["quota_remaining"] == 0
    assert detail["access_rights"]["api-3"]["limit"]["quota_remaining"] == 20
    assert "limit" not in detail["access_rights"]["api-1"]  # empty limit: untouched
    # An empty counter reads as nothing used; a missing API counter as a full quota.
    rights = {"api-2": {**RIGHTS["api-2"], "allowance_scope": "unused"}}
    raw.put("apikey-" + h, orjson.dumps({**SESSION, "quota_max": 8, "access_rights": rights}))
    raw.put("quota-" + h, b"")
    detail = await store.get_session_detail(TOKEN)
    assert detail["quota_remaining"] == 8
    assert detail["access_rights"]["api-2"]["limit"]["quota_remaining"] == 50


async def test_unlimited_quota_is_left_alone(stores):
    store, raw = stores(False)
    raw.put("apikey-" + TOKEN, orjson.dumps({**SESSION, "quota_max": -1, "quota_remaining": 5}))
    raw.put("quota-" + TOKEN, b"3")
    assert (await store.get_session_detail(TOKEN))["quota_remaining"] == 5


@pytest.mark.parametrize("hash_keys", [False, True])
async def test_update_resets_quota_like_do_add_or_update(stores, hash_keys):
    store, raw = stores(hash_keys)
    h = hash_token(TOKEN) if hash_keys else TOKEN
    raw.put("apikey-" + h, orjson.dumps(SESSION))
    for k in ("quota-" + h, "quota-shared-" + h, f"rate-limit-{h}.BLOCKED", "quota-other-key"):
        raw.put(k, b"1")
    before = int(time.time())
    new = {**SESSION, "expires": 99}
    await store.set_session(TOKEN, new)
    stored = orjson.loads(raw.get("apikey-" + h))
    assert stored["expires"] == 99 and stored["quota_remaining"] == 100
    assert before + 3600 <= stored["quota_renews"] <= int(time.time()) + 3600
    assert before <= int(stored["last_updated"]) <= int(time.time())
    assert raw.get("quota-" + h) is None and raw.get("quota-shared-" + h) is None
    assert raw.get(f"rate-limit-{h}.BLOCKED") is None
    assert raw.get("quota-other-key") == b"1"
    if raw.ttl is not None:
        assert 590 <= raw.ttl("apikey-" + h) <= 600  # KEEPTTL


async def test_suppress_reset_stores_as_given(stores):
    store, raw = stores(False)
    raw.put("quota-" + TOKEN, b"7")
    await store.set_session(TOKEN, dict(SESSION), suppress_reset=True)
    assert orjson.loads(raw.get("apikey-" + TOKEN)) == SESSION
    assert raw.get("quota-" + TOKEN) == b"7"


async def test_invalid_sessions_are_refused_before_any_write(stores):
    store, raw = stores(False)
    raw.put("quota-" + TOKEN, b"7")
    with pytest.raises(SessionError, match="SessionState.quota_max of type int64"):
        await store.set_session(TOKEN, {**SESSION, "quota_max": 1.5})
    assert raw.get("apikey-" + TOKEN) is None and raw.get("quota-" + TOKEN) == b"7"


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], "cannot unmarshal array into Go value of type user.SessionState"),
        ({"expires": "1"}, "cannot unmarshal string into Go struct field SessionState.expires of type int64"),
        ({"rate": True}, "SessionState.rate of type float64"),
        ({"is_inactive": 0}, "SessionState.is_inactive of type bool"),
        ({"tags": ["a", 1]}, "SessionState.tags of type []string"),
        ({"access_rights": []}, "SessionState.access_rights of type map[string]user.AccessDefinition"),
        ({"access_rights": {"a": {"versions": "v1"}}}, "AccessDefinition.versions of type []string"),
        ({"access_rights": {"a": {"limit": {"quota_max": "5"}}}}, "APILimit.quota_max of type int64"),
        ({"quota_max": 1 << 63}, "SessionState.quota_max of type int64"),
    ],
)
def test_validate_session_as_go_decodes(doc, message):
    with pytest.raises(SessionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_session(doc)


def test_validate_session_accepts_what_go_accepts():
    validate_session(
        {
            **SESSION,
            "rate": 1,
            "per": 2.5,
            "tags": None,
            "expires": None,
            "monitor": {},
            "unknown_field": {"x": 1},
            "meta_data": {"n": [1, "a"]},
        }
    )
