"""One accepted webhook delivery, and its JSON form (dead letters, spool)."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import orjson

from tykevents.deliver.webhook.request import RequestPlan, header_from_items, header_items


def new_id() -> str:
    """Sortable unique id: time in ms, then random bits."""
    return f"{time.time_ns() // 1_000_000:013x}-{os.urandom(5).hex()}"


# Log ids are made 256 at a time from one os.urandom call: a getrandom() syscall per
# delivery was one of the seven syscalls a webhook made (docs/operations.md#syscalls).
_IDS_PER_DRAW = 256
_ids: list[str] = []
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122: 10xx


def _draw_ids() -> None:
    h = os.urandom(16 * _IDS_PER_DRAW).hex()
    _ids.extend(
        [
            h[a : a + 12] + "4" + h[a + 13 : a + 16] + _VARIANT[h[a + 16]] + h[a + 17 : a + 32]
            for a in range(0, len(h), 32)
        ]
    )


# A forked worker must not hand out ids its parent drew (the parent may hand them out too).
os.register_at_fork(after_in_child=_ids.clear)


def new_log_id() -> str:
    """A delivery's id in the delivery log (and the Standard Webhooks `webhook-id`): a uuid4
    in hex (version 4, RFC 4122 variant), built by hand (uuid.uuid4() costs several times
    more, per delivery)."""
    try:
        return _ids.pop()
    except IndexError:
        _draw_ids()
        return _ids.pop()


class Delivery:
    """A request to send: the handler's plan (method, URL, headers) plus this event's body."""

    __slots__ = (
        "plan",
        "body",
        "kind",
        "handler",
        "api_id",
        "attempts",
        "created",
        "error",
        "status",
        "spool_id",
        "id",
        "event",
        "log_id",
    )

    def __init__(
        self,
        plan: RequestPlan,
        body: bytes,
        *,
        kind: str = "webhook",
        handler: str = "",
        api_id: str = "",
        event: str = "",
    ) -> None:
        self.plan = plan
        self.body = body
        self.kind = kind
        self.handler = handler
        self.api_id = api_id
        self.attempts = 0
        self.created = time.time()
        self.error = ""  # the last attempt's error, Go-style
        self.status: int | None = None  # the last HTTP status, if any
        self.spool_id: str | None = None  # stream entry id when spooled in Redis
        self.id: str | None = None  # given when stored (dead letter, spool)
        self.event = event  # the event type, for the delivery log's filters
        # The delivery log's id (uuid4 hex), given when accepted and kept through the spool,
        # dead letters and replays: one id for every attempt (docs/webhooks.md#delivery-log).
        self.log_id: str | None = None

    @property
    def host(self) -> str:
        return self.plan.host_key

    def to_record(self) -> dict[str, Any]:
        """The full request plus what happened to it. Bodies may hold API keys: the record
        goes to the operator's own storage, never to logs."""
        if self.id is None:
            self.id = new_id()
        return {
            "id": self.id,
            "time": time.time(),
            "created": self.created,
            "kind": self.kind,
            "handler": self.handler,
            "api_id": self.api_id,
            "method": self.plan.method,
            "url": self.plan.url,
            "headers": header_items(self.plan.header),
            "body": base64.b64encode(self.body).decode("ascii"),
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
            "event": self.event,
            "log_id": self.log_id,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any], plans: dict[Any, RequestPlan] | None = None) -> Delivery:
        """Rebuild a delivery; `plans` caches request plans (spooled deliveries of one
        handler share theirs)."""
        key = (rec["method"], rec["url"], orjson.dumps(rec.get("headers") or []))
        plan = plans.get(key) if plans is not None else None
        if plan is None:
            plan = RequestPlan(
                str(rec["method"]), str(rec["url"]), header_from_items(rec.get("headers") or [])
            )
            if plans is not None:
                if len(plans) > 4096:
                    plans.clear()
                plans[key] = plan
        d = cls(
            plan,
            base64.b64decode(rec.get("body") or ""),
            kind=str(rec.get("kind") or "webhook"),
            handler=str(rec.get("handler") or ""),
            api_id=str(rec.get("api_id") or ""),
            event=str(rec.get("event") or ""),
        )
        d.log_id = str(rec["log_id"]) if rec.get("log_id") else None
        d.id = rec.get("id")
        d.attempts = int(rec.get("attempts") or 0)
        d.created = float(rec.get("created") or rec.get("time") or time.time())
        d.error = str(rec.get("error") or "")
        d.status = rec.get("status")
        return d

    def __repr__(self) -> str:  # the body may hold keys: never print it
        return f"Delivery({self.plan.method} {self.host} handler={self.handler!r} attempts={self.attempts})"
