"""`tykevents render`: preview what a webhook template sends for an event, exactly as the
webhook handler would render it (html/template, Tyk's functions, Meta as Tyk's structs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson


def render_cli(args: argparse.Namespace) -> int:
    from tykevents.deliver.webhook.handler import TemplateLoadError, load_template, template_funcs
    from tykevents.gotemplate import TemplateError, parse
    from tykevents.model import MetaTypeError
    from tykevents.tykmeta import template_data

    path = (
        Path(args.templates) / "default_webhook.json" if args.template == "default" else Path(args.template)
    )
    try:
        raw = sys.stdin.buffer.read() if args.event == "-" else Path(args.event).read_bytes()
        ev = orjson.loads(raw)
    except (OSError, orjson.JSONDecodeError) as e:
        print(f"tykevents render: cannot read the event {args.event}: {e}", file=sys.stderr)
        return 2
    if isinstance(ev, dict) and isinstance(ev.get("message"), dict):  # coprocess envelope
        ev = ev["message"]
    if not isinstance(ev, dict) or not isinstance(ev.get("Type"), str):
        print("tykevents render: the event must be a JSON object with a string Type", file=sys.stderr)
        return 2
    try:
        if args.text:
            text = path.read_bytes().decode("utf-8", "surrogateescape")
            tpl = parse(text, name=path.name, engine="text", funcs=template_funcs())
        else:
            tpl = load_template(path)
    except (TemplateLoadError, TemplateError, OSError) as e:
        print(f"tykevents render: {e}", file=sys.stderr)
        return 1
    try:
        data = template_data(ev["Type"], ev.get("Meta"), str(ev.get("TimeStamp", "")))
        out = tpl.render_bytes(data)
    except MetaTypeError as e:
        print(f"tykevents render: wrong type in Meta: {e}", file=sys.stderr)
        return 1
    except TemplateError as e:
        sys.stdout.buffer.write(getattr(e, "partial", "").encode("utf-8", "surrogateescape"))
        print(f"\ntykevents render: {e} (Tyk sends nothing for this event)", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out)
    return 0
