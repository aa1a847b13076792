"""`tykevents check`: load tyk.conf and every API definition exactly as `run` would, build
every handler (and the monitor webhook), try every file the daemon writes (dead letters and
their fallback), and print what is wrong with file and JSON path.
Exit status: 0 clean, 1 when any error (or, with --strict, any warning) was found, 2 when
tyk.conf itself is unusable. Errors are what breaks handling (a handler that cannot work, or a
handler name Tyk does not know, which `run` skips with a warning as Tyk does); warnings are
what Tyk accepts but an operator should see (two definitions of one api_id, a tyk.conf key
that is neither Tyk's nor ours).

Builders report some problems only as log lines, as Tyk does (a template that falls back to
the default, a URL that is not absolute, a JS name no file defines); check collects those
lines too, so that it finds everything `run` would complain about.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import TextIO

from tykevents.apps import Problem, load_definitions
from tykevents.config import Config, ConfigError, load_config
from tykevents.deliver.base import HandlerServices
from tykevents.deliver.webhook.fieldcheck import served_event_types, webhook_field_problems
from tykevents.deliver.webhook.handler import webhook_escape_problems
from tykevents.handlers import build_generation
from tykevents.ingest.listeners import exposure_problems
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
    # template field paths that cannot resolve for the event types each webhook serves
    served = served_event_types(routes.by_api, built.monitor_webhook)
    problems += webhook_field_problems(served)
    problems += webhook_escape_problems(served)  # templates html/template refuses: never sent
    problems += _js_collisions(routes)
    problems += _unwritable_paths(cfg)
    problems += exposure_problems(cfg)  # unauthenticated listeners off loopback
    asyncio.run(routes.close())
    if services.jsvm is not None:
        services.jsvm.close()
    for p in problems:
        print(f"{_NAMES.get(p.check_severity, 'error')}: {p}", file=out)
    errors = sum(p.check_severity >= logging.ERROR for p in problems)
    warnings = sum(p.check_severity == logging.WARNING for p in problems)
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


def _unwritable_paths(cfg: Config) -> list[Problem]:
    """Errors for each file the daemon writes that it could not: the dead-letter file (state
    "memory") and the fallback file it uses when the dead-letter store fails."""
    from tykevents.deliver.webhook.deadletter import dead_letter_file, fallback_file

    s, state_dir = cfg.tykevents.webhooks, cfg.state_path(".")
    paths = [("dead_letter_fallback", fallback_file(s, state_dir))]
    if cfg.tykevents.state != "redis":
        paths.insert(0, ("dead_letter_path", dead_letter_file(s, state_dir)))
    return [
        Problem(f"{cfg.source}:$.tykevents.webhooks.{key}", f"{path}: {why}", logging.ERROR)
        for key, path in paths
        if (why := unwritable(path))
    ]


def unwritable(path: Path) -> str:
    """Why the daemon could not append to `path`, creating it and its directories and a
    `.lock` file beside it ("" if it can). Tried for real, not with access(): root passes
    every permission check but not a read-only mount. Nothing is left behind."""
    try:
        if path.is_dir():
            return "is a directory"
        if path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent  # created by the daemon: the nearest existing one decides
        if not parent.is_dir():
            return f"{parent} is not a directory"
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        return f"not writable: {e.strerror or e}"
    return ""
