"""`tykevents deadletter list | replay | purge`: look at failed webhook deliveries, send them
again, or drop them; all, by id, or by filter (--api, --status, --since, ...).

On the host, the store is the daemon's: the dead-letter file of
`tykevents.webhooks.dead_letter_path` (state "memory") or the Redis stream (state "redis"), as
tyk.conf says, together with the fallback file the daemon writes when that store fails
(`webhooks.dead_letter_fallback`); a replay sends each once from here. With --admin, the
running daemon's admin API does it, and a replay goes through its retry policy.
Listing never shows bodies or header values (they may hold API keys) unless --full is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any, TextIO

import orjson

from tykevents.cli.remote import (
    RemoteError,
    add_filter_args,
    add_remote_args,
    client_from_args,
    conf_default,
    filter_query,
)
from tykevents.golang import url as gourl


def add_subcommands(subparsers: Any) -> None:
    dl = subparsers.add_parser("deadletter", help="list, replay or purge failed webhook deliveries")
    sub = dl.add_subparsers(dest="deadletter_command", required=True)

    ls = sub.add_parser("list", help="list dead letters")
    ls.add_argument("-c", "--conf", "--config", dest="conf", default=conf_default(), help="tyk.conf path")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument(
        "--full",
        action="store_true",
        help="whole records, headers and bodies included (they may hold API keys; not with --admin)",
    )
    ls.add_argument("--limit", type=int, help="at most this many, newest first")
    add_filter_args(ls)
    add_remote_args(ls)
    ls.set_defaults(func=cmd_list)

    for name, what, func in (
        (
            "replay",
            "send dead letters again (delivered ones, or with --admin re-queued ones, are removed)",
            cmd_replay,
        ),
        ("purge", "remove dead letters for good", cmd_purge),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("-c", "--conf", "--config", dest="conf", default=conf_default(), help="tyk.conf path")
        which = p.add_mutually_exclusive_group()
        which.add_argument("--id", action="append", metavar="ID", help=f"the entry to {name} (repeatable)")
        which.add_argument("--all", action="store_true", help=f"{name} every entry")
        add_filter_args(p)
        add_remote_args(p)
        p.set_defaults(func=func)


class ConfError(Exception):
    """The configuration named cannot be used: exit 2 rather than guess another store."""


def load_conf(conf_path: str) -> Any:
    """The daemon's config. It must exist: with defaults instead, the listing would
    silently be of some other store."""
    from tykevents.config import ConfigError, load_config

    if not os.path.isfile(conf_path):
        raise ConfError(
            f"{conf_path}: no such config file (give the daemon's tyk.conf with -c or TYKEVENTS_CONF)"
        )
    try:
        return load_config(conf_path)
    except ConfigError as e:
        raise ConfError(str(e)) from None


def _open_store(cfg: Any) -> Any:
    """The dead-letter stores the daemon of `cfg` uses, as one (call on the running loop)."""
    from tykevents.deliver.webhook.deadletter import (
        DeadLetterSet,
        FileDeadLetters,
        RedisDeadLetters,
        dead_letter_file,
        fallback_file,
    )

    settings = cfg.tykevents.webhooks
    primary: Any
    if cfg.tykevents.state == "redis":
        from tykevents.store.redis import redis_client

        primary = RedisDeadLetters(redis_client(cfg))
    else:
        primary = FileDeadLetters(dead_letter_file(settings, cfg.state_path(".")))
    fallback = fallback_file(settings, cfg.state_path("."))
    if getattr(primary, "path", None) == fallback:
        return DeadLetterSet([primary])
    return DeadLetterSet([primary, FileDeadLetters(fallback)])


def _fail(prog: str, e: ConfError) -> int:
    sys.stderr.write(f"tykevents deadletter {prog}: {e}\n")
    return 2


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """What `list` shows: no header values, no body, no password, no query string."""
    body = rec.get("body") or ""
    url = str(rec.get("url", ""))
    return {
        "id": rec.get("id"),
        "time": rec.get("time"),
        "handler": rec.get("handler", ""),
        "api_id": rec.get("api_id", ""),
        "method": rec.get("method", ""),
        "url": gourl.redact(url),
        "status": rec.get("status"),
        "attempts": rec.get("attempts", 0),
        "error": gourl.scrub(str(rec.get("error") or ""), url),  # older records: raw URLs
        "body_bytes": len(body) * 3 // 4 - body[-2:].count("="),
    }


def print_list(records: list[dict[str, Any]], out: TextIO, as_json: bool, full: bool) -> None:
    if full:
        for r in records:
            out.write(orjson.dumps(r).decode() + "\n")
        return
    rows = [summary(r) for r in records]
    if as_json:
        for s in rows:
            out.write(orjson.dumps(s).decode() + "\n")
        return
    if not rows:
        out.write("no dead letters\n")
        return
    for s in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["time"])) if s["time"] else "-"
        status = s["status"] if s["status"] is not None else "-"
        out.write(
            f"{s['id']}  {when}  {s['method']} {s['url']}  status={status} "
            f"attempts={s['attempts']} body={s['body_bytes']}B handler={s['handler']}\n"
            f"    error: {s['error']}\n"
        )
    out.write(f"{len(rows)} dead letter(s)\n")


def _with_store(prog: str, conf_path: str, work: Any) -> int:
    """Load the daemon's config, open its dead-letter store, run `await work(cfg, store)`."""
    try:
        cfg = load_conf(conf_path)
    except ConfError as e:
        return _fail(prog, e)

    async def run() -> int:
        store = _open_store(cfg)
        try:
            return await work(cfg, store)
        finally:
            await _close(store)

    return asyncio.run(run())


