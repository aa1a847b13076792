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
from typing import TextIO

from tykevents.apps import Problem, load_definitions
from tykevents.config import ConfigError, load_config
from tykevents.deliver.base import HandlerServices
from tykevents.handlers import build_generation
from tykevents.route import RouteTable

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
    services = HandlerServices(check_only=True)  # built as `run` builds them, nothing delivered
    collect = _Collect(cfg.source)
    root = logging.getLogger("tykevents")
    root.addHandler(collect)
    try:
        built = build_generation(cfg, apis, services)
        problems += built.problems
    finally:
        root.removeHandler(collect)
    routes = built.routes
    problems += collect.problems
    problems += _js_collisions(routes)
    asyncio.run(routes.close())
    if services.jsvm is not None:
        services.jsvm.close()
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


def _js_collisions(routes: RouteTable) -> list[Problem]:
    paths = [str(p) for h in routes.handlers if h.kind == "js" and (p := getattr(h, "path", None))]
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
