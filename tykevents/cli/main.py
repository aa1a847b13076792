"""Command line: run | check | send | render | deadletter | gateway-defs, and --version."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from tykevents import __version__

# Modules that add their own subcommands: each has add_subcommands(subparsers).
PLUGINS = ("tykevents.cli.deadletter", "tykevents.cli.deliveries", "tykevents.cli.gateway")


def _version() -> str:
    from tykevents import _fast

    state = "compiled (Cython)" if _fast.COMPILED else "pure Python"
    why = "" if _fast.COMPILED else f" [{_fast.COMPILE_ERROR}]" if _fast.COMPILE_ERROR else ""
    return f"tykevents {__version__} (hot path: {state}{why}; Python {sys.version.split()[0]})"


def cmd_run(args: argparse.Namespace) -> int:
    from tykevents.config import ConfigError, load_config
    from tykevents.daemon import run_daemon
    from tykevents.runtime.logs import setup_logging
    from tykevents.supervisor import (
        Supervisor,
        busy_addresses,
        install_shared_tables,
        install_stream_balance,
        worker_count,
    )

    try:
        cfg = load_config(args.conf)
    except ConfigError as e:
        setup_logging("info")
        logging.getLogger("tykevents").error("%s", e)
        return 2
    lg = cfg.tykevents.logging
    setup_logging(args.log_level or lg.level or cfg.log_level, lg.format, lg.file, lg.syslog)
    n = worker_count(cfg)
    if n == 1:
        return run_daemon(args.conf, cfg)
    busy = busy_addresses(cfg)
    if busy:
        logging.getLogger("tykevents").error("cannot start: address in use: %s", "; ".join(busy))
        return 1
    install_shared_tables(cfg)
    install_stream_balance(n)
    return Supervisor(n, lambda _: run_daemon(args.conf, cfg)).run()


def cmd_check(args: argparse.Namespace) -> int:
    from tykevents.cli.check import check

    return check(args.conf, out=sys.stdout, strict=args.strict)


def _event_from_args(args: argparse.Namespace) -> list[bytes]:
    if args.file:
        data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
        data = data.strip()
        if data.startswith(b"["):
            return [orjson.dumps(r) for r in orjson.loads(data)]
        return [line for line in data.split(b"\n") if line.strip()]
    if not args.type:
        raise SystemExit("tykevents send: give --type (and --api-id, --meta) or --file")
    meta = orjson.loads(args.meta) if args.meta else {}
    from tykevents.golang.time import go_time_string

    rec = {
        "Type": args.type,
        "Meta": meta,
        "TimeStamp": go_time_string(),
        "APIID": args.api_id,
        "OrgID": args.org_id,
    }
    return [orjson.dumps(rec)]


def cmd_send(args: argparse.Namespace) -> int:
    try:
        return _send(args)
    except OSError as e:
        print(f"tykevents send: {e}", file=sys.stderr)
        return 1


def _send(args: argparse.Namespace) -> int:
    records = _event_from_args(args) * args.count
    if args.http:
        import urllib.request

        req = urllib.request.Request(
            args.http,
            data=b"\n".join(records),
            method="POST",
            headers={"Content-Type": "application/x-ndjson"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            print(resp.read().decode())
        return 0
    if args.udp or args.unix:
        family = socket.AF_UNIX if args.unix else socket.AF_INET
        target: Any = args.unix
        if args.udp:
            from tykevents.config import split_hostport

            target = split_hostport(args.udp)
            family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            for r in records:
                s.sendto(r, target)
        print(f"sent {len(records)} record(s)")
        return 0
    if args.tcp or args.unix_stream:
        if args.tcp:
            from tykevents.config import split_hostport

            conn = socket.create_connection(split_hostport(args.tcp), timeout=10)
        else:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(args.unix_stream)
        with conn:
            conn.sendall(b"".join(r + b"\n" for r in records))
            conn.shutdown(socket.SHUT_WR)
        print(f"sent {len(records)} record(s)")
        return 0
    raise SystemExit("tykevents send: choose a transport: --udp, --unix, --tcp, --unix-stream or --http")


def cmd_render(args: argparse.Namespace) -> int:
    from tykevents.cli.render import render_cli

    return render_cli(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tykevents", description="Event-handling daemon for Tyk API gateways.")
    p.add_argument(
        "--version", action="store_true", help="print the version and whether the compiled hot path is in use"
    )
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("run", help="run the daemon")
    r.add_argument("-c", "--conf", default=os.environ.get("TYKEVENTS_CONF", "tyk.conf"), help="tyk.conf path")
    r.add_argument("--log-level", default="", help="override the log level (debug, info, warn, error)")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="validate tyk.conf and every API definition")
    c.add_argument("-c", "--conf", default=os.environ.get("TYKEVENTS_CONF", "tyk.conf"))
    c.add_argument("--strict", action="store_true", help="warnings fail too")
    c.set_defaults(func=cmd_check)

    s = sub.add_parser("send", help="send events to a running daemon")
    t = s.add_mutually_exclusive_group()
    t.add_argument("--udp", metavar="HOST:PORT")
    t.add_argument("--unix", metavar="PATH", help="Unix datagram socket")
    t.add_argument("--tcp", metavar="HOST:PORT")
    t.add_argument("--unix-stream", metavar="PATH")
    t.add_argument("--http", metavar="URL", help="e.g. http://127.0.0.1:9902/events")
    s.add_argument("--type", help="event type, e.g. AuthFailure")
    s.add_argument("--api-id", default="")
    s.add_argument("--org-id", default="")
    s.add_argument("--meta", help="Meta as JSON")
    s.add_argument("--file", help="records as JSON lines or a JSON array ('-' for stdin)")
    s.add_argument("--count", type=int, default=1, help="send the records this many times")
    s.set_defaults(func=cmd_send)

    rd = sub.add_parser("render", help="preview a webhook template against an event file")
    rd.add_argument("template", help="template file, or 'default' for templates/default_webhook.json")
    rd.add_argument("event", help="event JSON file ({Type, Meta, TimeStamp}) or '-'")
    rd.add_argument("--text", action="store_true", help="text/template instead of html/template")
    rd.add_argument("--templates", default="templates", help="directory of the default templates")
    rd.set_defaults(func=cmd_render)

    for mod in PLUGINS:
        try:
            importlib.import_module(mod).add_subcommands(sub)
        except ModuleNotFoundError:
            continue
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(_version())
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
