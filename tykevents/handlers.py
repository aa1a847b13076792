"""Handler building: the API definitions of one generation -> its RouteTable and monitor webhook.

Each handler name maps to its builder, imported when first used so that a daemon with only log
handlers never loads the template engine or QuickJS. A handler that fails to build is reported
(file and JSON path) and skipped, and every other handler keeps working, as in Tyk; the
monitor's webhook is built here too, so a broken one is a problem of its generation like any
other handler's.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tykevents.apps import APIDefinition, HandlerEntry, Problem, classic_entries
from tykevents.config import Config
from tykevents.deliver.base import (
    APIInfo,
    Handler,
    HandlerConfigError,
    HandlerContext,
    HandlerDisabled,
    HandlerServices,
)
from tykevents.route import RouteTable
from tykevents.tykconf_keys import suggest

logger = logging.getLogger("tykevents.route")

Builder = Callable[[Any, HandlerContext], Handler]

# handler_name -> "module:function"
BUILDERS = {
    "eh_log_handler": "tykevents.deliver.log:build_log_handler",
    "eh_web_hook_handler": "tykevents.deliver.webhook.handler:build_webhook_handler",
    "eh_dynamic_handler": "tykevents.deliver.jsvm.handler:build_js_handler",
    # Python @Event functions (driver python) or gateway forwarders (grpc): docs/tyk-gateway.md
    "cp_dynamic_handler": "tykevents.deliver.python.handler:build_python_handler",
}


# For the "did you mean" only (Tyk matches handler_name exactly, case included): the names a
# typo may start from besides the real ones, Tyk's Go constants and the OAS `type` of each.
_LIKELY = {
    **{name: name for name in BUILDERS},
    **dict.fromkeys(("EH_WebHook", "WebHookHandler", "webhook"), "eh_web_hook_handler"),
    **dict.fromkeys(("EH_LogHandler", "LogHandler", "log"), "eh_log_handler"),
    **dict.fromkeys(("EH_JSVMHandler", "JSVMHandler", "custom"), "eh_dynamic_handler"),
    **dict.fromkeys(("EH_CoProcessHandler", "CoProcessHandler"), "cp_dynamic_handler"),
}


def unknown_handler(name: str, where: str) -> Problem:
    """Tyk's `Handler not found`: the entry is skipped with a warning (the API's other handlers
    keep working), and `check` fails on it, as a typo here silently disables a handler."""
    near = suggest(name, set(_LIKELY), cutoff=0.6)
    hint = f" (did you mean {_LIKELY[near]!r}?)" if near else ""
    return Problem(where, f"Handler not found: {name!r}: skipped{hint}", logging.WARNING, logging.ERROR)


def _builder(handler_name: str) -> Builder:
    mod, _, fn = BUILDERS[handler_name].partition(":")
    builder: Builder = getattr(importlib.import_module(mod), fn)
    return builder


@dataclass
class Built:
    """What one generation's handlers are: the route table and the monitor webhook."""

    routes: RouteTable
    monitor_webhook: Handler | None
    problems: list[Problem]


def _build_one(entry: HandlerEntry, ctx: HandlerContext, problems: list[Problem]) -> Handler | None:
    if entry.handler_name not in BUILDERS:
        problems.append(unknown_handler(entry.handler_name, entry.where))
        return None
    try:
        return _builder(entry.handler_name)(entry.meta, ctx)
    except HandlerDisabled as e:
        problems.append(Problem(entry.where, str(e), logging.INFO))
    except HandlerConfigError as e:  # a builder may say how bad it is (`level`)
        problems.append(
            Problem(entry.where, f"Failed to init event handler: {e}", getattr(e, "level", logging.ERROR))
        )
    except Exception as e:  # a bug or an unexpected input must cost this handler only
        logger.debug("building %s at %s", entry.handler_name, entry.where, exc_info=True)
        problems.append(Problem(entry.where, f"Failed to init event handler: {type(e).__name__}: {e}"))
    return None


def build_routes(
    config: Config, apis: list[APIDefinition], services: HandlerServices
) -> tuple[RouteTable, list[Problem]]:
    """Build every event handler of tyk.conf and of `apis`."""
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
            ctx = HandlerContext(config=config, api=api, where=entry.where, services=services)
            handler = _build_one(entry, ctx, problems)
            if handler is not None:
                by_type.setdefault(entry.event, []).append(handler)
        table.add(api.api_id, by_type)
    return table, problems


def build_monitor(config: Config, services: HandlerServices) -> tuple[Handler | None, list[Problem]]:
    """The quota monitor's webhook from tyk.conf `monitor.configuration` (Tyk's monitor Init),
    or None when the monitor is off or the webhook cannot be built (then a problem says why)."""
    if not config.monitor.enable_trigger_monitors:
        return None, []
    from tykevents.monitor.service import build_monitor_webhook

    where = f"{config.source}:$.monitor.configuration"
    try:
        return build_monitor_webhook(config, services.webhooks, services.check_only), []
    except (HandlerConfigError, HandlerDisabled) as e:
        return None, [Problem(where, f"Failed to initialise monitor! {e}")]
    except Exception as e:  # a bug must cost the monitor only
        logger.debug("building the monitor webhook", exc_info=True)
        return None, [Problem(where, f"Failed to initialise monitor! {type(e).__name__}: {e}")]


def build_generation(config: Config, apis: list[APIDefinition], services: HandlerServices) -> Built:
    routes, problems = build_routes(config, apis, services)
    monitor_webhook, more = build_monitor(config, services)
    return Built(routes, monitor_webhook, problems + more)
