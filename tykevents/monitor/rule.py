"""The quota-threshold monitor's decisions: quota record -> QuotaState -> a fire, or nothing.

Pure: no I/O, no clock (callers pass `now`). The side effects (session lookups, shared state
in Redis, the webhook) live in tykevents.monitor.service; docs/monitor.md is the user's view.

The rule is Tyk's Check (docs/monitor.md, the rule) with tykevents' changes (docs/compatibility.md):
- the session's own quota first; then, only if it fired nothing, each access-rights limit
  in sorted API-id order (Tyk iterates a Go map: random order); at most one fire per record,
  as in Tyk;
- levels are the global limit (if > 0) and the session's `monitor.trigger_limits` in
  (0, 100]; the ThresholdTable (tykevents._fast) fires the highest level crossed that was
  not fired yet in this quota period and marks the lower ones passed, so each level fires
  once per key per period (Tyk: the first match in list order, on every request, limited
  only by the webhook cooldown); a new period re-arms; non-renewing quotas are monitored
  (Tyk never fires for them, K9).
Each quota has its own state, keyed by a stable 64-bit hash (state_key) that is the same on
every instance, so instances sharing Redis agree on it.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple, Protocol

import msgspec

from tykevents.golang.json import INT64_MAX, INT64_MIN, fits_int64, float_int64, go_marshal

PERIOD_MAX = (1 << 32) - 2  # as the ThresholdTable clamps quota_renews
LEVEL_MAX = 100.0

KEY = "quota"  # record Kind of a key's (user) quota
ORG = "org_quota"  # record Kind of an organisation's quota
KINDS = (KEY, ORG)

# Why a record is unusable: tykevents_monitor_rejected_total{reason}.
BAD_SESSION = "bad_session"  # not an object, a field of the wrong type, a non-integral count
BAD_TRIGGER_LIMITS = "bad_trigger_limits"  # monitor.trigger_limits is not a list of numbers
MISSING_QUOTA = "missing_quota"  # no quota_max anywhere, or a quota without its remaining
NEGATIVE_QUOTA = "negative_quota"  # quota_remaining / quota_renews < 0, quota_max < -1
REMAINING_ABOVE_MAX = "remaining_above_max"
MISSING_KEY = "missing_key"  # a quota record without Key, an org_quota record without OrgID
UNKNOWN_KEY = "unknown_key"  # key-only record: no session in the store
STORE_ERROR = "store_error"  # key-only record: the session store failed
MONITOR_UNAVAILABLE = "monitor_unavailable"  # the monitor webhook could not be initialised
LANE_FULL = "lane_full"  # the monitor lane had no room (the level re-arms: see MonitorService)
INTERNAL_ERROR = "internal_error"  # a bug: logged with its traceback
REJECT_REASONS = (
    BAD_SESSION,
    BAD_TRIGGER_LIMITS,
    MISSING_QUOTA,
    NEGATIVE_QUOTA,
    REMAINING_ABOVE_MAX,
    MISSING_KEY,
    UNKNOWN_KEY,
    STORE_ERROR,
    MONITOR_UNAVAILABLE,
    LANE_FULL,
    INTERNAL_ERROR,
)

# Valid records that the rule skips as a whole: tykevents_monitor_ignored_total{reason}.
DISABLED = "disabled"  # monitor.enable_trigger_monitors is false
USER_KEYS_OFF = "user_keys_off"  # monitor.monitor_user_keys is false
ORG_KEYS_OFF = "org_keys_off"  # monitor.monitor_org_keys is false
NO_QUOTA = "no_quota"  # every quota_max is 0 or -1 (none / unlimited): Tyk never fires
IGNORE_REASONS = (DISABLED, USER_KEYS_OFF, ORG_KEYS_OFF, NO_QUOTA)

TRIGGER_MESSAGE = "Quota trigger reached"


class RecordError(ValueError):
    """The record cannot be evaluated; `reason` is the counter label, `detail` the log text
    (never a key)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# -- the session, typed (Tyk's user.SessionState, only what the monitor reads) --------------
# Counts are int64 in Go. JSON numbers may arrive as integral floats (a gateway plugin that
# went through float64, e.g. JavaScript), so the structs take int | float and to_int64()
# checks them; a string or a bool is a type error, as in Go.

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]  # out of range: a decode error


class Limit(msgspec.Struct):
    """user.APILimit's quota fields (the others do not matter to the monitor)."""

    quota_max: Int64 | float | None = None
    quota_remaining: Int64 | float | None = None
    quota_renews: Int64 | float | None = None
    quota_renewal_rate: Int64 | float | None = None


class AccessRight(msgspec.Struct):
    limit: Limit | None = None


class SessionMonitor(msgspec.Struct):
    trigger_limits: list[float] | None = None


class QuotaSession(Limit):
    org_id: str | None = None
    monitor: SessionMonitor | None = None
    access_rights: dict[str, AccessRight | None] | None = None


_decoder = msgspec.json.Decoder(QuotaSession)


