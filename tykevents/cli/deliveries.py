"""`tykevents deliveries list | show`: the delivery log (docs/webhooks.md#delivery-log), newest
first, with the filters of the admin API.

With --admin, a running daemon's admin API answers (secrets redacted). On the host, the log is
read from Redis when tyk.conf's state is "redis" (every instance writes there); with state
"memory" it lives in the daemon's memory, so only --admin can show it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import urllib.parse
from typing import Any, TextIO

import orjson

from tykevents.cli.deadletter import ConfError, load_conf
from tykevents.cli.remote import (
    RemoteError,
    add_filter_args,
    add_remote_args,
    client_from_args,
    conf_default,
    filter_query,
)


def add_subcommands(subparsers: Any) -> None:
    dv = subparsers.add_parser("deliveries", help="recent webhook deliveries and their attempts")
    sub = dv.add_subparsers(dest="deliveries_command", required=True)
    ls = sub.add_parser("list", help="list deliveries, newest first")
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    add_filter_args(ls)
    sh = sub.add_parser("show", help="one delivery with every attempt")
    sh.add_argument("id", help="the delivery's id (as `list` shows it)")
    for p, func in ((ls, cmd_list), (sh, cmd_show)):
        p.add_argument("-c", "--conf", "--config", dest="conf", default=conf_default(), help="tyk.conf path")
        p.add_argument("--json", action="store_true", help="JSON instead of text")
        add_remote_args(p)
        p.set_defaults(func=func)


def _when(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else "-"


def print_items(items: list[dict[str, Any]], out: TextIO, as_json: bool) -> None:
    if as_json:
        for i in items:
            out.write(orjson.dumps(i).decode() + "\n")
        return
    for i in items:
        status = i["status"] if i.get("status") is not None else "-"
        out.write(
            f"{i['id']}  {_when(i.get('last_attempt'))}  {i['outcome']:<13} status={status} "
            f"attempts={i['attempts']}  {i.get('event') or '-'} api={i['api_id']} handler={i['handler']}  "
            f"{i['url']}\n"
        )
        if i.get("error"):
            out.write(f"    error: {i['error']}\n")
    out.write(f"{len(items)} deliveries\n")


def print_one(d: dict[str, Any], out: TextIO, as_json: bool) -> None:
    if as_json:
        out.write(orjson.dumps(d).decode() + "\n")
        return
    out.write(
        f"{d['id']}  {d['outcome']}  {d.get('event') or '-'}  api={d['api_id']} handler={d['handler']}\n"
        f"  {d['url']}  created {_when(d.get('created'))}\n"
    )
    for a in d.get("attempts", []):
        status = a["status"] if a.get("status") is not None else "-"
        error = f"  {a['error']}" if a.get("error") else ""
        out.write(
            f"  #{a['n']}  {_when(a.get('time'))}  {a['outcome']:<13} status={status} "
            f"{a['latency_ms']:.1f}ms{error}\n"
        )


def _fail(prog: str, why: Any) -> int:
    sys.stderr.write(f"tykevents deliveries {prog}: {why}\n")
    return 2 if isinstance(why, ConfError) else 1


def _host_log(prog: str, args: argparse.Namespace, work: Any) -> int:
    """Run `await work(log)` on the Redis delivery log tyk.conf names."""
    try:
        cfg = load_conf(args.conf)
    except ConfError as e:
        return _fail(prog, e)
    if cfg.tykevents.state != "redis":
        return _fail(
            prog,
            ConfError(
                'with state "memory" the delivery log lives in the daemon: ask it with --admin '
                "(docs/operations.md#admin-api)"
            ),
        )
    from tykevents.deliver.webhook.deliverylog import RedisDeliveryLog
    from tykevents.store.redis import redis_client

    settings = cfg.tykevents.webhooks.log

    async def run() -> int:
        client = redis_client(cfg)
        try:
            return int(await work(RedisDeliveryLog(client, settings.max_entries, settings.max_age)))
        finally:
            await client.aclose()

    return asyncio.run(run())


def cmd_list(args: argparse.Namespace) -> int:
    from tykevents.deliver.webhook.deliverylog import DeliveryFilter

    query = filter_query(args)
    try:
        flt = DeliveryFilter.from_query(query)
    except ValueError as e:
        return _fail("list", ConfError(str(e)))
    if args.admin:
        try:
            client = client_from_args(args, load_conf)
            items = client.get("/api/deliveries", {**query, "limit": args.limit})["deliveries"]
        except (ConfError, RemoteError) as e:
            return _fail("list", e)
        print_items(items, sys.stdout, args.json)
        return 0

    async def work(log: Any) -> int:
        from tykevents.admin.redact import redact_record

        print_items([redact_record(i) for i in await log.query(flt, args.limit)], sys.stdout, args.json)
        return 0

    return _host_log("list", args, work)


def cmd_show(args: argparse.Namespace) -> int:
    if args.admin:
        try:
            client = client_from_args(args, load_conf)
            d = client.get(f"/api/deliveries/{urllib.parse.quote(args.id, safe='')}")
        except (ConfError, RemoteError) as e:
            return _fail("show", e)
        print_one(d, sys.stdout, args.json)
        return 0

    async def work(log: Any) -> int:
        from tykevents.admin.redact import redact_record

        d = await log.get(args.id)
        if d is None:
            return _fail("show", f"{args.id}: no such delivery")
        print_one(redact_record(d), sys.stdout, args.json)
        return 0

    return _host_log("show", args, work)