def _filter(args: argparse.Namespace) -> Any:
    """The DeliveryFilter of the filter options, None without any; ValueError if one is bad."""
    from tykevents.deliver.webhook.deliverylog import DeliveryFilter

    query = filter_query(args)
    return DeliveryFilter.from_query(query) if query else None


def _select(records: list[dict[str, Any]], flt: Any) -> list[dict[str, Any]]:
    from tykevents.deliver.webhook.deliverylog import letter_view

    return records if flt is None else [r for r in records if flt.match(letter_view(r))]


def _newest(records: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if limit is None:
        return records
    records = sorted(records, key=lambda r: r.get("created") or r.get("time") or 0, reverse=True)
    return records[: max(0, limit)]


def _remote(prog: str, args: argparse.Namespace, work: Any) -> int:
    try:
        return int(work(client_from_args(args, load_conf)))
    except ConfError as e:
        return _fail(prog, e)
    except RemoteError as e:
        sys.stderr.write(f"tykevents deadletter {prog}: {e}\n")
        return 1


def print_remote(items: list[dict[str, Any]], out: TextIO, as_json: bool) -> None:
    """Dead letters as the admin API lists them (already redacted)."""
    if as_json:
        for i in items:
            out.write(orjson.dumps(i).decode() + "\n")
        return
    if not items:
        out.write("no dead letters\n")
        return
    for i in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i["created"])) if i.get("created") else "-"
        status = i["status"] if i.get("status") is not None else "-"
        out.write(
            f"{i['id']}  {when}  {i.get('event') or '-'} {i['url']}  status={status} "
            f"attempts={i['attempts']} api={i['api_id']} handler={i['handler']}\n"
            f"    error: {i['error']}\n"
        )
    out.write(f"{len(items)} dead letter(s)\n")


def cmd_list(args: argparse.Namespace) -> int:
    try:
        flt = _filter(args)
    except ValueError as e:
        return _fail("list", ConfError(str(e)))
    if args.admin:
        if args.full:
            return _fail("list", ConfError("--full reads the store on this host: not with --admin"))

        def ask(client: Any) -> int:
            query = {**filter_query(args), **({"limit": args.limit} if args.limit else {})}
            print_remote(client.get("/api/deadletters", query)["dead_letters"], sys.stdout, args.json)
            return 0

        return _remote("list", args, ask)

    async def work(cfg: Any, store: Any) -> int:
        records = _newest(_select(await store.list(), flt), args.limit)
        print_list(records, sys.stdout, args.json, args.full)
        return 0

    return _with_store("list", args.conf, work)


