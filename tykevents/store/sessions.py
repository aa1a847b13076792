"""Key sessions in Tyk's own layout (docs/monitor.md#sessions-in-redis), in memory or in Redis.

Layout (no global prefix): `apikey-<token>` or, with tyk.conf `hash_keys`,
`apikey-<hash(token)>` (see keyhash); org sessions `orgkey.<org_id>`, never hashed; quota
counters `quota-[<allowance_scope>-]<token or hash>` holding an integer string. The value of a
session key is the JSON of Tyk's `user.SessionState`.

What the JS API needs (TykGetKeyData, TykSetKeyData: docs/compatibility.md#javascript-handlers):
`get_session_detail` is Tyk's handleGetDetail view (the stored session with `quota_remaining`
recomputed from the quota counters; policies are not applied: tykevents has no policy store),
and `set_session` is doAddOrUpdate: unless `suppress_reset`, `last_updated` becomes now and the
quota is reset (counters deleted, `quota_renews` = now + `quota_renewal_rate`,
`quota_remaining` = `quota_max`). The key keeps its TTL (Tyk recomputes it from API
definitions that tykevents does not have).

The sync stores are called from the JS thread (blocking is fine there; the Redis client must
have socket timeouts). The quota monitor reads sessions from the event loop through the async
twins: `AsyncRedisSessionStore` (redis.asyncio, same layout) or `AsyncSessionView` over a
memory store. Keys never appear in logs above DEBUG.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import orjson

from tykevents.golang.json import fits_int64, json_kind
from tykevents.store.keyhash import hash_key

APIKEY_PREFIX = "apikey-"
ORGKEY_PREFIX = "orgkey."
QUOTA_PREFIX = "quota-"
RATE_LIMIT_PREFIX = "rate-limit-"


class SessionError(ValueError):
    """The session cannot be stored: Tyk's json.Unmarshal into SessionState would fail."""


# -- pure parts: layout, Go-typed validation, Tyk's update and detail rules ----------------


def session_key(token: str, hash_keys: bool) -> str:
    return APIKEY_PREFIX + hash_key(token, hash_keys)


def org_key(org_id: str) -> str:
    return ORGKEY_PREFIX + org_id


_INT, _FLOAT, _STR, _BOOL, _OBJ, _STRS, _STRMAP = (
    "int64",
    "float64",
    "string",
    "bool",
    "object",
    "[]string",
    "map[string]string",
)

_SESSION_FIELDS = {
    **dict.fromkeys(
        (
            "last_check",
            "throttle_retry_limit",
            "max_query_depth",
            "expires",
            "quota_max",
            "quota_renews",
            "quota_remaining",
            "quota_renewal_rate",
            "data_expires",
            "id_extractor_deadline",
            "session_lifetime",
            "post_expiry_grace_period",
        ),
        _INT,
    ),
    **dict.fromkeys(("allowance", "rate", "per", "throttle_interval"), _FLOAT),
    **dict.fromkeys(
        (
            "org_id",
            "oauth_client_id",
            "certificate",
            "hmac_string",
            "rsa_certificate_id",
            "apply_policy_id",
            "alias",
            "last_updated",
            "post_expiry_action",
            "date_created",
        ),
        _STR,
    ),
    **dict.fromkeys(
        (
            "hmac_enabled",
            "enable_http_signature_validation",
            "is_inactive",
            "enable_detail_recording",
            "enable_detailed_recording",
        ),
        _BOOL,
    ),
    **dict.fromkeys(("meta_data", "basic_auth_data", "jwt_data", "smoothing", "monitor"), _OBJ),
    **dict.fromkeys(("mtls_static_certificate_bindings", "apply_policies", "tags"), _STRS),
    "oauth_keys": _STRMAP,
}
_ACCESS_FIELDS = {
    "api_name": _STR,
    "api_id": _STR,
    "allowance_scope": _STR,
    "versions": _STRS,
    "disable_introspection": _BOOL,
    "limit": _OBJ,
}
_LIMIT_FIELDS = {
    **dict.fromkeys(("rate", "per", "throttle_interval"), _FLOAT),
    **dict.fromkeys(
        (
            "throttle_retry_limit",
            "max_query_depth",
            "quota_max",
            "quota_renews",
            "quota_remaining",
            "quota_renewal_rate",
        ),
        _INT,
    ),
}


def _fits(v: Any, t: str) -> bool:
    if t == _INT:
        return isinstance(v, int) and not isinstance(v, bool) and fits_int64(v)
    if t == _FLOAT:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == _STR:
        return isinstance(v, str)
    if t == _BOOL:
        return isinstance(v, bool)
    if t == _OBJ:
        return isinstance(v, dict)
    if t == _STRS:
        return isinstance(v, list) and all(isinstance(x, str) or x is None for x in v)
    return isinstance(v, dict) and all(isinstance(x, str) or x is None for x in v.values())


def _check(doc: dict[str, Any], fields: dict[str, str], struct: str) -> None:
    for name, t in fields.items():
        v = doc.get(name)
        if v is not None and not _fits(v, t):
            raise SessionError(
                f"json: cannot unmarshal {json_kind(v)} into Go struct field {struct}.{name} of type {t}"
            )


