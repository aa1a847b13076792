"""Stage 3: (APIID, event type) -> handlers, compiled once per configuration generation.

The table is a dict of dicts (api id -> event type -> tuple of handlers) so the per-event
lookup allocates nothing. Global handlers from tyk.conf sit under api id "": events that
carry no APIID are system events (Token*, coprocess-triggered), the only ones Tyk sends to
global handlers (spec 1.4, K10). A reload builds a new table and swaps it in one assignment.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from tykevents.apps import APIDefinition, HandlerEntry, Problem, classic_entries
from tykevents.config import Config
from tykevents.deliver.base import APIInfo, BuildContext, Handler, HandlerConfigError, HandlerDisabled

logger = logging.getLogger("tykevents.route")

# handler_name -> "module:function". Imported when first used, so that a daemon with only log
# handlers never loads the template engine or QuickJS.
BUILDERS = {
    "eh_log_handler": "tykevents.deliver.log:build_log_handler",
    "eh_web_hook_handler": "tykevents.deliver.webhook.handler:build_webhook_handler",
    "eh_dynamic_handler": "tykevents.deliver.jsvm.handler:build_js_handler",
}


def _builder(handler_name: str) -> Any:
    mod, _, fn = BUILDERS[handler_name].partition(":")
    return getattr(importlib.import_module(mod), fn)


@dataclass
class RouteTable:
    by_api: dict[str, dict[str, tuple[Handler, ...]]] = field(default_factory=dict)
    handlers: list[Handler] = field(default_factory=list)
    apis: list[APIDefinition] = field(default_factory=list)

    def lookup(self, api_id: str, event_type: str) -> tuple[Handler, ...] | None:
        """None when the API is unknown; () when it is known but has no handler for the event."""
        by_type = self.by_api.get(api_id)
        if by_type is None:
            return None
        return by_type.get(event_type, ())

    async def close(self) -> None:
        for h in self.handlers:
            try:
                await h.close()
            except Exception:  # a retiring handler must not stop the others from closing
                logger.exception("closing handler %s (%s)", h.name, h.where)


def _build_one(entry: HandlerEntry, ctx: BuildContext, problems: list[Problem]) -> Handler | None:
    if entry.handler_name not in BUILDERS:
        if entry.handler_name == "cp_dynamic_handler":
            msg = "coprocess handlers (cp_dynamic_handler) are not supported by tykevents: skipped"
        else:
            msg = f"Handler not found: {entry.handler_name!r}: skipped"
        problems.append(Problem(entry.where, msg, logging.WARNING))
        return None
    try:
        return _builder(entry.handler_name)(entry.meta, ctx)
    except HandlerDisabled as e:
        problems.append(Problem(entry.where, str(e), logging.INFO))
    except HandlerConfigError as e:
        problems.append(Problem(entry.where, f"Failed to init event handler: {e}"))
    except Exception as e:  # a bug or an unexpected input must cost this handler only
        logger.debug("building %s at %s", entry.handler_name, entry.where, exc_info=True)
        problems.append(Problem(entry.where, f"Failed to init event handler: {type(e).__name__}: {e}"))
    return None


def build_routes(
    config: Config, apis: list[APIDefinition], services: dict[str, Any]
) -> tuple[RouteTable, list[Problem]]:
    """Build every handler. A handler that fails to build is reported and skipped."""
    problems: list[Problem] = []
    table = RouteTable(apis=apis)
    global_api = APIInfo("", "", "tyk.conf", config.source)
    units: list[tuple[APIInfo, list[HandlerEntry]]] = [
        (
            global_api,
            classic_entries(config.event_handlers or None, f"{config.source}:$.event_handlers", problems),
        )
    ]
    units += [(APIInfo(a.api_id, a.org_id, a.name, a.source), a.handlers) for a in apis]
    for api, entries in units:
        by_type: dict[str, list[Handler]] = {}
        for entry in entries:
            ctx = BuildContext(config=config, api=api, where=entry.where, services=services)
            handler = _build_one(entry, ctx, problems)
            if handler is not None:
                by_type.setdefault(entry.event, []).append(handler)
                table.handlers.append(handler)
        table.by_api[api.api_id] = {ev: tuple(hs) for ev, hs in by_type.items()}
    return table, problems
