"""`tykevents check`: the field paths of a webhook template that cannot resolve for the events
its handler serves, found before an event does (docs/webhooks.md, "Checking templates").

Each event type a webhook serves has a known root: Tyk's EventMessage {Type, Meta, TimeStamp}
with `Type` the event's name and Meta the struct Tyk fires it with (tykmeta.py). The template
engine's static walk (gotemplate/fieldcheck.py) reports each `.A.B` step Go's Execute would
fail on, with Go's own message. Where Meta is not a struct (map Metas, custom events), nothing
under `.Meta` is judged.

Severity: a path reached on every execution for an event type fails every such event, so
that webhook never sends for it: an error. A path reached only under a condition we cannot
decide (an `if` on the data, a `range` body, a map key that may be absent) fails only some
events: a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tykevents.apps import Problem
from tykevents.gotemplate.errors import go_quote
from tykevents.gotemplate.fieldcheck import AV, TypeEnv, check_fields
from tykevents.tykmeta import EVENT_MESSAGE, MAP_META_EVENTS, STRUCTS, meta_type_for

if TYPE_CHECKING:
    from tykevents.gotemplate import Template


class FieldProblem(NamedTuple):
    location: str  # template file:line:col
    message: str
    level: int  # logging.ERROR or logging.WARNING


@cache
def tyk_types() -> TypeEnv:
    """Tyk's event structs as Go resolves fields: promoted fields and embedded names both."""
    structs: dict[str, dict[str, str]] = {
        EVENT_MESSAGE: {"Type": "event.Event", "Meta": "interface {}", "TimeStamp": "string"}
    }

    def fields(name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in STRUCTS[name]:
            if item[0] == "embed":
                for k, v in fields(item[2]).items():
                    out.setdefault(k, v)
                out[item[1]] = item[2]
            else:
                out[item[0]] = item[2]
        return out

    for name in STRUCTS:
        structs[name] = fields(name)
    # EventMessage.Type is event.Event in Tyk; it and BreakerEvent have no methods. Two Metas
    # have a pointer method, unreachable from a template (Meta is fired by value) but listed:
    # a listed name can only silence a report.
    named = dict.fromkeys(("event.Event", "circuit.BreakerEvent"), frozenset[str]())
    for struct in ("gateway.EventKeyFailureMeta", "gateway.EventCurcuitBreakerMeta"):
        named[struct] = frozenset({"LogMessage"})
    return TypeEnv(structs, named)


def event_root(event_type: str) -> AV:
    """The EventMessage a template executes over for `event_type`, as far as it is known."""
    meta = meta_type_for(event_type)
    if meta is None and event_type in MAP_META_EVENTS:
        meta = "map[string]interface {}"
    return AV(
        EVENT_MESSAGE,
        fields=(("Type", AV("event.Event", const=event_type)), ("Meta", AV(meta, iface=True))),
    )


def template_field_problems(
    template: Template | Path, event_types: Iterable[str], *, file: str | None = None
) -> list[FieldProblem]:
    """Field paths of `template` (a parsed webhook template, or a file parsed as `run` does)
    that fail for some of `event_types`; `file` names the template in locations (default:
    its template name). A file that does not parse raises TemplateLoadError."""
    if isinstance(template, Path):
        from .handler import load_template

        file = file or str(template)
        tpl = load_template(template)
    else:
        tpl = template
    env = tyk_types()
    grouped: dict[tuple[str, str, bool], list[str]] = {}
    hints: dict[tuple[str, str, bool], tuple[str, ...]] = {}
    for ev in sorted(set(event_types)):
        for f in check_fields(tpl, event_root(ev), env):
            line, col = f.line_col
            key = (
                f"{file or f.node.tree.parse_name}:{line}:{col}",
                f"executing {go_quote(f.template)} at <{f.node}>: {f.message}",
                f.sure,
            )
            grouped.setdefault(key, []).append(ev)
            hints[key] = f.suggestions
    out = []
    for (where, msg, sure), events in grouped.items():
        about = _events(events)
        if sure:
            text = f"{msg} [{about}]: every such event fails here, so this webhook never sends one"
        else:
            text = f"{msg} [{about}]: such an event fails here whenever this part runs (nothing is sent)"
        if hints[(where, msg, sure)]:
            text += f" (did you mean {' or '.join(hints[(where, msg, sure)])}?)"
        out.append(FieldProblem(where, text, logging.ERROR if sure else logging.WARNING))
    return sorted(out, key=_order)


def served_event_types(
    by_api: Mapping[str, Mapping[str, Sequence[Any]]], monitor_webhook: Any = None
) -> list[tuple[Any, set[str]]]:
    """Each webhook handler of a RouteTable's `by_api` with the event types it serves (the
    keys it is listed under), plus the monitor's webhook, which serves TriggerExceeded."""
    served: dict[int, tuple[Any, set[str]]] = {}
    for by_type in by_api.values():
        for event_type, handlers in by_type.items():
            for h in handlers:
                if getattr(h, "kind", "") == "webhook" and getattr(h, "template", None) is not None:
                    served.setdefault(id(h), (h, set()))[1].add(event_type)
    if monitor_webhook is not None and getattr(monitor_webhook, "template", None) is not None:
        served.setdefault(id(monitor_webhook), (monitor_webhook, set()))[1].add("TriggerExceeded")
    return list(served.values())


def webhook_field_problems(served: Iterable[tuple[Any, set[str]]]) -> list[Problem]:
    """Problems for `check`: each template (shared by handlers that use the same file) is
    checked once for the union of their event types; each problem names its webhooks."""
    by_template: dict[int, tuple[Any, str, set[str], list[str]]] = {}
    for handler, events in served:
        tpl = handler.template
        entry = by_template.setdefault(id(tpl), (tpl, handler.template_file, set(), []))
        entry[2].update(events)
        entry[3].append(handler.where)
    problems = []
    for tpl, file, events, wheres in by_template.values():
        users = wheres[0] + (f" and {len(wheres) - 1} more" if len(wheres) > 1 else "")
        for p in template_field_problems(tpl, events, file=file or None):
            problems.append(Problem(p.location, f"{p.message} (webhook {users})", p.level))
    return problems


def _order(p: FieldProblem) -> tuple[str, int, int, int, str]:
    file, line, col = p.location.rsplit(":", 2)
    return file, int(line), int(col), -p.level, p.message


def _events(events: list[str]) -> str:
    """`for AuthFailure, KeyExpired (Meta gateway.EventKeyFailureMeta); Custom`."""
    by_meta: dict[str, list[str]] = {}
    for ev in events:
        by_meta.setdefault(meta_type_for(ev) or "", []).append(ev)
    parts = [", ".join(evs) + (f" (Meta {meta})" if meta else "") for meta, evs in by_meta.items()]
    return "for " + "; ".join(parts)
