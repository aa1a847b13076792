"""Calling a real daemon's admin API (tests/support/daemon.py binds it to a free port)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.support.daemon import DaemonProcess, classic_api

SECRET = "adm1n-S3cret-0123"
HDR_SECRET = "hdr-s3cret-9876"
FAST = {"timeout": 2.0, "backoff_base": 0.05, "backoff_max": 0.1, "max_attempts": 2}


def call(
    d: DaemonProcess,
    method: str,
    path: str,
    body: Any = None,
    secret: str | None = SECRET,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    hs = dict(headers or {})
    if secret is not None:
        hs["x-tyk-authorization"] = secret
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(f"http://127.0.0.1:{d.admin}{path}", data=data, method=method, headers=hs)
    # /health answers from before the admin listener opens (the state says "starting").
    if not getattr(d, "admin_ready", False):
        d.wait_until(lambda: (d._health_or_none() or {}).get("status") == "running", 20, "the daemon to run")
        d.admin_ready = True  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw, status, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raw, status, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, json.loads(raw) if ctype.startswith("application/json") else raw.decode()


def hook(url: str, **meta: Any) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 0, **meta},
    }


def secret_hook_api(api_id: str, url: str) -> dict[str, Any]:
    """A webhook whose URL has credentials and a query secret, with a secret header."""
    creds = url.replace("http://", "http://alice:pa55word@") + "?token=tok-abc&plain=1"
    headers = {"X-Api-Key": HDR_SECRET, "X-Plain": "visible"}
    return classic_api(api_id, {"AuthFailure": [hook(creds, header_map=headers)]})


def conf(**admin: Any) -> dict[str, Any]:
    return {"secret": SECRET, "tykevents": {"webhooks": dict(FAST), **({"admin": admin} if admin else {})}}
