"""Stages 2-4 glued for the hot path: bytes -> records -> routed handler calls on lanes.

Every ingest transport hands its bytes to one Pipeline. `feed` is synchronous and never
raises: a bad record is counted and logged (rate-limited) and the rest of the batch goes on;
even a bug met while routing one record costs that record only (INTERNAL, with a traceback).
It returns the calls that found their lane full, so that lossless transports can wait for
room (backpressure) while datagram transports count them as dropped.

Accounting, per record offered (a non-blank line, or any line over max_record): it is
either rejected before it is routed (`rejected[reason]` for a decode-stage reason) or counted
in `records`; of those, the ones without a usable Type or Kind are rejected too
(MISSING_TYPE, UNKNOWN_KIND) and the others are `events` or `quota_records`. So offered =
events + quota_records + the rejects that are not META_TYPE (a handler's verdict on an event
already counted).

The per-record loop (split, decode, look up, count) is tykevents._fast.ingest: compiled when
built, with a pure twin that is its specification. It inlines `route` for the common record
and calls back here for the rest (untyped, unknown_api, dispatch, reject, oversized).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tykevents._fast.ingest import IngestLoop
from tykevents.decode import (
    INTERNAL,
    MISSING_TYPE,
    OVERSIZED,
    SHALLOW,
    UNKNOWN_KIND,
    decode,
    decode_checked,
    decode_one,
    failure,
)
from tykevents.model import Event, Record
from tykevents.route import RouteTable
from tykevents.runtime.ratelog import RateLimitedLog

if TYPE_CHECKING:
    from tykevents.deliver.base import Handler
    from tykevents.runtime.metrics import Stats
    from tykevents.work import Lanes

logger = logging.getLogger("tykevents.ingest")

Parked = list[tuple["Handler", Event]]


class Pipeline:
    def __init__(self, routes: RouteTable, lanes: Lanes, stats: Stats, max_record: int) -> None:
        self.routes = routes  # replaced as a whole on reload
        self.lanes = lanes
        self.stats = stats
        self.max_record = max_record
        self.quota_sink: Callable[[Record], bool] | None = None  # the monitor stage, if enabled
        self.ratelog = RateLimitedLog(logger)
        self._loop = IngestLoop(self, decode, decode_one, decode_checked, failure, SHALLOW, RouteTable.lookup)

    def reject(self, reason: str, detail: str) -> None:
        self.stats.rejected[reason] += 1
        self.ratelog.log(logging.WARNING, reason, "rejected record (%s): %s", reason, detail)

    def feed(self, data: bytes, transport: str, lossless: bool = False, count: bool = True) -> Parked:
        """Decode and route everything in `data`. Returns the calls that did not fit.
        `count=False`: the transport counts its own units (an HTTP body fed in slices)."""
        return self._loop.chunk(data, transport, lossless, count)

    def feed_parts(self, head: bytes, data: bytes, end: int, transport: str) -> Parked:
        """feed(head + data[:end], transport, lossless=True) without joining them first: a
        stream read whose first line began in an earlier read (`head`, without a newline)."""
        return self._loop.parts(head, data, end, transport, True)

    def feed_datagrams(self, batch: list[bytes], transport: str) -> None:
        """The datagram hot path: one recvmmsg batch, each datagram one or more records."""
        self._loop.datagrams(batch, transport)

    def route_failed(self, transport: str) -> None:
        """A bug met while routing one record: count it, log the traceback, go on."""
        self.stats.rejected[INTERNAL] += 1
        self.ratelog.log(
            logging.ERROR, INTERNAL, "internal error routing a record from %s", transport, exc_info=True
        )

    def oversized(self, size: int, transport: str) -> None:
        """A record over max_record_bytes, rejected alone."""
        self.reject(OVERSIZED, f"a record of {size} bytes on {transport} (limit {self.max_record})")

    def unknown_api(self, typ: str, api_id: str) -> None:
        self.stats.unknown_api += 1
        self.ratelog.log(logging.INFO, "unknown_api", "event %.40s for unknown API id %.40r", typ, api_id)

    def route(self, rec: Record, parked: Parked, lossless: bool) -> None:
        """One record. The common case, an event matching no handler, costs two dict
        lookups; the rest of the record is read only once a handler wants it."""
        stats = self.stats
        stats.records += 1
        typ = rec.Type
        if not typ:
            self.untyped(rec, parked, lossless)
            return
        stats.events += 1
        api_id = rec.APIID
        handlers = self.routes.lookup(api_id, typ)
        if handlers is None:
            self.unknown_api(typ, api_id)
            return
        if not handlers:
            stats.no_handler += 1
            return
        self.dispatch(handlers, typ, rec.Meta, rec.TimeStamp, api_id, rec.OrgID, parked, lossless)

    def untyped(self, rec: Record, parked: Parked, lossless: bool) -> None:
        """A record without Type: Tyk's coprocess envelope, another Kind, or an error."""
        env = rec.message
        if env is None or not env.Type:
            if rec.Kind:
                self._other_kind(rec)
            else:
                self.reject(MISSING_TYPE, "record has no Type (nor a coprocess `message`)")
            return
        api_id, org = (rec.spec.APIID, rec.spec.OrgID) if rec.spec is not None else ("", "")
        stats = self.stats
        stats.events += 1
        handlers = self.routes.lookup(api_id, env.Type)
        if handlers is None:
            self.unknown_api(env.Type, api_id)
            return
        if not handlers:
            stats.no_handler += 1
            return
        self.dispatch(handlers, env.Type, env.Meta, env.TimeStamp, api_id, org, parked, lossless)

    def dispatch(
        self,
        handlers: tuple[Handler, ...],
        typ: str,
        meta: object,
        ts: str,
        api_id: str,
        org: str,
        parked: Parked,
        lossless: bool,
    ) -> None:
        self.stats.routed += 1
        if not ts:  # the gateway sent none: stamp it as Tyk would have (local time.String())
            from tykevents.golang.time import go_time_string  # only now: a heavy package

            ts = go_time_string()
        event = Event(typ, meta, ts, api_id, org)  # type: ignore[arg-type]
        lanes = self.lanes
        for h in handlers:
            if not lanes[h.kind].offer(h, event):
                if lossless:
                    parked.append((h, event))  # the transport waits for room
                else:
                    self.stats.dropped[h.kind] += 1
                    self.ratelog.log(
                        logging.WARNING,
                        "drop-" + h.kind,
                        "lane %s is full: dropping handler calls (tykevents_dropped_total)",
                        h.kind,
                    )

    def _other_kind(self, rec: Record) -> None:
        if rec.Kind in ("quota", "org_quota"):
            self.stats.quota_records += 1
            if self.quota_sink is None or not self.quota_sink(rec):
                self.ratelog.log(
                    logging.INFO, "quota_off", "quota record received but the monitor is not enabled"
                )
            return
        self.reject(UNKNOWN_KIND, f"unknown record Kind {rec.Kind[:40]!r}")

    async def put_parked(self, parked: Parked) -> None:
        """Wait for room for each parked call, in order (lossless transports)."""
        for h, event in parked:
            await self.lanes[h.kind].put(h, event)