def _decode_error(e: Exception) -> RecordError:
    msg = str(e)
    reason = BAD_TRIGGER_LIMITS if "trigger_limits" in msg else BAD_SESSION
    return RecordError(reason, f"Session: {msg}")


def decode_session(raw: Any) -> QuotaSession:
    """A record's raw `Session` JSON -> QuotaSession (RecordError if Go could not decode it).
    Any failure is this record's alone: the pipeline screened its depth (tykevents.decode),
    and a RecursionError or anything unexpected still becomes a RecordError."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as e:
        raise _decode_error(e) from None
    except RecursionError:
        raise RecordError(BAD_SESSION, "Session: nested too deep") from None
    except Exception as e:
        raise RecordError(BAD_SESSION, f"Session: {type(e).__name__} while decoding") from None


def session_from_doc(doc: Any) -> QuotaSession:
    """A session read from the store (parsed JSON) -> QuotaSession."""
    try:
        return msgspec.convert(doc, QuotaSession)
    except msgspec.ValidationError as e:
        raise _decode_error(e) from None
    except Exception as e:  # RecursionError included: this record only
        raise RecordError(BAD_SESSION, f"Session: {type(e).__name__} while converting") from None


def to_int64(v: int | float | None, where: str) -> int | None:
    """An int64 count: ints in range, and floats with no fraction (10.0); None stays None."""
    if type(v) is int:
        if fits_int64(v):
            return v
    elif v is None:
        return None
    else:
        n = float_int64(v)
        if n is not None:
            return n
    raise RecordError(BAD_SESSION, f"{where}: {v!r} is not an int64")


# -- record -> QuotaState ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def state_key(kind: str, ident: str, api_id: str = "") -> int:
    """The stable 64-bit state key of one quota: blake2b (8 bytes) of kind, key or org id,
    and API id. The same on every instance and every run (never Python's hash())."""
    data = f"{kind}\x00{ident}\x00{api_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class Quota(msgspec.Struct, frozen=True, gc=False):
    """One quota of a session (a Struct: the cheapest object to build per record)."""

    api_id: str  # "" for the session's own quota, else the access-rights entry's API id
    state_key: int
    quota_max: int
    remaining: int
    renews: int
    renewing: bool  # quota_renewal_rate > 0

    @property
    def period(self) -> int:
        """The quota period as the ThresholdTable names it: quota_renews, 0 if non-renewing."""
        if self.renewing and self.renews > 0:
            return min(self.renews, PERIOD_MAX)
        return 0


class QuotaState(msgspec.Struct, frozen=True, gc=False):
    kind: str  # KEY or ORG
    key: str  # the raw key ("" for an organisation): it goes into the payload, never a log
    org_id: str
    quotas: tuple[Quota, ...]  # the session's own first, then access rights by API id
    limits: tuple[float, ...]  # the session's trigger limits that are levels: 0 < t <= 100
    ignored_limits: tuple[float, ...]  # the others (<= 0 or > 100): never a level


def _quota(limit: Limit, where: str, api_id: str, skey: int) -> Quota | None:
    """One quota, checked; None when there is none to watch (quota_max absent, 0 or -1).
    Decoded ints are int64 already (Int64); only floats and None go through to_int64."""
    qmax = limit.quota_max
    if type(qmax) is not int:
        qmax = to_int64(qmax, where + "quota_max")
        if qmax is None:
            return None
    if qmax <= 0:
        if qmax < -1:
            raise RecordError(NEGATIVE_QUOTA, f"{where}quota_max is {qmax}")
        return None
    rem = limit.quota_remaining
    if type(rem) is not int:
        rem = to_int64(rem, where + "quota_remaining")
        if rem is None:
            raise RecordError(MISSING_QUOTA, f"{where}quota_remaining is missing (quota_max {qmax})")
    if rem < 0:
        raise RecordError(NEGATIVE_QUOTA, f"{where}quota_remaining is {rem}")
    if rem > qmax:
        raise RecordError(REMAINING_ABOVE_MAX, f"{where}quota_remaining {rem} is above quota_max {qmax}")
    rate = limit.quota_renewal_rate
    if type(rate) is not int:
        rate = to_int64(rate, where + "quota_renewal_rate") or 0
    renewing = rate > 0
    renews = limit.quota_renews
    if type(renews) is not int:
        renews = to_int64(renews, where + "quota_renews")
        if renews is None:
            if renewing:
                raise RecordError(
                    MISSING_QUOTA, f"{where}quota_renews is missing (quota_renewal_rate {rate})"
                )
            renews = 0
    if renews < 0:
        raise RecordError(NEGATIVE_QUOTA, f"{where}quota_renews is {renews}")
    return Quota(api_id, skey, qmax, rem, renews, renewing)


def _with_access_rights(
    kind: str, ident: str, session: QuotaSession, root: Quota | None, rights: dict[str, AccessRight | None]
) -> tuple[Quota, ...]:
    quotas = [] if root is None else [root]
    present = session.quota_max is not None
    for api_id in sorted(rights):
        acl = rights[api_id]
        if acl is None or acl.limit is None:
            continue
        present = present or acl.limit.quota_max is not None
        q = _quota(acl.limit, f"access_rights[{api_id!r}].limit.", api_id, state_key(kind, ident, api_id))
        if q is not None:
            quotas.append(q)
    if not present:
        raise RecordError(MISSING_QUOTA, "the session has no quota_max (nor an access-rights limit with one)")
    return tuple(quotas)


def quota_state(kind: str, ident: str, org_hint: str, session: QuotaSession) -> QuotaState:
    """Check a session and list its quotas. `ident` is the key (KEY) or org id (ORG);
    `org_hint` the record's OrgID, used when the session has no org_id.

    Raises RecordError for an unusable session. A session whose quotas are all 0 / -1 gives
    a state with no quotas (NO_QUOTA: valid, never fires); one with no quota_max at all is
    MISSING_QUOTA."""
    root = _quota(session, "", "", state_key(kind, ident))
    rights = session.access_rights
    if not rights:  # the usual case: the session's own quota only
        if root is None and session.quota_max is None:
            raise RecordError(MISSING_QUOTA, "the session has no quota_max (nor an access-rights limit)")
        quotas: tuple[Quota, ...] = () if root is None else (root,)
    else:
        quotas = _with_access_rights(kind, ident, session, root, rights)
    raw = session.monitor.trigger_limits if session.monitor is not None else None
    limits: tuple[float, ...] = ()
    ignored: tuple[float, ...] = ()
    if raw:
        if min(raw) > 0.0 and max(raw) <= LEVEL_MAX:  # the usual case, in two C calls
            limits = tuple(raw)
        else:
            limits = tuple([t for t in raw if 0.0 < t <= LEVEL_MAX])
            ignored = tuple([t for t in raw if not 0.0 < t <= LEVEL_MAX])
    org = session.org_id or org_hint
    return QuotaState(kind, ident if kind == KEY else "", org, quotas, limits, ignored)


# -- the rule ------------------------------------------------------------------------------------


class Table(Protocol):
    """tykevents._fast.ThresholdTable (either twin)."""

    def evaluate(
        self,
        key_hash: int,
        quota_max: int,
        quota_remaining: int,
        quota_renews: int,
        now: float,
        global_limit: float,
        trigger_limits: Any,
        renewing: bool,
    ) -> tuple[float, float] | None: ...


class Fire(NamedTuple):
    quota: Quota
    level: float  # the trigger limit that fired (the global one or the session's)
    usage: float  # percent used


@dataclass(frozen=True)
class MonitorRule:
    """tyk.conf `monitor`, as the rule reads it."""

    enabled: bool = False
    global_limit: float = 0.0
    user_keys: bool = False
    org_keys: bool = False

    @classmethod
    def from_config(cls, monitor: Any) -> MonitorRule:
        return cls(
            bool(monitor.enable_trigger_monitors),
            float(monitor.global_trigger_limit),
            bool(monitor.monitor_user_keys),
            bool(monitor.monitor_org_keys),
        )

    def skip(self, kind: str) -> str | None:
        """Why records of this kind are not watched (an IGNORE_REASONS label), or None."""
        if not self.enabled:
            return DISABLED
        if kind == KEY:
            return None if self.user_keys else USER_KEYS_OFF
        return None if self.org_keys else ORG_KEYS_OFF


def evaluate(state: QuotaState, table: Table, now: float, global_limit: float) -> Fire | None:
    """The fire for this record, if any: the first quota (own, then access rights) whose
    table entry fires. The table's state changes (the level is marked fired)."""
    limits = state.limits
    for q in state.quotas:
        r = table.evaluate(
            q.state_key, q.quota_max, q.remaining, q.renews, now, global_limit, limits, q.renewing
        )
        if r is not None:
            return Fire(q, r[0], r[1])
    return None


# -- the TriggerExceeded Meta, as Go's json.Marshal writes EventTriggerExceededMeta -----------


def go_int64(x: float) -> int:
    """Go's int64(f) for the values the monitor produces: truncation toward zero."""
    if not math.isfinite(x):
        return INT64_MIN  # what amd64 gives for NaN/Inf; unreachable with checked input
    return max(INT64_MIN, min(INT64_MAX, int(x)))


def trigger_meta(org_id: str, key: str, level: float, usage: float) -> bytes:
    """EventTriggerExceededMeta JSON: Message, OriginatingRequest, org_id, key, trigger_limit,
    usage_percentage (both int64, truncated as Tyk's int64() conversion does)."""
    return "".join(
        (
            '{"Message":"',
            TRIGGER_MESSAGE,
            '","OriginatingRequest":"","org_id":',
            go_marshal(org_id),
            ',"key":',
            go_marshal(key),
            ',"trigger_limit":',
            str(go_int64(level)),
            ',"usage_percentage":',
            str(go_int64(usage)),
            "}",
        )
    ).encode()
