"""MonitorService: the quota monitor's side effects (docs/monitor.md).

The pipeline hands every quota record to `sink` (its quota_sink), synchronously:
- a record that carries its Session is decoded and evaluated right there (a few µs, no I/O,
  tykevents.monitor.rule + the compiled ThresholdTable); only a fire leaves the ingest path;
- a key-only record (no Session) becomes a lookup task: the session is read from the session
  store (Tyk's Redis layout, or memory), cached for `session_ttl` seconds, then evaluated.
Fires and lookups run on the "monitor" lane (tykevents.work). A fire, with Redis configured,
first claims its level in Redis (tykevents.monitor.shared: check-and-add to the set of
levels fired in the quota period), so that two instances never fire the same level twice; then the
TriggerExceeded event goes to the monitor webhook (built by tykevents.handlers from tyk.conf
`monitor.configuration` with the webhook machinery, once per generation), and to nothing else,
as in Tyk (docs/monitor.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from tykevents.deliver.base import APIInfo, Handler, HandlerConfigError, HandlerContext, HandlerServices
from tykevents.golang.time import go_time_string
from tykevents.model import Event
from tykevents.monitor import rule
from tykevents.monitor.rule import MonitorRule, QuotaState, RecordError
from tykevents.monitor.shared import FIRE, FIRED, NONRENEWING_TTL, SHARED_PREFIX, SharedLevels
from tykevents.runtime.keys import obfuscate_key
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.runtime.workers import current as current_worker
from tykevents.work import CallRunner

if TYPE_CHECKING:
    from tykevents.config import Config
    from tykevents.deliver.webhook.service import WebhookService
    from tykevents.model import Record
    from tykevents.work import Lanes

logger = logging.getLogger("tykevents.monitor")
_ratelog = RateLimitedLog(logger)

# SHARED_PREFIX (the Redis key prefix) stays importable from here, with the service.
__all__ = ["NONRENEWING_TTL", "SHARED_PREFIX", "MonitorService", "MonitorStats", "build_monitor_webhook"]


class MonitorStats:
    def __init__(self) -> None:
        self.records: defaultdict[str, int] = defaultdict(int)
        self.rejected: defaultdict[str, int] = defaultdict(int)
        self.ignored: defaultdict[str, int] = defaultdict(int)
        self.ignored_limits = 0  # records with trigger limits outside (0, 100]
        self.fired = 0  # levels the evaluator fired
        self.sent = 0  # TriggerExceeded events handed to the monitor webhook
        self.shared_suppressed = 0  # another instance had fired the level (Redis)
        self.shared_errors = 0  # Redis failed: fired anyway
        self.lookups: defaultdict[str, int] = defaultdict(int)  # store | cache


def build_monitor_webhook(cfg: Config, webhooks: WebhookService | None, check_only: bool = False) -> Handler:
    """Tyk's monitor Init: a WebHookHandler from tyk.conf `monitor.configuration` (its
    template falls back to the default one, as Tyk's does). Raises HandlerConfigError."""
    from tykevents.deliver.webhook.handler import build_webhook_handler

    if webhooks is None and not check_only:
        raise HandlerConfigError("no webhook delivery service")
    c = cfg.monitor.configuration
    meta = {
        "name": "monitor",
        "method": c.method,
        "target_path": c.target_path,
        "template_path": c.template_path,
        "header_map": dict(c.header_map),
        "event_timeout": c.event_timeout,
    }
    source = cfg.source or "tyk.conf"
    ctx = HandlerContext(
        config=cfg,
        api=APIInfo("", "", "monitor", source),
        where=f"{source}:$.monitor.configuration",
        services=HandlerServices(webhooks=webhooks, check_only=check_only),
    )
    return build_webhook_handler(meta, ctx)


