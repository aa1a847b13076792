"""A spooled delivery's record, written and read without per-entry Python work.

The record is Delivery.to_record()'s (same keys, same order, same JSON types) less the keys
whose value Delivery.from_record() assumes when they are missing (no status, no error, zero
attempts, kind "webhook", ...) and `time` (when stored, which from_record() reads only
without `created`): about a fifth fewer bytes for Redis to copy, and instances of any version
read each other's entries during a rolling upgrade. It is written with msgspec (the body's
base64 in C, each request plan's headers encoded once and reused) and read with msgspec into
a typed struct; an entry that struct does not fit (another writer, a hand-made entry) is read
the old way, with Delivery.from_record().
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import orjson

from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.request import RequestPlan, header_from_items, header_items

_CACHE = 4096  # plans remembered per spool (one per handler and target, in practice)


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Delivery.to_record()'s fields, in its order; None is written as nothing. gc=False: it
    holds no containers, and untracked structs decode about twice as fast."""

    id: str | None = None
    time: float | None = None
    created: float | None = None
    kind: str | None = None
    handler: str | None = None
    api_id: str | None = None
    method: str
    url: str
    headers: msgspec.Raw = msgspec.Raw(b"[]")
    body: bytes | None = None
    attempts: int | None = None
    status: int | None = None
    error: str | None = None
    event: str | None = None
    log_id: str | None = None


class Codec:
    """Encodes and decodes records; caches request plans both ways."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(_Record)
        self._headers: dict[int, tuple[RequestPlan, msgspec.Raw]] = {}  # id(plan) -> its headers' JSON
        self.plans: dict[Any, RequestPlan] = {}  # (method, url, headers' JSON) -> plan

    def encode(self, d: Delivery) -> bytes:
        """The record of `d`; `d.id` must be set (give_ids())."""
        plan = d.plan
        cached = self._headers.get(id(plan))
        if cached is None or cached[0] is not plan:
            if len(self._headers) >= _CACHE:
                self._headers.clear()
            cached = self._headers[id(plan)] = (plan, msgspec.Raw(orjson.dumps(header_items(plan.header))))
        return self._encoder.encode(
            _Record(
                id=d.id,
                created=d.created,
                kind=None if d.kind == "webhook" else d.kind,
                handler=d.handler or None,
                api_id=d.api_id or None,
                method=plan.method,
                url=plan.url,
                headers=cached[1],
                body=d.body or None,
                attempts=d.attempts or None,
                status=d.status,
                error=d.error or None,
                event=d.event or None,
                log_id=d.log_id,
            )
        )

    @staticmethod
    def give_ids(batch: list[Delivery], now: float) -> None:
        """Delivery ids (delivery.new_id()'s form: ms, then random bits) for those without,
        with one random read for the batch instead of one per delivery."""
        rand = os.urandom(5 * len(batch)).hex()
        ms = f"{int(now * 1000):013x}-"
        for i, d in enumerate(batch):
            if d.id is None:
                d.id = ms + rand[i * 10 : i * 10 + 10]

    def decode(self, raw: bytes) -> Delivery:
        """Raises ValueError, KeyError or TypeError for an unreadable record."""
        try:
            rec = self._decoder.decode(raw)
        except msgspec.ValidationError:
            return Delivery.from_record(orjson.loads(raw), self.plans)  # not our exact types
        except msgspec.DecodeError as e:
            raise ValueError(str(e)) from None
        headers = bytes(rec.headers)
        key = (rec.method, rec.url, headers)
        plan = self.plans.get(key)
        if plan is None:
            plan = RequestPlan(rec.method, rec.url, header_from_items(orjson.loads(headers) or []))
            if len(self.plans) > _CACHE:
                self.plans.clear()
            self.plans[key] = plan
        d = Delivery(
            plan,
            rec.body or b"",
            kind=rec.kind or "webhook",
            handler=rec.handler or "",
            api_id=rec.api_id or "",
            event=rec.event or "",
        )
        d.log_id = rec.log_id or None
        d.id = rec.id
        d.attempts = rec.attempts or 0
        d.created = rec.created or rec.time or d.created
        d.error = rec.error or ""
        d.status = rec.status
        return d