def validate_session(doc: Any) -> None:
    """Raise SessionError where Go would refuse to decode `doc` into user.SessionState.

    Only the typed fields that Tyk reads are checked (exact keys; Go would also match other
    casings, which JSON.stringify of a session read from Tyk never produces).
    """
    if not isinstance(doc, dict):
        raise SessionError(f"json: cannot unmarshal {json_kind(doc)} into Go value of type user.SessionState")
    _check(doc, _SESSION_FIELDS, "SessionState")
    rights = doc.get("access_rights")
    if rights is None:
        return
    if not isinstance(rights, dict):
        raise SessionError(
            f"json: cannot unmarshal {json_kind(rights)} into Go struct field "
            "SessionState.access_rights of type map[string]user.AccessDefinition"
        )
    for acl in rights.values():
        if acl is None:
            continue
        if not isinstance(acl, dict):
            raise SessionError(
                f"json: cannot unmarshal {json_kind(acl)} into Go struct field "
                "SessionState.access_rights of type user.AccessDefinition"
            )
        _check(acl, _ACCESS_FIELDS, "SessionState.access_rights.AccessDefinition")
        if isinstance(acl.get("limit"), dict):
            _check(acl["limit"], _LIMIT_FIELDS, "SessionState.access_rights.limit.APILimit")


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _limit_is_empty(limit: Any) -> bool:
    return not isinstance(limit, dict) or not any(
        limit.get(f)
        for f in (
            "rate",
            "per",
            "throttle_interval",
            "throttle_retry_limit",
            "max_query_depth",
            "quota_max",
            "quota_renews",
            "quota_remaining",
            "quota_renewal_rate",
        )
    )


def _scopes(session: dict[str, Any]) -> list[str]:
    rights = session.get("access_rights")
    if not isinstance(rights, dict):
        return []
    return [
        a["allowance_scope"]
        for a in rights.values()
        if isinstance(a, dict) and isinstance(a.get("allowance_scope"), str) and a["allowance_scope"]
    ]


def apply_update(
    session: dict[str, Any], hashed: str, suppress_reset: bool, now: int | None = None
) -> list[str]:
    """Tyk's doAddOrUpdate on `session` (in place); returns the counter keys to delete."""
    if suppress_reset:
        return []
    now = int(time.time()) if now is None else now
    session["last_updated"] = str(now)
    session["quota_renews"] = now + _int(session.get("quota_renewal_rate"))
    session["quota_remaining"] = _int(session.get("quota_max"))
    keys = [f"{RATE_LIMIT_PREFIX}{hashed}.BLOCKED", QUOTA_PREFIX + hashed]
    return keys + [f"{QUOTA_PREFIX}{s}-{hashed}" for s in _scopes(session)]


def detail_counter_keys(session: dict[str, Any], hashed: str) -> dict[str, str]:
    """The quota counters handleGetDetail reads: "" for the key's own, else the API id."""
    keys = {}
    if session.get("quota_max") != -1:
        keys[""] = QUOTA_PREFIX + hashed
    rights = session.get("access_rights")
    for api_id, acl in rights.items() if isinstance(rights, dict) else ():
        if not isinstance(acl, dict):
            continue
        limit: Any = acl.get("limit")  # _limit_is_empty is True for anything but a dict
        if _limit_is_empty(limit) or limit.get("quota_max") in (-1, 0, None):
            continue
        scope = acl.get("allowance_scope")
        keys[api_id] = f"{QUOTA_PREFIX}{scope + '-' if isinstance(scope, str) and scope else ''}{hashed}"
    return keys


def _atoi(v: Any) -> int:
    try:
        return int(v.decode() if isinstance(v, bytes) else v)
    except (TypeError, ValueError):
        return 0  # Go: qInt, _ := strconv.Atoi(usedQuota)


def apply_detail(session: dict[str, Any], counters: dict[str, Any]) -> dict[str, Any]:
    """Fill `quota_remaining` from the counter values (None = counter missing), as Tyk does."""
    for api_id, used in counters.items():
        if api_id == "":
            # A missing counter reads as 0 used.
            session["quota_remaining"] = max(0, _int(session.get("quota_max")) - _atoi(used))
            continue
        limit = session["access_rights"][api_id]["limit"]
        qmax = _int(limit.get("quota_max"))
        limit["quota_remaining"] = qmax if used is None else max(0, qmax - _atoi(used))
    return session


