"""What `deadletter` and `deliveries` share: the filter options, and the admin API client for
`--admin` (a running daemon's admin listener, docs/operations.md#admin-api)."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FILTERS = ("api", "handler", "event", "host", "outcome", "status", "since", "until")
TIMEOUT = 60.0  # a replay of many dead letters waits for room under pending_limit


class RemoteError(Exception):
    """The admin API could not be asked, or refused: one line for stderr."""


def add_filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (all must match)")
    g.add_argument("--api", metavar="API_ID")
    g.add_argument("--handler", metavar="NAME")
    g.add_argument("--event", metavar="TYPE", help="event type, e.g. AuthFailure")
    g.add_argument("--host", metavar="HOST[:PORT]", help="target host")
    g.add_argument(
        "--outcome",
        help="delivered, failed, retrying, dead_lettered, dropped, suppressed, abandoned, breaker_open",
    )
    g.add_argument("--status", metavar="CODE", help="HTTP status of the last attempt")
    g.add_argument("--since", metavar="TIME", help="RFC 3339 or unix seconds")
    g.add_argument("--until", metavar="TIME", help="RFC 3339 or unix seconds")


def filter_query(args: argparse.Namespace) -> dict[str, str]:
    return {k: v for k in FILTERS if (v := getattr(args, k, None)) not in (None, "")}


def add_remote_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--admin",
        nargs="?",
        const="conf",
        metavar="URL",
        help="ask a running daemon's admin API (e.g. http://127.0.0.1:9904; alone: tyk.conf's "
        "tykevents.admin.listen) instead of reading the store on this host",
    )
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        help="file holding tyk.conf's secret for --admin (default: the secret of -c tyk.conf)",
    )


class AdminClient:
    def __init__(self, base: str, secret: str) -> None:
        self.base = base.rstrip("/")
        self.secret = secret

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        qs = f"?{urllib.parse.urlencode(query)}" if query else ""
        return self._call("GET", path + qs, None)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, data: bytes | None) -> Any:
        headers = {"x-tyk-authorization": self.secret, "Content-Type": "application/json"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                why = json.load(e).get("error", "")
            except (ValueError, AttributeError):
                why = ""
            raise RemoteError(f"{self.base}: {e.code} {why or e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RemoteError(f"cannot reach the admin API at {self.base}: {reason}") from None


def client_from_args(args: argparse.Namespace, load: Any) -> AdminClient:
    """The client --admin asks for. `load(conf_path)` reads tyk.conf (for the secret and,
    with a bare --admin, the address); RemoteError when neither gives what is needed."""
    cfg = None
    if args.secret_file:
        try:
            with open(args.secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as e:
            raise RemoteError(f"{args.secret_file}: {e.strerror or e}") from None
    else:
        cfg = load(args.conf)
        secret = cfg.secret
    if not secret:
        raise RemoteError("no secret: tyk.conf's `secret` is empty (or give --secret-file)")
    base = args.admin
    if base == "conf":
        cfg = cfg or load(args.conf)
        listen = cfg.tykevents.admin.listen
        if not listen:
            raise RemoteError("tykevents.admin.listen is empty: give --admin URL")
        host, _, port = listen.rpartition(":")
        host = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host in ("[::]", "::") else host
        base = f"http://{host}:{port}"
    elif "://" not in base:
        base = f"http://{base}"
    return AdminClient(base, secret)


def conf_default() -> str:
    return os.environ.get("TYKEVENTS_CONF", "tyk.conf")
