"""API definitions (Classic and Tyk OAS) -> the handler entries they name (docs/compatibility.md).

The output is classic-shaped on purpose: Tyk itself converts OAS `eventHandlers` into classic
`event_handlers` (ExtractTo), and every handler builder then decodes the classic
`handler_meta`. A broken file or entry is reported with file and JSON path and skipped;
everything else keeps loading.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tykevents.golang.json import go_get
from tykevents.tykconf_keys import suggest, unknown_keys

logger = logging.getLogger("tykevents.apps")

OAS_KINDS = {"webhook": "eh_web_hook_handler", "custom": "eh_dynamic_handler", "log": "eh_log_handler"}


@dataclass
class HandlerEntry:
    event: str
    handler_name: str
    meta: Any
    where: str  # "<file>:<JSON path>" for every message about this entry


@dataclass
class APIDefinition:
    api_id: str
    org_id: str
    name: str
    source: str
    kind: str  # "classic" | "oas"
    handlers: list[HandlerEntry] = field(default_factory=list)
    # What Tyk orders its API registry by, which decides between two definitions of one api_id.
    listen_path: str = ""
    domain: str = ""
    id_where: str = ""  # "<file>:<JSON path>" of the api_id


@dataclass
class Problem:
    """Something wrong in a file: where (file and JSON path), what, and how bad."""

    where: str
    message: str
    level: int = logging.ERROR  # what `run` logs it at
    # What `tykevents check` reports it at, when that is stricter: a handler name Tyk does not
    # know is skipped with a log line, as in Tyk, but it fails `check` (docs/operations.md).
    check_level: int | None = None

    @property
    def check_severity(self) -> int:
        return self.level if self.check_level is None else max(self.level, self.check_level)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


_MISSING: Any = object()


def classic_entries(event_handlers: Any, where: str, problems: list[Problem]) -> list[HandlerEntry]:
    """`{"events": {"<Event>": [{"handler_name", "handler_meta"}, ...]}}` -> entries."""
    out: list[HandlerEntry] = []
    if event_handlers is None:
        return out
    if not isinstance(event_handlers, dict):
        problems.append(Problem(where, "expected an object"))
        return out
    events = go_get(event_handlers, "events")
    if events is None:
        return out
    if not isinstance(events, dict):
        problems.append(Problem(f"{where}.events", "expected an object"))
        return out
    for event, lst in events.items():
        epath = f"{where}.events.{event}"
        if not isinstance(lst, list):
            problems.append(Problem(epath, "expected an array of handlers"))
            continue
        for i, h in enumerate(lst):
            hpath = f"{epath}[{i}]"
            if not isinstance(h, dict):
                problems.append(Problem(hpath, "expected an object"))
                continue
            name = go_get(h, "handler_name")
            if not isinstance(name, str):
                problems.append(Problem(f"{hpath}.handler_name", "expected a string"))
                continue
            out.append(HandlerEntry(event, name, go_get(h, "handler_meta"), hpath))
    return out


def _parse_cooldown(value: Any, where: str, problems: list[Problem]) -> int | None:
    """OAS cooldownPeriod -> event_timeout seconds (docs/compatibility.md): a JSON string (null is an
    error too: Tyk's UnmarshalJSON sees it), "" = 0, an invalid duration silently 0 in Tyk
    (we warn), then int64(Duration.Seconds()), which truncates toward zero."""
    from tykevents.golang.time import parse_go_duration

    if value is _MISSING or value == "":
        return 0
    if not isinstance(value, str):
        problems.append(Problem(where, 'error while parsing duration: expected a string like "10s"'))
        return None
    try:
        ns = parse_go_duration(value)
    except ValueError:
        problems.append(
            Problem(
                where, f"invalid duration {value!r}: treated as 0 (no cooldown), as Tyk does", logging.WARNING
            )
        )
        return 0
    sec = abs(ns) // 1_000_000_000 * (1 if ns >= 0 else -1)  # Go's / and % truncate
    return int(float(sec) + float(ns - sec * 1_000_000_000) / 1e9)


def _typed(
    entry: dict[str, Any], key: str, typ: type, default: Any, where: str, problems: list[Problem]
) -> Any:
    v = go_get(entry, key, default)
    if typ is bool and not isinstance(v, bool) or typ is str and not isinstance(v, str):
        problems.append(Problem(f"{where}.{key}", f"expected {'a boolean' if typ is bool else 'a string'}"))
        raise ValueError
    return v


def oas_entries(
    handlers: Any,
    where: str,
    problems: list[Problem],
    global_webhooks: dict[str, dict[str, Any]] | None = None,
) -> list[HandlerEntry]:
    """`x-tyk-api-gateway.server.eventHandlers` -> classic entries (Tyk's ExtractTo; the mapping is
    in docs/compatibility.md, "OAS handlers as classic entries")."""
    out: list[HandlerEntry] = []
    if handlers is None:
        return out
    if not isinstance(handlers, list):
        problems.append(Problem(where, "expected an array"))
        return out
    for i, h in enumerate(handlers):
        hpath = f"{where}[{i}]"
        if not isinstance(h, dict):
            problems.append(Problem(hpath, "expected an object"))
            continue
        try:
            enabled = _typed(h, "enabled", bool, False, hpath, problems)
            trigger = _typed(h, "trigger", str, "", hpath, problems)
            kind = _typed(h, "type", str, "", hpath, problems)
            hid = _typed(h, "id", str, "", hpath, problems)
            name = _typed(h, "name", str, "", hpath, problems)
        except ValueError:
            continue
        handler_name = OAS_KINDS.get(kind)
        if handler_name is None:  # a typo silently disables the handler: `check` fails on it
            near = suggest(kind, set(OAS_KINDS), cutoff=0.6)
            hint = f" (did you mean {near!r}?)" if near else ""
            msg = f"unknown handler type {kind!r}: skipped{hint}"
            problems.append(Problem(f"{hpath}.type", msg, logging.WARNING, logging.ERROR))
            continue
        try:
            if kind == "webhook":
                headers = go_get(h, "headers", [])
                if not isinstance(headers, list):
                    problems.append(Problem(f"{hpath}.headers", "expected an array"))
                    continue
                header_map: dict[str, str] = {}
                for j, hd in enumerate(headers):
                    if not isinstance(hd, dict):
                        problems.append(Problem(f"{hpath}.headers[{j}]", "expected an object"))
                        raise ValueError
                    hn = _typed(hd, "name", str, "", f"{hpath}.headers[{j}]", problems)
                    hv = _typed(hd, "value", str, "", f"{hpath}.headers[{j}]", problems)
                    header_map[hn] = hv  # a later duplicate wins, as in Tyk
                timeout = _parse_cooldown(
                    go_get(h, "cooldownPeriod", _MISSING, keep_null=True), f"{hpath}.cooldownPeriod", problems
                )
                if timeout is None:
                    continue
                meta = {
                    "disabled": not enabled,
                    "id": hid,
                    "name": name,
                    "method": _typed(h, "method", str, "", hpath, problems),
                    "target_path": _typed(h, "url", str, "", hpath, problems),
                    "template_path": _typed(h, "bodyTemplate", str, "", hpath, problems),
                    "header_map": header_map,
                    "event_timeout": timeout,
                }
                if hid and not meta["target_path"]:  # only an id: a global webhook
                    found = (global_webhooks or {}).get(hid)
                    if found is None:
                        problems.append(
                            Problem(
                                f"{hpath}.id",
                                f"no global webhook with id {hid!r} (tykevents.global_webhooks): skipped",
                            )
                        )
                        continue
                    meta = {
                        **found,
                        "disabled": not enabled,
                        "id": hid,
                        "name": name or found.get("name", ""),
                    }
            elif kind == "custom":
                meta = {
                    "disabled": not enabled,
                    "id": hid,
                    "name": _typed(h, "functionName", str, "", hpath, problems),
                    "path": _typed(h, "path", str, "", hpath, problems),
                }
            else:
                meta = {"disabled": not enabled, "prefix": _typed(h, "logPrefix", str, "", hpath, problems)}
        except ValueError:
            continue
        out.append(HandlerEntry(trigger, handler_name, meta, hpath))
    return out


def _read_json(path: Path, problems: list[Problem]) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as e:
        problems.append(Problem(str(path), f"cannot read: {e.strerror}"))
    except orjson.JSONDecodeError as e:
        problems.append(Problem(str(path), f"not valid JSON: {e}"))
    return None


def _str_at(obj: Any, *keys: str) -> str:
    for k in keys:
        if not isinstance(obj, dict):
            return ""
        obj = go_get(obj, k)
    return obj if isinstance(obj, str) else ""


def parse_definition(
    doc: Any,
    source: str,
    problems: list[Problem],
    oas_companion: Any = None,
    global_webhooks: dict[str, dict[str, Any]] | None = None,
) -> APIDefinition | None:
    """One decoded file -> an APIDefinition, or None when it is not usable at all."""
    if not isinstance(doc, dict):
        problems.append(Problem(source, "$: expected a JSON object"))
        return None
    x = doc.get("x-tyk-api-gateway")
    if "openapi" in doc and isinstance(x, dict):
        api_id = _str_at(x, "info", "id")
        if not api_id:
            problems.append(Problem(f"{source}:$['x-tyk-api-gateway'].info.id", "missing API id"))
            return None
        api = APIDefinition(api_id, _str_at(x, "info", "orgId"), _str_at(x, "info", "name"), source, "oas")
        server = go_get(x, "server")
        server = server if isinstance(server, dict) else {}
        api.id_where = f"{source}:$['x-tyk-api-gateway'].info.id"
        api.listen_path = _str_at(server, "listenPath", "value")
        api.domain = _str_at(server, "customDomain", "name")
        api.handlers = oas_entries(
            go_get(server, "eventHandlers"),
            f"{source}:$['x-tyk-api-gateway'].server.eventHandlers",
            problems,
            global_webhooks,
        )
        return api
    api_id = go_get(doc, "api_id")
    if not isinstance(api_id, str) or not api_id:
        problems.append(
            Problem(f"{source}:$.api_id", "missing API id (neither a Classic nor a Tyk OAS definition)")
        )
        return None
    org, name = _str_at(doc, "org_id"), _str_at(doc, "name")
    api = APIDefinition(api_id, org, name, source, "classic")
    # Tyk reads a file-loaded API's listen path and domain from the classic document, even
    # when an OAS companion exists (it is kept in step by Tyk's API).
    api.listen_path, api.domain = _str_at(doc, "proxy", "listen_path"), _str_at(doc, "domain")
    api.id_where = f"{source}:$.api_id"
    api.handlers = classic_entries(go_get(doc, "event_handlers"), f"{source}:$.event_handlers", problems)
    if oas_companion is not None:
        # Tyk stores an OAS API as <id>.json + <id>-oas.json; ExtractTo drops the classic
        # webhook/JS/log entries and appends the OAS ones (other kinds are kept).
        oas = parse_definition(
            oas_companion["doc"], oas_companion["source"], problems, global_webhooks=global_webhooks
        )
        if oas is not None and oas.kind != "oas":
            problems.append(
                Problem(
                    oas_companion["source"],
                    "$: expected a Tyk OAS definition (openapi and x-tyk-api-gateway): ignored",
                )
            )
        elif oas is not None:
            api.kind = "oas"
            kept = [h for h in api.handlers if h.handler_name not in OAS_KINDS.values()]
            api.handlers = kept + oas.handlers
    return api


def load_global_webhooks(path: Path, problems: list[Problem]) -> dict[str, dict[str, Any]]:
    """The global webhooks OAS handlers may name by `id` alone: a JSON array of objects with
    an `id` and the keys of a classic webhook's handler_meta (docs/webhooks.md)."""
    doc = _read_json(path, problems)
    out: dict[str, dict[str, Any]] = {}
    if doc is None:
        return out
    if not isinstance(doc, list):
        problems.append(Problem(f"{path}:$", "expected an array of webhook definitions"))
        return out
    for i, w in enumerate(doc):
        wid = go_get(w, "id") if isinstance(w, dict) else None
        if not isinstance(wid, str) or not wid:
            problems.append(Problem(f"{path}:$[{i}].id", "expected a non-empty string"))
        elif wid in out:
            problems.append(Problem(f"{path}:$[{i}].id", f"duplicate id {wid!r}: the first one wins"))
        else:
            out[wid] = w
    return out


def load_definitions(cfg: Any) -> tuple[list[APIDefinition], list[Problem]]:
    """Every API definition of tyk.conf's app_path, with the global webhooks they may name;
    the problems include tyk.conf keys that are neither Tyk's nor ours (reported with each
    generation, so once at start and once per reload)."""
    problems = tykconf_problems(cfg.source)
    global_webhooks = None
    if cfg.tykevents.global_webhooks:
        global_webhooks = load_global_webhooks(cfg.path(cfg.tykevents.global_webhooks), problems)
    apis, more = load_apps(cfg.path(cfg.app_path), global_webhooks, cfg.enable_custom_domains)
    return apis, problems + more


def tykconf_problems(source: str) -> list[Problem]:
    """A warning, with a suggestion, for each key of tyk.conf that Tyk would ignore (a typo,
    mostly: docs/operations.md). tykevents.config has read the file already; this reads it
    again as it is, for the keys that config did not keep."""
    path = Path(source)
    if not source or source.startswith("<") or not path.is_file():
        return []
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []  # load_config has reported it
    out = []
    for u in unknown_keys(doc):
        hint = f"; did you mean {u.suggestion!r}?" if u.suggestion else ""
        msg = f"unknown key {u.key!r}: neither Tyk's nor tykevents', so ignored (as Tyk ignores it){hint}"
        out.append(Problem(f"{source}:{u.path}", msg, logging.WARNING))
    return out


def listen_path_length(path: str) -> int:
    """Tyk's listenPathLength: a `{name}` segment counts for nothing (its slashes do)."""
    if "{" not in path:
        return len(path.encode())
    segments = path.split("/")
    skipped = [s for s in segments if not (len(s.encode()) > 2 and s[0] == "{" and s[-1] == "}")]
    return path.count("/") + sum(len(s.encode()) for s in skipped)


def registered(apis: list[APIDefinition], custom_domains: bool) -> dict[str, APIDefinition]:
    """api_id -> the definition Tyk's API registry keeps when several share it. Tyk loads them
    all, sorts by listen path, longest first (with enable_custom_domains, those with a domain
    first), and registers each under its api_id in that order, so the last one stays: the
    shortest listen path, and among equal ones the file later by name (docs/compatibility.md)."""

    def order(i: int) -> tuple[int, int, int]:
        a = apis[i]
        return (0 if custom_domains and a.domain else 1, -listen_path_length(a.listen_path), i)

    out: dict[str, APIDefinition] = {}
    for i in sorted(range(len(apis)), key=order):
        out[apis[i].api_id] = apis[i]
    return out


def load_apps(
    app_dir: Path, global_webhooks: dict[str, dict[str, Any]] | None = None, custom_domains: bool = False
) -> tuple[list[APIDefinition], list[Problem]]:
    """Every `*.json` in app_dir, in name order. Several with one API id: the one Tyk's
    registry keeps (`registered`), with a warning for each other one."""
    problems: list[Problem] = []
    apis: list[APIDefinition] = []
    if not app_dir.is_dir():
        problems.append(Problem(str(app_dir), "app_path is not a directory"))
        return apis, problems
    files = sorted(p for p in app_dir.glob("*.json") if p.is_file())
    names = {p.name for p in files}
    for path in files:
        if path.name.endswith("-oas.json") and path.name[: -len("-oas.json")] + ".json" in names:
            continue  # loaded with its classic twin below
        doc = _read_json(path, problems)
        if doc is None:
            continue
        companion = None
        twin = path.with_name(path.stem + "-oas.json")
        if isinstance(doc, dict) and go_get(doc, "is_oas") is True and twin.name in names:
            tdoc = _read_json(twin, problems)
            if tdoc is not None:
                companion = {"doc": tdoc, "source": str(twin)}
        api = parse_definition(doc, str(path), problems, companion, global_webhooks)
        if api is not None:
            apis.append(api)
    keep = registered(apis, custom_domains)
    for api in apis:
        winner = keep[api.api_id]
        if winner is not api:
            msg = (
                f"API id {api.api_id!r} is also defined in {winner.source}: Tyk loads both, but an "
                f"event names only the API id, so tykevents runs the handlers of {Path(winner.source).name}, "
                "the definition Tyk's API registry keeps for that id, and not this file's"
            )
            problems.append(Problem(api.id_where, msg, logging.WARNING))
    return [a for a in apis if keep[a.api_id] is a], problems
