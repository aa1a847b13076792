"""eh_log_handler and OAS `log` handlers (docs/compatibility.md#log-handler).

Tyk logs `<prefix>:<Type>` at WARNING. Since v5.8 its richer LogMessage detail is lost to a
pointer-receiver bug (K6 in docs/compatibility.md); by default we write the detail Tyk
intended, with keys obfuscated unless `enable_key_logging`. `log_detail: "tyk"` gives Tyk's
exact line.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from tykevents.deliver.base import Handler, HandlerConfigError, HandlerContext, HandlerDisabled
from tykevents.golang.json import GoJSONError, json_kind, scan
from tykevents.model import Event, MetaTypeError
from tykevents.runtime.keys import obfuscate_key

logger = logging.getLogger("tykevents.handler.log")

# Events whose Meta is EventKeyFailureMeta / EventCurcuitBreakerMeta (docs/protocol.md#meta-by-event).
KEY_FAILURE_EVENTS = frozenset(
    {
        "QuotaExceeded",
        "RatelimitExceeded",
        "RateLimitSmoothingUp",
        "RateLimitSmoothingDown",
        "AuthFailure",
        "KeyExpired",
        "OrgQuotaExceeded",
        "OrgRateLimitExceeded",
    }
)
BREAKER_EVENTS = frozenset({"BreakerTriggered", "BreakerTripped", "BreakerReset"})


@dataclasses.dataclass
class LogEventHandlerConf:
    disabled: bool = False
    prefix: str = ""


_KEY_META = "EventKeyFailureMeta"
_BREAKER_META = "EventCurcuitBreakerMeta"  # sic, Tyk's spelling


def _str_field(meta: dict[str, Any], name: str, struct: str) -> str:
    v = meta.get(name, "")
    if v is None:
        return ""
    if not isinstance(v, str):
        raise MetaTypeError(name, "string", json_kind(v), struct)
    return v


class LogHandler(Handler):
    kind = "log"

    def __init__(self, conf: LogEventHandlerConf, where: str, detail: bool, show_keys: bool):
        super().__init__(name=conf.prefix or "log", where=where)
        self.prefix = conf.prefix
        self.detail = detail
        self.show_keys = show_keys

    def line(self, event: Event) -> str:
        msg = f"{self.prefix}:{event.type}"
        if not self.detail or (event.type not in KEY_FAILURE_EVENTS and event.type not in BREAKER_EVENTS):
            return msg
        meta = event.meta()
        struct = _KEY_META if event.type in KEY_FAILURE_EVENTS else _BREAKER_META
        if not isinstance(meta, dict):
            if meta is None:
                return msg
            raise MetaTypeError("Meta", f"gateway.{struct}", json_kind(meta))
        if struct == _KEY_META:
            key = obfuscate_key(_str_field(meta, "Key", struct), self.show_keys)
            return f"{msg}:{key}:{_str_field(meta, 'Origin', struct)}:{_str_field(meta, 'Path', struct)}"
        status = meta.get("CircuitEvent", 0)
        if isinstance(status, bool) or not isinstance(status, int):
            got = f"number {status!r}" if isinstance(status, float) else json_kind(status)
            raise MetaTypeError("CircuitEvent", "circuit.BreakerEvent", got, struct)
        return (
            f"{msg}:{_str_field(meta, 'APIID', struct)}:{_str_field(meta, 'Path', struct)}: [STATUS] {status}"
        )

    async def handle(self, event: Event) -> None:
        try:
            line = self.line(event)
        except MetaTypeError:
            # Still say that the event happened; the worker counts the bad Meta.
            logger.warning("%s:%s", self.prefix, event.type, extra={"api_id": event.api_id})
            raise
        logger.warning(line, extra={"api_id": event.api_id})


def build_log_handler(meta: Any, ctx: HandlerContext) -> LogHandler:
    try:
        conf = scan(meta, LogEventHandlerConf, "apidef.LogEventHandlerConf")
    except GoJSONError as e:
        raise HandlerConfigError(f"Problem getting configuration, skipping. {e}") from None
    if conf.disabled:
        raise HandlerDisabled(f"skipping disabled log event handler with prefix {conf.prefix}")
    cfg = ctx.config
    return LogHandler(
        conf,
        ctx.where,
        detail=cfg.tykevents.log_detail == "intended",
        show_keys=cfg.enable_key_logging,
    )