class MonitorService:
    def __init__(
        self,
        *,
        webhooks: Any = None,
        sessions: Any = None,
        redis: Any = None,
        table: Any = None,
        session_ttl: float = 1.0,
        session_cache_max: int = 100_000,
        nonrenewing_ttl: int = NONRENEWING_TTL,
        started_ns: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if table is None:
            from tykevents._fast.shared import shared_thresholds
            from tykevents._fast.thresholds import ThresholdTable

            # A supervisor's workers share one table (tykevents._fast.shared), else private.
            table = shared_thresholds()
            # A shared table's purge pauses every worker while it scans: one worker does it.
            self._purges = table is None or current_worker().first
            if table is None:
                table = ThresholdTable()
        else:
            self._purges = True
        self.table = table
        self.webhooks = webhooks
        self.sessions = sessions  # an async session store (tykevents.store.sessions)
        self.redis = redis  # shared fired state; None = this instance only
        self.session_ttl = session_ttl
        self.session_cache_max = session_cache_max
        self.nonrenewing_ttl = nonrenewing_ttl
        self.started_ns = time.monotonic_ns() if started_ns is None else started_ns
        self.clock = clock
        self.stats = MonitorStats()
        self.rule = MonitorRule()
        self._skip: dict[str, str | None] = dict.fromkeys(rule.KINDS, rule.DISABLED)
        self.handler: Handler | None = None  # the monitor webhook
        self.lanes: Lanes | None = None
        self._calls = CallRunner("monitor (tyk.conf:$.monitor)")
        self._shared = SharedLevels(redis, nonrenewing_ttl) if redis is not None else None
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._next_purge = 0.0

    # -- wiring -------------------------------------------------------------------------------
    def configure(self, cfg: Config, handler: Handler | None) -> None:
        """A generation goes live: its tyk.conf `monitor` rule and the monitor webhook that
        tykevents.handlers built with it (None when the monitor is off or its webhook failed
        to build: that failure is one of the generation's problems, reported with its path)."""
        new_rule = MonitorRule.from_config(cfg.monitor)
        if new_rule.enabled:
            if handler is None:
                logger.error(
                    "the quota monitor has no webhook: quota records are counted as "
                    'rejected (tykevents_monitor_rejected_total{reason="monitor_unavailable"})'
                )
            else:
                logger.info(
                    "quota monitor on: global limit %g, user keys %s, org keys %s, shared state %s",
                    new_rule.global_limit,
                    new_rule.user_keys,
                    new_rule.org_keys,
                    "redis" if self.redis is not None else "in memory",
                )
        else:
            logger.info("quota monitor off (monitor.enable_trigger_monitors is false)")
        self.rule, self.handler = new_rule, handler
        self._skip = {kind: new_rule.skip(kind) for kind in rule.KINDS}

    def attach(self, lanes: Lanes) -> None:
        self.lanes = lanes

    # -- the ingest path (synchronous, never raises) --------------------------------------------
    def sink(self, rec: Record) -> bool:
        """The pipeline's quota_sink. False only when the monitor is off (the pipeline says so)."""
        try:
            return self._sink(rec)
        except Exception:  # a bug must cost this record only, never the rest of the datagram
            self.stats.rejected[rule.INTERNAL_ERROR] += 1
            _ratelog.log(logging.ERROR, "internal", "quota record: internal error", exc_info=True)
            return True

    def _sink(self, rec: Record) -> bool:
        kind = rec.Kind
        st = self.stats
        st.records[kind] += 1
        skip = self._skip.get(kind, rule.DISABLED)
        if skip is not None:
            st.ignored[skip] += 1
            return skip != rule.DISABLED
        if self.handler is None:
            self._reject(
                rule.MONITOR_UNAVAILABLE, "the monitor webhook is not initialised (see the start log)"
            )
            return True
        ident = rec.Key if kind == rule.KEY else rec.OrgID
        if rec.Session is None:
            if not ident:
                self._reject(
                    rule.MISSING_KEY,
                    f"a {kind} record without {'Key' if kind == rule.KEY else 'OrgID'} nor Session",
                )
            else:
                org_hint = rec.OrgID
                self._offer(partial(self._lookup_and_evaluate, kind, ident, org_hint))
            return True
        try:
            session = rule.decode_session(rec.Session)
            if kind == rule.ORG and not ident:
                ident = session.org_id or ""
            if not ident:
                raise RecordError(
                    rule.MISSING_KEY, f"a {kind} record without {'Key' if kind == rule.KEY else 'OrgID'}"
                )
            state = rule.quota_state(kind, ident, rec.OrgID, session)
        except RecordError as e:
            self._reject(e.reason, e.detail, rec.Key)
            return True
        self._evaluate(state)
        return True

    def _evaluate(self, state: QuotaState) -> None:
        st = self.stats
        if state.ignored_limits:
            st.ignored_limits += 1
            _ratelog.log(
                logging.WARNING,
                "ignored_limits",
                "trigger limits %s of %s are not levels (a level is in (0, 100]): ignored",
                list(state.ignored_limits),
                _who(state),
            )
        if not state.quotas:
            st.ignored[rule.NO_QUOTA] += 1
            return
        now = self.clock()
        if now >= self._next_purge and self._purges:
            self._next_purge = now + 60.0
            self.table.purge(now)
        fire = rule.evaluate(state, self.table, now, self.rule.global_limit)
        if fire is None:
            return
        st.fired += 1
        if not self._offer(partial(self._fire, state, fire, now)):
            # Not sent: forget the key's state so that its next record fires the level again.
            self.table.forget(fire.quota.state_key)

    def _offer(self, call: Callable[[], Awaitable[None]]) -> bool:
        if self.lanes is None or not self.lanes["monitor"].offer(self._calls, call):
            self._reject(rule.LANE_FULL, "the monitor lane is full (tykevents.lanes.monitor_queue)")
            return False
        return True

    def _reject(self, reason: str, detail: str, key: str = "") -> None:
        self.stats.rejected[reason] += 1
        who = f" (key {obfuscate_key(key)})" if key else ""
        _ratelog.log(
            logging.WARNING, "reject-" + reason, "quota record rejected (%s): %s%s", reason, detail, who
        )

    # -- the monitor lane ---------------------------------------------------------------------------
    async def _lookup_and_evaluate(self, kind: str, ident: str, org_hint: str) -> None:
        try:
            session = await self._session(kind, ident)
            if session is None:
                what = "key" if kind == rule.KEY else "organisation"
                raise RecordError(rule.UNKNOWN_KEY, f"no session in the store for this {what}")
            state = rule.quota_state(kind, ident, org_hint, session)
        except RecordError as e:
            self._reject(e.reason, e.detail, ident if kind == rule.KEY else "")
            return
        self._evaluate(state)

    async def _session(self, kind: str, ident: str) -> Any:
        """The session of a key or org from the store, cached for session_ttl seconds (misses
        too); concurrent lookups of one key share one read. Raises RecordError."""
        ck = (kind, ident)
        now = time.monotonic()
        hit = self._cache.get(ck)
        if hit is not None and hit[0] > now:
            self.stats.lookups["cache"] += 1
            return _result(hit[1])
        fut = self._inflight.get(ck)
        if fut is not None:
            self.stats.lookups["cache"] += 1
            return _result(await asyncio.shield(fut))
        fut = asyncio.get_running_loop().create_future()
        self._inflight[ck] = fut
        try:
            value = await self._read(kind, ident)
        except BaseException:  # cancelled (shutdown): waiters get an error, not a hang
            fut.set_result(RecordError(rule.STORE_ERROR, "session lookup cancelled"))
            raise
        finally:
            del self._inflight[ck]
        fut.set_result(value)
        if len(self._cache) >= self.session_cache_max:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.session_cache_max:
                self._cache.clear()
        self._cache[ck] = (now + self.session_ttl, value)
        return _result(value)

    async def _read(self, kind: str, ident: str) -> Any:
        self.stats.lookups["store"] += 1
        if self.sessions is None:
            return RecordError(rule.UNKNOWN_KEY, "a record without Session, and no session store")
        try:
            if kind == rule.KEY:
                doc = await self.sessions.get_session_detail(ident)
            else:
                doc = await self.sessions.get_org_session(ident)
        except Exception as e:  # Redis down, timeouts: this record only
            return RecordError(rule.STORE_ERROR, f"session store: {type(e).__name__}: {e}")
        if doc is None:
            return None
        try:
            return rule.session_from_doc(doc)
        except RecordError as e:
            return e

    async def _fire(self, state: QuotaState, fire: rule.Fire, now: float) -> None:
        if self._shared is not None and not await self._claim_level(self._shared, fire, now):
            return
        handler = self.handler
        if handler is None:  # a reload broke the webhook since the record was evaluated
            self._reject(rule.MONITOR_UNAVAILABLE, "the monitor webhook is not initialised")
            return
        await handler.handle(self.trigger_event(state.org_id, state.key, fire.level, fire.usage))
        self.stats.sent += 1

    async def _claim_level(self, shared: SharedLevels, fire: rule.Fire, now: float) -> bool:
        """Check-and-add of the level in the quota period's fired set in Redis: True if this
        instance fires."""
        q = fire.quota
        try:
            outcome, stored = await shared.claim(q.state_key, q.period, q.renews, fire.level, fire.usage, now)
        except Exception as e:  # a duplicate alert beats a lost one
            self.stats.shared_errors += 1
            _ratelog.log(
                logging.ERROR, "shared", "monitor: shared state in Redis failed, firing anyway: %s", e
            )
            return True
        if outcome == FIRE:
            return True
        # Fired by another instance (or a record of an earlier period). The local table keeps
        # only what this instance evaluated: it holds this level already, and learning the
        # other instance's higher levels would make it skip lower ones that its own later
        # records may still be the first to cross (docs/monitor.md, several instances).
        self.stats.shared_suppressed += 1
        logger.debug(
            "monitor: level %g of quota %016x not fired here: %s (shared %r)",
            fire.level,
            q.state_key,
            "fired by another instance" if outcome == FIRED else "a record of an earlier period",
            stored,
        )
        return False

    def trigger_event(self, org_id: str, key: str, level: float, usage: float) -> Event:
        """Tyk's Fire: TriggerExceeded with EventTriggerExceededMeta, TimeStamp from
        time.Now().String() (local time, with the ` m=+<s since start>` reading)."""
        ts = go_time_string(monotonic_ns=time.monotonic_ns() - self.started_ns)
        return Event("TriggerExceeded", rule.trigger_meta(org_id, key, level, usage), ts, "", org_id)

    # -- metrics --------------------------------------------------------------------------------------
    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.stats
        c = CounterMetricFamily(
            "tykevents_monitor_records", "Quota records seen by the monitor", labels=["kind"]
        )
        for k in rule.KINDS:
            c.add_metric([k], s.records.get(k, 0))
        yield c
        c = CounterMetricFamily(
            "tykevents_monitor_rejected", "Quota records that could not be evaluated", labels=["reason"]
        )
        for r in rule.REJECT_REASONS:
            c.add_metric([r], s.rejected.get(r, 0))
        yield c
        c = CounterMetricFamily(
            "tykevents_monitor_ignored", "Valid quota records not watched", labels=["reason"]
        )
        for r in rule.IGNORE_REASONS:
            c.add_metric([r], s.ignored.get(r, 0))
        yield c
        yield CounterMetricFamily(
            "tykevents_monitor_ignored_limits",
            "Records with trigger limits outside (0, 100] (those limits are ignored)",
            value=s.ignored_limits,
        )
        yield CounterMetricFamily("tykevents_monitor_fired", "Levels the evaluator fired", value=s.fired)
        yield CounterMetricFamily(
            "tykevents_monitor_sent", "TriggerExceeded events handed to the monitor webhook", value=s.sent
        )
        yield CounterMetricFamily(
            "tykevents_monitor_shared_suppressed",
            "Levels another instance had fired (Redis)",
            value=s.shared_suppressed,
        )
        yield CounterMetricFamily(
            "tykevents_monitor_shared_errors",
            "Redis failures of the shared state (the level fired anyway)",
            value=s.shared_errors,
        )
        c = CounterMetricFamily(
            "tykevents_monitor_session_lookups", "Sessions read for key-only records", labels=["source"]
        )
        for k in ("store", "cache"):
            c.add_metric([k], s.lookups.get(k, 0))
        yield c
        yield GaugeMetricFamily(
            "tykevents_monitor_tracked_quotas", "Quotas with threshold state in memory", value=len(self.table)
        )


def _result(value: Any) -> Any:
    if isinstance(value, RecordError):
        raise value
    return value


def _who(state: QuotaState) -> str:
    return f"key {obfuscate_key(state.key)}" if state.kind == rule.KEY else f"organisation {state.org_id!r}"
