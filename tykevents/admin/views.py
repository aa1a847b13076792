"""The JSON bodies of the admin routes that read the daemon's own state: status, the loaded
generation, dead-letter items. Secrets are left in: the routes redact what they answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tykevents.admin.target import AdminTarget, GenerationView
    from tykevents.deliver.base import Handler

_LEVELS = {logging.ERROR: "error", logging.WARNING: "warning", logging.INFO: "info"}


def status(target: AdminTarget) -> dict[str, Any]:
    gen = target.gen
    stats = target.stats
    counters: dict[str, Any] = {
        **stats.snapshot(),
        "reloads": stats.reloads,
        "reload_failures": stats.reload_failures,
    }
    svc = target.webhooks
    if svc is not None:
        outcomes: dict[str, int] = {}
        for (_kind, _handler, _host, outcome), n in list(getattr(svc.metrics, "counts", {}).items()):
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        counters["webhook_outcomes"] = outcomes
        counters["pending"] = svc.pending
        counters["dead_lettered"] = svc.dead_lettered
        counters["dead_letters_stored"] = sum(svc.keeper.stored.values())
    return {
        "state": str(target.state),
        "generation": gen.number if gen is not None else 0,
        "uptime_s": round(target.uptime, 3),
        "counters": counters,
    }


def handler_target(h: Handler) -> str:
    """Where a handler sends: "METHOD URL" for webhooks, the script for JS, else ""."""
    plan = getattr(h, "plan", None)
    if plan is not None:
        return f"{plan.method} {plan.url}"
    path = getattr(h, "path", None)
    return str(path) if path else ""


def handler_view(event: str, h: Handler) -> dict[str, Any]:
    view: dict[str, Any] = {"event": event, "kind": h.kind, "name": h.name, "target": handler_target(h)}
    plan = getattr(h, "plan", None)
    if plan is not None:  # a webhook's own headers (header_map), as Go sends them
        view["headers"] = {k: list(v) for k, v in plan.header.items()}
    return view


def apis(gen: GenerationView | None) -> dict[str, Any]:
    if gen is None:
        return {"generation": 0, "apis": [], "problems": []}
    routes = gen.routes
    out = []
    units = [("", "", "tyk.conf", gen.config.source)] if routes.by_api.get("") else []
    units += [(a.api_id, a.org_id, a.name, a.source) for a in routes.apis]
    for api_id, org_id, name, source in units:
        handlers = [handler_view(event, h) for event, hs in routes.by_api.get(api_id, {}).items() for h in hs]
        out.append({"api_id": api_id, "name": name, "org_id": org_id, "file": source, "handlers": handlers})
    problems = [
        {"where": p.where, "message": p.message, "level": _LEVELS.get(p.level, "error")} for p in gen.problems
    ]
    return {"generation": gen.number, "apis": out, "problems": problems}
