"""Several real daemons on one shared Redis: their tyk.conf, parallel start, and what the
tests read back (the spool's stream, summed metrics, the bodies a receiver saw)."""

from __future__ import annotations

import collections
import json
import re
import socket
import time
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event
from tests.webhook.receiver import RawRequest
from tykevents.deliver.webhook.spool import GROUP, STREAM

HOUR = 3600
LEVELS = (50.0, 80.0, 95.0)  # the keys' trigger_limits: each must fire once


def hook(url: str, event_timeout: int = 0) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": event_timeout},
    }


def apps(url: str) -> dict[str, Any]:
    """API "a": every AuthFailure to /hook, no cooldown. API "c": KeyExpired to /cool with a
    one-hour cooldown, so the same event sent to every instance must fire once."""
    return {
        "a.json": classic_api("a", {"AuthFailure": [hook(url + "hook")]}),
        "c.json": classic_api("c", {"KeyExpired": [hook(url + "cool", event_timeout=HOUR)]}),
    }


def instance_conf(
    storage: dict[str, Any], name: str, monitor_url: str = "", **webhooks: Any
) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "storage": storage,
        "tykevents": {
            "state": "redis",
            "lanes": {"webhook_queue": 256, "webhook_workers": 16},
            "webhooks": {
                "spool_consumer": name,  # one host, several instances: distinct consumer names
                "timeout": 10,
                "backoff_base": 0.05,
                "backoff_max": 0.2,
                **webhooks,
            },
        },
    }
    if monitor_url:
        conf["monitor"] = {
            "enable_trigger_monitors": True,
            "global_trigger_limit": 0,
            "monitor_user_keys": True,
            "monitor_org_keys": True,
            "configuration": {
                "method": "POST",
                "target_path": monitor_url,
                "template_path": str(ROOT / "templates" / "monitor_template.json"),
            },
        }
    return conf


def start_all(daemons: list[DaemonProcess]) -> list[DaemonProcess]:
    """Start every daemon at once (each imports for a second or two), then wait for each."""
    for d in daemons:
        d.start(wait=False)
    for d in daemons:
        d.wait_until(d._health_or_none, 30, "the daemon to answer /health")
    return daemons


def numbered(n: int, start: int = 0, api_id: str = "a", type: str = "AuthFailure") -> list[dict[str, Any]]:
    """Events whose rendered bodies differ (the Path)."""
    meta = {"Message": "m", "Origin": "10.0.0.1", "Key": "k1234567"}
    return [event(type, api_id, {**meta, "Path": f"/p{i}"}) for i in range(start, start + n)]


def lines(records: Iterable[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def send_tcp(d: DaemonProcess, records: Iterable[Any]) -> None:
    """One TCP connection, closed once written: the daemon reads it to the end."""
    with socket.create_connection(("127.0.0.1", d.tcp), timeout=60) as s:
        s.sendall(lines(records))


def send_udp(d: DaemonProcess, records: list[Any], per_burst: int = 50) -> None:
    """Datagrams in small bursts, so a loopback receive buffer never overflows."""
    for i in range(0, len(records), per_burst):
        d.send_udp(records[i : i + per_burst])
        time.sleep(0.005)


def send_http(d: DaemonProcess, records: list[Any]) -> None:
    status, body = d.post_http(lines(records))
    assert status == 202 and body["rejected"] == 0, (status, body)


def quota(key: str, remaining: int, renews: int, qmax: int = 100) -> dict[str, Any]:
    session = {
        "org_id": "org1",
        "quota_max": qmax,
        "quota_remaining": remaining,
        "quota_renews": renews,
        "quota_renewal_rate": HOUR,
        "monitor": {"trigger_limits": list(LEVELS)},
    }
    return {"Kind": "quota", "Key": key, "Session": session}


def path_of(body: bytes) -> str:
    return json.loads(body)["path"]


def paths(requests: Iterable[RawRequest], target: str) -> collections.Counter[str]:
    return collections.Counter(path_of(r.body) for r in requests if r.target == target)


def fires(requests: Iterable[RawRequest]) -> collections.Counter[tuple[str, str]]:
    """(key, trigger_limit) of each TriggerExceeded the monitor webhook delivered."""
    out: collections.Counter[tuple[str, str]] = collections.Counter()
    for r in requests:
        if r.target == "/monitor":
            doc = json.loads(r.body)
            assert doc["event"] == "TriggerExceeded", doc
            out[doc["key"], doc["trigger_limit"]] += 1
    return out


def settled(client: Any) -> tuple[int, int]:
    """(entries left in the spool's stream, entries pending in its group)."""
    return client.xlen(STREAM), client.xpending(STREAM, GROUP)["pending"]


def pending_of(client: Any, consumer: str) -> int:
    """Entries pending under one consumer (one instance) in the spool's group."""
    for c in client.xinfo_consumers(STREAM, GROUP):
        name = c.get("name", c.get(b"name"))
        if (name.decode() if isinstance(name, bytes) else name) == consumer:
            return int(c.get("pending", c.get(b"pending", 0)))
    return 0


def entries_added(client: Any) -> int:
    """Every entry ever written to the spool's stream (XINFO STREAM, Redis 7)."""
    info = client.xinfo_stream(STREAM)
    return int(info.get("entries-added", info.get(b"entries-added", 0)))


def metric_sum(d: DaemonProcess, name: str, **labels: str) -> float:
    """A metric summed over every label set that has `labels` (the others free). Each
    series counts once, should /metrics list it twice."""
    with urllib.request.urlopen(f"http://127.0.0.1:{d.http}/metrics", timeout=5) as r:
        text = r.read().decode()
    series: dict[str, float] = {}
    for m in re.finditer(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            series[m.group(1) or ""] = float(m.group(2))
    return sum(series.values())


def wait(cond: Callable[[], Any], timeout: float, what: str, daemons: Iterable[DaemonProcess] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {d.tmp.name}\n{d.log()[-2500:]}" for d in daemons)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)
