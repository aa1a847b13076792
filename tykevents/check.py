"""`tykevents check`: load tyk.conf and every API definition exactly as `run` would, build
every handler, and print what is wrong with file and JSON path. Exit status: 0 clean, 1 when
any error (or, with --strict, any warning) was found, 2 when tyk.conf itself is unusable."""
from __future__ import annotations

import asyncio
import logging
from typing import TextIO

from tykevents.apps import Problem, load_apps
from tykevents.config import ConfigError, load_config
from tykevents.route import build_routes

_NAMES = {logging.ERROR: "error", logging.WARNING: "warning", logging.INFO: "info"}


def check(conf_path: str | None, out: TextIO, strict: bool = False) -> int:
    try:
        cfg = load_config(conf_path)
    except ConfigError as e:
        print(f"error: {e}", file=out)
        return 2
    apis, problems = load_apps(cfg.path(cfg.app_path))
    services: dict = {"check_only": True}
    routes, more = build_routes(cfg, apis, services)
    problems += more
    problems += _js_collisions(cfg, routes)
    asyncio.run(routes.close())
    vm = services.get("jsvm")
    if vm is not None:
        vm.close()
    for p in problems:
        print(f"{_NAMES.get(p.level, 'error')}: {p}", file=out)
    errors = sum(p.level >= logging.ERROR for p in problems)
    warnings = sum(p.level == logging.WARNING for p in problems)
    print(f"{cfg.source}: {len(apis)} APIs, {len(routes.handlers)} handlers, "
          f"{errors} errors, {warnings} warnings", file=out)
    return 1 if errors or (strict and warnings) else 0


def _js_collisions(cfg, routes) -> list[Problem]:  # type: ignore[no-untyped-def]
    paths = [h.path for h in routes.handlers if h.kind == "js" and getattr(h, "path", None)]
    if not paths:
        return []
    from tykevents.deliver.jsvm.runtime import find_global_collisions

    return [Problem(str(f2), f"global {name!r} is also defined in {f1}: the file loaded last wins "
                    "(one JS namespace, as in Tyk)", logging.WARNING)
            for name, f1, f2 in find_global_collisions(paths)]