def _loads(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # Tyk: "Couldn't unmarshal session object", then not found
    return doc if isinstance(doc, dict) else None


# -- stores ---------------------------------------------------------------------------------


class SessionStore(Protocol):
    hash_keys: bool

    def get_session(self, key: str) -> dict[str, Any] | None: ...
    def get_session_detail(self, key: str) -> dict[str, Any] | None: ...
    def set_session(self, key: str, session: dict[str, Any], suppress_reset: bool = False) -> None: ...
    def get_org_session(self, org_id: str) -> dict[str, Any] | None: ...


class AsyncSessionStore(Protocol):
    hash_keys: bool

    async def get_session(self, key: str) -> dict[str, Any] | None: ...
    async def get_session_detail(self, key: str) -> dict[str, Any] | None: ...
    async def set_session(self, key: str, session: dict[str, Any], suppress_reset: bool = False) -> None: ...
    async def get_org_session(self, org_id: str) -> dict[str, Any] | None: ...


class _SyncStore:
    """Tyk's rules over four raw operations that each backend provides."""

    hash_keys: bool

    def _get(self, k: str) -> Any:
        raise NotImplementedError

    def _set_keep_ttl(self, k: str, v: bytes) -> None:
        raise NotImplementedError

    def _delete(self, keys: list[str]) -> None:
        raise NotImplementedError

    def get_session(self, key: str) -> dict[str, Any] | None:
        return _loads(self._get(session_key(key, self.hash_keys)))

    def get_session_detail(self, key: str) -> dict[str, Any] | None:
        session = self.get_session(key)
        if session is None:
            return None
        keys = detail_counter_keys(session, hash_key(key, self.hash_keys))
        return apply_detail(session, {k: self._get(v) for k, v in keys.items()})

    def set_session(self, key: str, session: dict[str, Any], suppress_reset: bool = False) -> None:
        validate_session(session)
        hashed = hash_key(key, self.hash_keys)
        stale = apply_update(session, hashed, suppress_reset)
        if stale:
            self._delete(stale)
        self._set_keep_ttl(APIKEY_PREFIX + hashed, orjson.dumps(session))

    def get_org_session(self, org_id: str) -> dict[str, Any] | None:
        return _loads(self._get(org_key(org_id)))


class MemorySessionStore(_SyncStore):
    """This instance only: a dict holding the same keys and values Tyk keeps in Redis."""

    def __init__(self, hash_keys: bool = False) -> None:
        self.hash_keys = hash_keys
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()  # the JS thread writes while the event loop reads

    def get_raw(self, k: str) -> bytes | None:
        with self._lock:
            return self._data.get(k)

    def set_raw(self, k: str, v: bytes | str) -> None:
        with self._lock:
            self._data[k] = v.encode() if isinstance(v, str) else v

    def set_org_session(self, org_id: str, session: dict[str, Any]) -> None:
        self.set_raw(org_key(org_id), orjson.dumps(session))

    _get = get_raw

    def _set_keep_ttl(self, k: str, v: bytes) -> None:
        self.set_raw(k, v)

    def _delete(self, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._data.pop(k, None)


class RedisSessionStore(_SyncStore):
    """redis-py's blocking client (Redis or RedisCluster; give it socket timeouts)."""

    def __init__(self, redis_client: Any, hash_keys: bool = False) -> None:
        self.redis = redis_client
        self.hash_keys = hash_keys

    def _get(self, k: str) -> Any:
        return self.redis.get(k)

    def _set_keep_ttl(self, k: str, v: bytes) -> None:
        self.redis.set(k, v, keepttl=True)

    def _delete(self, keys: list[str]) -> None:
        for k in keys:  # one by one: the keys may sit in different cluster slots
            self.redis.delete(k)


class AsyncRedisSessionStore:
    """The same layout and rules through redis.asyncio, for stages on the event loop."""

    def __init__(self, redis_client: Any, hash_keys: bool = False) -> None:
        self.redis = redis_client
        self.hash_keys = hash_keys

    async def get_session(self, key: str) -> dict[str, Any] | None:
        return _loads(await self.redis.get(session_key(key, self.hash_keys)))

    async def get_session_detail(self, key: str) -> dict[str, Any] | None:
        session = await self.get_session(key)
        if session is None:
            return None
        keys = detail_counter_keys(session, hash_key(key, self.hash_keys))
        return apply_detail(session, {k: await self.redis.get(v) for k, v in keys.items()})

    async def set_session(self, key: str, session: dict[str, Any], suppress_reset: bool = False) -> None:
        validate_session(session)
        hashed = hash_key(key, self.hash_keys)
        for k in apply_update(session, hashed, suppress_reset):
            await self.redis.delete(k)
        await self.redis.set(APIKEY_PREFIX + hashed, orjson.dumps(session), keepttl=True)

    async def get_org_session(self, org_id: str) -> dict[str, Any] | None:
        return _loads(await self.redis.get(org_key(org_id)))


class AsyncSessionView:
    """Async methods over a store whose calls never block (MemorySessionStore)."""

    def __init__(self, store: MemorySessionStore) -> None:
        self.store = store
        self.hash_keys = store.hash_keys

    async def get_session(self, key: str) -> dict[str, Any] | None:
        return self.store.get_session(key)

    async def get_session_detail(self, key: str) -> dict[str, Any] | None:
        return self.store.get_session_detail(key)

    async def set_session(self, key: str, session: dict[str, Any], suppress_reset: bool = False) -> None:
        self.store.set_session(key, session, suppress_reset)

    async def get_org_session(self, org_id: str) -> dict[str, Any] | None:
        return self.store.get_org_session(org_id)