def _which(prog: str, args: argparse.Namespace) -> tuple[list[str] | None, Any]:
    """(ids, filter) named on the command line; ConfError when nothing is (not everything)."""
    try:
        flt = _filter(args)
    except ValueError as e:
        raise ConfError(str(e)) from None
    if args.id and flt is not None:
        raise ConfError("give --id or filters, not both")
    if not (args.id or args.all or flt is not None):
        raise ConfError(f"name the dead letters to {prog}: --id ID, --all, or filters (--api, --status, ...)")
    return args.id, flt


def _remote_batch(prog: str, args: argparse.Namespace, ids: list[str] | None) -> int:
    key = "replayed" if prog == "replay" else "purged"

    def ask(client: Any) -> int:
        body = {"ids": ids} if ids else {"filter": filter_query(args)}
        n = client.post(f"/api/deadletters/{prog}", body)[key]
        print(f"{key} {n}")
        return 0 if ids is None or n == len(set(ids)) else 1

    return _remote(prog, args, ask)


async def replay(store: Any, settings: Any, ids: list[str] | None, out: TextIO, external: Any = None) -> int:
    """Send the chosen entries once each (through the client tyk.conf's external_services picks);
    remove those delivered. Returns how many failed."""
    from tykevents.deliver.webhook.client import HttpSender
    from tykevents.deliver.webhook.delivery import Delivery

    records = await store.list()
    if ids is not None:
        known = {r.get("id") for r in records}
        for missing in [i for i in ids if i not in known]:
            out.write(f"{missing}: no such dead letter\n")
        wanted = set(ids)
        records = [r for r in records if r.get("id") in wanted]
    sender = HttpSender(settings, external=external)
    await sender.start()
    failed = 0
    try:
        for rec in records:
            try:
                d = Delivery.from_record(rec)
            except (KeyError, ValueError, TypeError) as e:
                failed += 1
                out.write(f"{rec.get('id')}: unreadable entry: {e}\n")
                continue
            res = await sender.send(d.plan, d.body, d)  # d: its id and signing kept on replay
            if res.ok:
                await store.remove([rec["id"]])
                out.write(f"{rec['id']}: delivered ({res.status}), removed\n")
            else:
                failed += 1
                out.write(f"{rec['id']}: failed: {gourl.scrub(res.error, d.plan.url)}\n")
    finally:
        await sender.close()
    if ids is not None:
        failed += len(set(ids) - {r.get("id") for r in records})
    return failed


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        ids, flt = _which("replay", args)
    except ConfError as e:
        return _fail("replay", e)
    if args.admin:
        return _remote_batch("replay", args, ids)

    async def work(cfg: Any, store: Any) -> int:
        chosen = ids
        if flt is not None:
            chosen = [str(r.get("id")) for r in _select(await store.list(), flt)]
        failed = await replay(store, cfg.tykevents.webhooks, chosen, sys.stdout, cfg.external_services)
        return 1 if failed else 0

    return _with_store("replay", args.conf, work)


def cmd_purge(args: argparse.Namespace) -> int:
    try:
        ids, flt = _which("purge", args)
    except ConfError as e:
        return _fail("purge", e)
    if args.admin:
        return _remote_batch("purge", args, ids)

    async def work(cfg: Any, store: Any) -> int:
        records = await store.list()
        if ids is not None:
            known = {str(r.get("id")) for r in records}
            for missing in [i for i in ids if i not in known]:
                print(f"{missing}: no such dead letter")
            chosen = [i for i in ids if i in known]
        else:
            chosen = [str(r.get("id")) for r in _select(records, flt)]
        n = await store.remove(chosen) if chosen else 0
        print(f"purged {n}")
        return 0 if ids is None or n == len(set(ids)) else 1

    return _with_store("purge", args.conf, work)


async def _close(store: Any) -> None:
    for s in getattr(store, "stores", [store]):
        client = getattr(s, "client", None)
        if client is not None:
            await client.aclose()
