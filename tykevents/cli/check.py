"""`tykevents check`: load tyk.conf and every API definition exactly as `run` would, build
every handler (and the monitor webhook), and print what is wrong with file and JSON path.
Exit status: 0 clean, 1 when any error (or, with --strict, any warning) was found, 2 when
tyk.conf itself is unusable.

Builders report some problems only as log lines, as Tyk does (a template that falls back to
the default, a URL that is not absolute, a JS name no file defines); check collects those
lines too, so that it finds everything `run` would complain about.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TextIO

from tykevents.apps import Problem, load_definitions
from tykevents.config import ConfigError, load_config
from tykevents.route import RouteTable, build_routes

_NAMES = {logging.ERROR: "error", logging.WARNING: "warning", logging.INFO: "info"}


class _Collect(logging.Handler):
    """Log records of WARNING and above, turned into problems."""

    def __init__(self, source: str) -> None:
        super().__init__(logging.WARNING)
        self.source = source
        self.problems: list[Problem] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.problems.append(Problem(self.source, record.getMessage(), record.levelno))


def check(conf_path: str | None, out: TextIO, strict: bool = False) -> int:
    try:
        cfg = load_config(conf_path)
    except ConfigError as e:
        print(f"error: {e}", file=out)
        return 2
    apis, problems = load_definitions(cfg)
    services: dict[str, Any] = {"check_only": True}
    collect = _Collect(cfg.source)
    root = logging.getLogger("tykevents")
    root.addHandler(collect)
    try:
        routes, more = build_routes(cfg, apis, services)
        problems += more
        problems += _monitor(cfg)
    finally:
        root.removeHandler(collect)
    problems += collect.problems
    problems += _js_collisions(routes)
    asyncio.run(routes.close())
    vm = services.get("jsvm")
    if vm is not None:
        vm.close()
    for p in problems:
        print(f"{_NAMES.get(p.level, 'error')}: {p}", file=out)
    errors = sum(p.level >= logging.ERROR for p in problems)
    warnings = sum(p.level == logging.WARNING for p in problems)
    print(
        f"{cfg.source}: {len(apis)} APIs, {len(routes.handlers)} handlers, "
        f"{errors} errors, {warnings} warnings",
        file=out,
    )
    return 1 if errors or (strict and warnings) else 0


def _monitor(cfg: Any) -> list[Problem]:
    """The monitor webhook, built as `run` builds it (Tyk: `Failed to initialise monitor!`)."""
    if not cfg.monitor.enable_trigger_monitors:
        return []
    from tykevents.deliver.base import HandlerConfigError
    from tykevents.monitor.service import build_monitor_webhook

    try:
        build_monitor_webhook(cfg, webhooks=object())  # built, never sent: no service needed
    except HandlerConfigError as e:
        return [Problem(f"{cfg.source}:$.monitor.configuration", f"Failed to initialise monitor! {e}")]
    return []


def _js_collisions(routes: RouteTable) -> list[Problem]:
    paths = [h.path for h in routes.handlers if h.kind == "js" and getattr(h, "path", None)]
    if not paths:
        return []
    from tykevents.deliver.jsvm.collisions import find_global_collisions

    return [
        Problem(
            str(f2),
            f"global {name!r} is also defined in {f1}: the file loaded last wins "
            "(one JS namespace, as in Tyk)",
            logging.WARNING,
        )
        for name, f1, f2 in find_global_collisions(paths)
    ]
