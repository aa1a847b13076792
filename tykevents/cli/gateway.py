"""`tykevents gateway-defs APPS_DIR OUT_DIR`: the API definitions to load into stock Tyk gateways.

A gateway whose API has `custom_middleware.driver: grpc` sends every event the API registers
with `cp_dynamic_handler` to its coprocess gRPC server: tykevents (docs/tyk-gateway.md). Given
tykevents' API definitions, this writes the gateway's: each event that has handlers in
tykevents gets one forwarder, `{"handler_name": "cp_dynamic_handler", "handler_meta": {"name":
"tykevents"}}`, in place of the handlers tykevents now runs (kept with
--keep-handlers), and the API gets the grpc driver. Everything else is left as it is: a file
with nothing to change is copied byte for byte, a changed one is re-serialised in its key
order. Running it on its own output changes nothing.

Not forwarded, and said so, are APIs whose driver is in use (plugin hooks or a bundle: an
API has one driver, a gateway one gRPC server), standalone Tyk OAS files (OAS eventHandlers
hold only webhook, custom and log handlers) and events Tyk never fires to an API's handlers
(Token*: system events, docs/tyk-gateway.md; TriggerExceeded: the monitor's).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tykevents.golang.json import go_fold, go_get

FORWARDER_NAME = "tykevents"  # as docs/tyk-gateway.md writes it by hand
CP_HANDLER = "cp_dynamic_handler"
# What tykevents runs (classic handler names; OAS kinds map onto them).
RUN_HERE = frozenset({"eh_web_hook_handler", "eh_log_handler", "eh_dynamic_handler"})
OAS_KINDS = frozenset({"webhook", "custom", "log"})
# Tyk fires these only to tyk.conf's global handlers (Token*) or the monitor's webhook.
NOT_API_EVENTS = frozenset({"TokenCreated", "TokenUpdated", "TokenDeleted", "TriggerExceeded"})
_HOOK_LISTS = ("pre", "post", "post_key_auth", "response")
_OAS_HOOKS = (
    "prePlugin",
    "prePlugins",
    "postAuthenticationPlugin",
    "postAuthenticationPlugins",
    "postPlugin",
    "postPlugins",
    "responsePlugin",
    "responsePlugins",
)


def forwarder() -> dict[str, Any]:
    return {"handler_name": CP_HANDLER, "handler_meta": {"name": FORWARDER_NAME}}


def add_subcommands(subparsers: Any) -> None:
    g = subparsers.add_parser(
        "gateway-defs",
        help="write the API definitions that make stock Tyk gateways forward events to tykevents",
    )
    g.add_argument("apps_dir", metavar="APPS_DIR", help="tykevents' API definitions (Classic and Tyk OAS)")
    g.add_argument("out_dir", metavar="OUT_DIR", help="where the gateway's definitions are written")
    g.add_argument(
        "-c",
        "--conf",
        default=None,
        help="tykevents' tyk.conf: its tykevents.listen addresses go into the printed tyk.conf lines",
    )
    g.add_argument(
        "--keep-handlers",
        action="store_true",
        help="keep the handlers tykevents runs in the gateway's copy too (both then run them)",
    )
    g.set_defaults(func=cmd_gateway_defs)


# -- reading definitions as Go does --------------------------------------------------------
def _key(obj: dict[str, Any], name: str) -> str:
    """The key Go's encoding/json reads `name` from (the last case-insensitive match), or
    `name` itself when there is none (a new key, written last)."""
    folded = go_fold(name)
    found = name
    for k, v in obj.items():
        if (k == name or go_fold(k) == folded) and v is not None:
            found = k
    return found


def _obj(obj: Any, *path: str) -> dict[str, Any] | None:
    for name in path:
        obj = go_get(obj, name) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else None


def _ensure(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    """The object at `path`, created where missing (written as new keys)."""
    for name in path:
        k = _key(obj, name)
        if not isinstance(obj.get(k), dict):
            obj[k] = {}
        obj = obj[k]
    return obj


def _named(entry: Any, name_key: str) -> bool:
    """An enabled plugin entry with a function name."""
    if not isinstance(entry, dict) or go_get(entry, "disabled") is True or go_get(entry, "enabled") is False:
        return False
    return bool(go_get(entry, name_key))


def _classic_driver_use(doc: dict[str, Any]) -> list[str]:
    """What makes the driver of a classic definition in use: hooks and a bundle."""
    uses = []
    cm = _obj(doc, "custom_middleware") or {}
    for hook in _HOOK_LISTS:
        entries = go_get(cm, hook)
        if isinstance(entries, list) and any(_named(e, "name") for e in entries):
            uses.append(f"custom_middleware.{hook}")
    if _named(go_get(cm, "auth_check"), "name"):
        uses.append("custom_middleware.auth_check")
    bundle = go_get(doc, "custom_middleware_bundle")
    if (
        isinstance(bundle, str)
        and bundle.strip()
        and go_get(doc, "custom_middleware_bundle_disabled") is not True
    ):
        uses.append("custom_middleware_bundle")
    return uses


def _oas_driver_use(x: dict[str, Any]) -> list[str]:
    uses = []
    glob = _obj(x, "middleware", "global") or {}
    for hook in _OAS_HOOKS:
        v = go_get(glob, hook)
        entries = v if isinstance(v, list) else go_get(v, "plugins") if isinstance(v, dict) else None
        if isinstance(entries, list) and any(_named(e, "functionName") for e in entries):
            uses.append(f"middleware.global.{hook}")
    if _named(_obj(x, "server", "authentication", "custom", "config"), "functionName"):
        uses.append("server.authentication.custom.config")
    bundle = _obj(glob, "pluginConfig", "bundle") or {}
    if go_get(bundle, "enabled") is True and go_get(bundle, "path"):
        uses.append("middleware.global.pluginConfig.bundle")
    return uses


def _is_forwarder(entry: dict[str, Any]) -> bool:
    meta = go_get(entry, "handler_meta")
    # Tyk reads the forwarder's name as handler_meta["name"], exactly.
    return (
        isinstance(meta, dict)
        and go_get(entry, "handler_name") == CP_HANDLER
        and meta.get("name") == FORWARDER_NAME
    )


def _runs_here(entry: dict[str, Any]) -> bool:
    meta = go_get(entry, "handler_meta")
    disabled = isinstance(meta, dict) and go_get(meta, "disabled") is True
    return go_get(entry, "handler_name") in RUN_HERE and not disabled


# -- one API --------------------------------------------------------------------------------
@dataclass
class Plan:
    """What happens to one API: `docs` are the rewritten documents (file name -> doc)."""

    label: str
    docs: dict[str, Any] = field(default_factory=dict)
    forwarded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _classic_events(doc: dict[str, Any]) -> dict[str, list[Any]]:
    events = _obj(doc, "event_handlers", "events") or {}
    return {ev: lst for ev, lst in events.items() if isinstance(lst, list)}


def _oas_handlers(oas: dict[str, Any]) -> list[Any]:
    lst = go_get(_obj(oas, "x-tyk-api-gateway", "server") or {}, "eventHandlers")
    return lst if isinstance(lst, list) else []


def _oas_runs_here(h: Any) -> bool:
    return isinstance(h, dict) and go_get(h, "enabled") is True and go_get(h, "type") in OAS_KINDS


def _wanted(classic: dict[str, Any] | None, oas: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    """(events tykevents runs handlers for, events Tyk never fires to an API's handlers)."""
    events: set[str] = set()
    if classic is not None:
        for ev, lst in _classic_events(classic).items():
            # With an OAS twin tykevents runs the OAS handlers instead of the classic ones.
            if any(isinstance(h, dict) and (_is_forwarder(h) or oas is None and _runs_here(h)) for h in lst):
                events.add(ev)
    if oas is not None:
        events |= {go_get(h, "trigger") for h in _oas_handlers(oas) if _oas_runs_here(h)} - {None}
    events = {e for e in events if isinstance(e, str)}
    return events - NOT_API_EVENTS, events & NOT_API_EVENTS


def _other_cp_handlers(classic: dict[str, Any]) -> bool:
    return any(
        isinstance(h, dict) and go_get(h, "handler_name") == CP_HANDLER and not _is_forwarder(h)
        for lst in _classic_events(classic).values()
        for h in lst
    )


def _set_classic(doc: dict[str, Any], events: set[str], keep: bool) -> None:
    """Forwarders in event_handlers and the grpc driver in custom_middleware (the classic
    twin of an OAS pair too: the gateway's file loader reads that one)."""
    evmap = _ensure(doc, "event_handlers", "events")
    for ev in sorted(events - set(evmap)):
        evmap[ev] = []
    for ev in list(evmap):
        lst = evmap[ev]
        if ev not in events or not isinstance(lst, list):
            continue
        kept = [
            h for h in lst if not (isinstance(h, dict) and (_is_forwarder(h) or not keep and _runs_here(h)))
        ]
        evmap[ev] = [*kept, forwarder()]
    cm = _ensure(doc, "custom_middleware")
    cm[_key(cm, "driver")] = "grpc"


def _set_oas(oas: dict[str, Any], events: set[str], keep: bool) -> None:
    """The OAS twin agrees with its classic twin: pluginConfig.driver grpc, and without the
    handlers tykevents now runs (Tyk's ExtractTo would otherwise bring them back)."""
    x = oas[_key(oas, "x-tyk-api-gateway")]
    pc = _ensure(x, "middleware", "global", "pluginConfig")
    pc[_key(pc, "driver")] = "grpc"
    if keep:
        return
    server = _obj(x, "server")
    if server is None:
        return
    k = _key(server, "eventHandlers")
    if isinstance(server.get(k), list):
        server[k] = [h for h in server[k] if not (_oas_runs_here(h) and go_get(h, "trigger") in events)]


def _driver_of(classic: dict[str, Any] | None, oas: dict[str, Any] | None) -> str:
    if classic is not None:
        d = go_get(_obj(classic, "custom_middleware") or {}, "driver", "")
    else:
        d = go_get(_obj(oas, "x-tyk-api-gateway", "middleware", "global", "pluginConfig") or {}, "driver", "")
    return d if isinstance(d, str) else ""


def plan_api(
    label: str,
    classic: tuple[str, dict[str, Any]] | None,
    oas: tuple[str, dict[str, Any]] | None,
    keep: bool = False,
) -> Plan:
    """The gateway's copy of one API: a classic file, an OAS pair (classic twin + OAS twin)
    or a standalone Tyk OAS file."""
    plan = Plan(label)
    cdoc = classic[1] if classic else None
    odoc = oas[1] if oas else None
    events, system = _wanted(cdoc, odoc)
    if system:
        plan.notes.append(
            f"handlers for {', '.join(sorted(system))} are not forwarded from an API: Tyk fires "
            "Token* events only to tyk.conf's global handlers (forward them as system events, "
            "docs/tyk-gateway.md) and TriggerExceeded only to the monitor"
        )
    if not events:
        return plan
    listed = ", ".join(sorted(events))
    if cdoc is None:
        plan.notes.append(
            f"not forwarded ({listed}): a Tyk OAS definition cannot hold a cp_dynamic_handler "
            "(its eventHandlers are webhook, custom or log). Load it into the gateway through the "
            "Gateway API (POST /tyk/apis/oas), which writes <id>.json and <id>-oas.json to app_path, "
            "and run this command on those files (the classic <id>.json carries the forwarders); or "
            "keep a Classic definition of this API for the gateway"
        )
        return plan
    driver = _driver_of(cdoc, odoc)
    uses = _classic_driver_use(cdoc) + (
        _oas_driver_use(odoc[_key(odoc, "x-tyk-api-gateway")]) if odoc else []
    )
    if _other_cp_handlers(cdoc):
        uses.append("cp_dynamic_handler entries of its own")
    if uses:
        why = (
            "it already uses its own gRPC plugin server, and a gateway has one coprocess_grpc_server"
            if driver == "grpc"
            else f"its plugins use the {driver or 'otto (default)'} driver, and an API has one driver"
        )
        plan.notes.append(
            f"not forwarded ({listed}): {why} ({', '.join(uses)}). Its handlers stay on the gateway; "
            "to have tykevents run them, push its events directly (docs/protocol.md)"
        )
        return plan
    if driver not in ("", "grpc"):
        plan.notes.append(f"custom_middleware.driver {driver!r} had no hooks: set to grpc")
    assert classic is not None
    new_classic = copy.deepcopy(cdoc)
    _set_classic(new_classic, events, keep)
    plan.docs[classic[0]] = new_classic
    if oas is not None and odoc is not None:
        new_oas = copy.deepcopy(odoc)
        _set_oas(new_oas, events, keep)
        plan.docs[oas[0]] = new_oas
    plan.forwarded = sorted(events)
    return plan


# -- files ----------------------------------------------------------------------------------
def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _is_oas(doc: Any) -> bool:
    return isinstance(doc, dict) and "openapi" in doc and isinstance(doc.get("x-tyk-api-gateway"), dict)


def _indent(text: bytes) -> int | str | None:
    """The indentation the file uses (its first indented line), so that a rewritten file
    reads like the original."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(b" \t")
        if stripped and len(stripped) < len(line):
            ws = line[: len(line) - len(stripped)]
            return "\t" if ws.startswith(b"\t") else len(ws)
    return None


def _dump(doc: Any, original: bytes) -> bytes:
    indent = _indent(original)
    seps = (",", ": ") if indent is not None else (", ", ": ")
    return json.dumps(doc, indent=indent, separators=seps, ensure_ascii=False).encode() + b"\n"


def gateway_defs(
    apps_dir: Path, out_dir: Path, keep: bool = False
) -> tuple[list[Plan], list[str], list[str]]:
    """Write the gateway's copy of every `*.json` of apps_dir into out_dir.
    Returns the plans, the names of the files written and of those copied unchanged."""
    files = sorted(p for p in apps_dir.glob("*.json") if p.is_file())
    names = {p.name for p in files}
    docs = {p.name: _load(p) for p in files}
    plans: list[Plan] = []
    for p in files:
        doc = docs[p.name]
        twin_of = p.name[: -len("-oas.json")] + ".json" if p.name.endswith("-oas.json") else ""
        if twin_of in names and isinstance(docs[twin_of], dict) and go_get(docs[twin_of], "is_oas") is True:
            continue  # the OAS twin of a pair: planned with its classic file
        if not isinstance(doc, dict):
            continue
        if _is_oas(doc):
            x = doc["x-tyk-api-gateway"]
            api_id = go_get(_obj(x, "info") or {}, "id")
            plans.append(plan_api(f"{p.name}: Tyk OAS API {api_id}", None, (p.name, doc), keep))
            continue
        api_id = go_get(doc, "api_id")
        if not isinstance(api_id, str) or not api_id:
            continue
        twin = p.stem + "-oas.json"
        oas = None
        if go_get(doc, "is_oas") is True and twin in names and _is_oas(docs[twin]):
            oas = (twin, docs[twin])
        kind = "Tyk OAS, classic + OAS files" if oas else "Classic"
        plans.append(plan_api(f"{p.name}: API {api_id} ({kind})", (p.name, doc), oas, keep))
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = {name: doc for plan in plans for name, doc in plan.docs.items()}
    copied = []
    for p in files:
        original = p.read_bytes()
        data = _dump(changed[p.name], original) if p.name in changed else original
        if data == original:
            copied.append(p.name)
        (out_dir / p.name).write_bytes(data)
    return plans, [p.name for p in files], copied


# -- tyk.conf lines -----------------------------------------------------------------------------
def _listen(conf: dict[str, Any], name: str) -> list[str]:
    listen = _obj(conf, "tykevents", "listen") or {}
    v = listen.get(name)
    addrs = [v] if isinstance(v, str) else v if isinstance(v, list) else []
    return [a for a in addrs if isinstance(a, str) and a]


def grpc_target(addr: str) -> str:
    """A tykevents gRPC listen address as Tyk's coprocess_grpc_server wants it."""
    if "://" in addr:
        return addr
    if addr.startswith("unix:"):
        return "unix://" + addr[len("unix:") :]
    if addr.startswith("/"):
        return "unix://" + addr
    host, _, port = addr.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "<tykevents host>"
    return f"tcp://{host}:{port}"


def _http_target(addr: str) -> str:
    host, _, port = addr.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "<tykevents host>"
    return f"http://{host}:{port}/events"


def tyk_conf_lines(conf: dict[str, Any] | None) -> list[str]:
    """The tyk.conf lines each gateway needs: the coprocess bridge, and the global webhook
    that forwards the system events tykevents' tyk.conf has handlers for."""
    conf = conf or {}
    grpc = _listen(conf, "grpc")
    tls = bool((_obj(conf, "tykevents", "listen") or {}).get("grpc_cert_file"))
    if tls:  # Tyk's gRPC client speaks no TLS: a unix: address serves it in the clear
        grpc.sort(key=lambda a: not a.startswith("unix:"))
    target = grpc_target(grpc[0]) if grpc else "tcp://<tykevents host>:<port of tykevents.listen.grpc>"
    out = [
        "Add to each gateway's tyk.conf:",
        '  "coprocess_options": {',
        '    "enable_coprocess": true,',
        f'    "coprocess_grpc_server": {json.dumps(target)}',
        "  }",
    ]
    if not grpc:
        out.append("(tykevents.listen.grpc is not set in tykevents' tyk.conf: set it, then use its address)")
    elif tls and not grpc[0].startswith("unix:"):
        out.append(
            "(that address serves TLS, which Tyk's gRPC client does not speak: give the gateways a "
            'unix: address or a TLS sidecar, docs/tyk-gateway.md, "TLS and stock gateways")'
        )
    system = sorted(
        set(_obj(conf, "event_handlers", "events") or {}) & (NOT_API_EVENTS - {"TriggerExceeded"})
    )
    if system:
        http = _listen(conf, "http")
        hook: dict[str, Any] = {
            "method": "POST",
            "target_path": _http_target(http[0]) if http else "http://<tykevents host>:<port>/events",
            "template_path": "<path on the gateway>/tykevents_forward.json",
            "event_timeout": 1,
        }
        if (_obj(conf, "tykevents", "listen") or {}).get("http_auth") is True:
            hook["header_map"] = {"x-tyk-authorization": "<tykevents' tyk.conf secret>"}
        handler = {"handler_name": "eh_web_hook_handler", "handler_meta": hook}
        out += [
            "and, for the system events tykevents has handlers for (templates/tykevents_forward.json;",
            'docs/tyk-gateway.md, "System events"):',
            '  "event_handlers": {"events": {',
            *(f"    {json.dumps(e)}: [{json.dumps(handler)}]," for e in system),
            "  }}",
        ]
        out[-2] = out[-2].rstrip(",")
    return out


def _read_conf(path: str) -> dict[str, Any]:
    doc = _load(Path(path))
    if not isinstance(doc, dict):
        raise SystemExit(f"tykevents gateway-defs: {path}: not a readable JSON object")
    return doc


def cmd_gateway_defs(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import sys

    out = out or sys.stdout
    apps_dir, out_dir = Path(args.apps_dir), Path(args.out_dir)
    if not apps_dir.is_dir():
        print(f"tykevents gateway-defs: {apps_dir}: not a directory", file=sys.stderr)
        return 2
    if out_dir.exists() and os.path.samefile(apps_dir, out_dir):
        print("tykevents gateway-defs: OUT_DIR must not be APPS_DIR", file=sys.stderr)
        return 2
    conf = _read_conf(args.conf) if args.conf else None
    plans, written, copied = gateway_defs(apps_dir, out_dir, keep=args.keep_handlers)
    for plan in plans:
        if plan.forwarded:
            print(f"{plan.label}: forwards {', '.join(plan.forwarded)}", file=out)
        for note in plan.notes:
            print(f"{plan.label}: {note}", file=out)
    print(f"wrote {len(written)} file(s) to {out_dir} ({len(copied)} unchanged)", file=out)
    print(file=out)
    for line in tyk_conf_lines(conf):
        print(line, file=out)
    return 0
