"""`tykevents deadletter list | replay`: look at failed webhook deliveries and send them again.

The store is the daemon's: the dead-letter file of `tykevents.webhooks.dead_letter_path`
(state "memory") or the Redis stream (state "redis"), as tyk.conf says, together with the
fallback file the daemon writes when that store fails (`webhooks.dead_letter_fallback`).
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

from tykevents.golang import url as gourl


def add_subcommands(subparsers: Any) -> None:
    dl = subparsers.add_parser("deadletter", help="list or replay failed webhook deliveries")
    sub = dl.add_subparsers(dest="deadletter_command", required=True)
    conf_default = os.environ.get("TYKEVENTS_CONF", "tyk.conf")

    ls = sub.add_parser("list", help="list dead letters")
    ls.add_argument("-c", "--conf", "--config", dest="conf", default=conf_default, help="tyk.conf path")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument(
        "--full",
        action="store_true",
        help="whole records, headers and bodies included (they may hold API keys)",
    )
    ls.set_defaults(func=cmd_list)

    rp = sub.add_parser("replay", help="send dead letters again; delivered ones are removed")
    rp.add_argument("-c", "--conf", "--config", dest="conf", default=conf_default, help="tyk.conf path")
    which = rp.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", metavar="ID", help="the entry to replay (repeatable)")
    which.add_argument("--all", action="store_true", help="replay every entry")
    rp.set_defaults(func=cmd_replay)


class ConfError(Exception):
    """The configuration named cannot be used: exit 2 rather than guess another store."""


def _load(conf_path: str) -> Any:
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
        cfg = _load(conf_path)
    except ConfError as e:
        return _fail(prog, e)

    async def run() -> int:
        store = _open_store(cfg)
        try:
            return await work(cfg, store)
        finally:
            await _close(store)

    return asyncio.run(run())


def cmd_list(args: argparse.Namespace) -> int:
    async def work(cfg: Any, store: Any) -> int:
        print_list(await store.list(), sys.stdout, args.json, args.full)
        return 0

    return _with_store("list", args.conf, work)


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
        records = [r for r in records if r.get("id") in set(ids)]
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
            res = await sender.send(d.plan, d.body)
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
    async def work(cfg: Any, store: Any) -> int:
        ids = None if args.all else args.id
        failed = await replay(store, cfg.tykevents.webhooks, ids, sys.stdout, cfg.external_services)
        return 1 if failed else 0

    return _with_store("replay", args.conf, work)


async def _close(store: Any) -> None:
    for s in getattr(store, "stores", [store]):
        client = getattr(s, "client", None)
        if client is not None:
            await client.aclose()
