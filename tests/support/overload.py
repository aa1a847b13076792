"""UDP overload with every record accounted for, shared by the fault test and the 60 s bench.

A webhook whose receiver answers after `delay` seconds, `concurrency` at a time, caps what the
daemon can deliver (concurrency / delay per second). Events are offered over UDP at `factor`
times that, paced, for `seconds`. When everything has settled, each datagram sent is exactly one
of: dropped by the kernel (tykevents_udp_kernel_drops_total), rejected, dropped at a full lane
(tykevents_dropped_total, the datagram overload policy), or handled; and every handled webhook
call is delivered to the receiver exactly once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.daemon import DaemonProcess, classic_api, event
from tests.support.threaded import ThreadedReceiver
from tests.webhook.receiver import RawRequest

SMALL = {
    "lanes": {"webhook_queue": 256, "webhook_workers": 16},
    "webhooks": {"pending_limit": 200, "max_per_host": 16, "timeout": 10},
}


def slow(delay: float, concurrency: int) -> Callable[[RawRequest], Any]:
    gate: list[asyncio.Semaphore] = []

    async def respond(req: RawRequest) -> int:
        if not gate:
            gate.append(asyncio.Semaphore(concurrency))
        async with gate[0]:
            await asyncio.sleep(delay)
        return 200

    return respond


def setup(url: str) -> dict[str, Any]:
    hook = {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 0},
    }
    return {"conf": {"tykevents": SMALL}, "apps": {"a.json": classic_api("a", {"AuthFailure": [hook]})}}


def datagram(i: int) -> bytes:
    meta = {"Message": "m", "Origin": "10.0.0.1", "Key": "k1234567", "Path": f"/p{i}"}
    return json.dumps(event("AuthFailure", "a", meta)).encode()


def offer(port: int, rate: float, seconds: float) -> int:
    """Send numbered events at `rate` per second for `seconds`, paced in 1 ms slices."""
    sent = 0
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed)
            while sent < due:
                s.sendto(datagram(sent), ("127.0.0.1", port))
                sent += 1
            time.sleep(0.001)
    return sent


@dataclass
class Accounting:
    sent: int
    kernel_drops: int
    received: int
    rejected: int
    dropped: int
    handled: int
    delivered: int
    distinct: int

    @property
    def accounted(self) -> int:
        return self.kernel_drops + self.rejected + self.dropped + self.handled

    def line(self) -> str:
        return (
            f"sent {self.sent:,}  kernel drops {self.kernel_drops:,}  rejected {self.rejected:,}  "
            f"dropped at the lane {self.dropped:,}  handled {self.handled:,}  accounted "
            f"{self.accounted:,} ({self.accounted - self.sent:+,})  delivered {self.delivered:,} "
            f"(distinct {self.distinct:,})"
        )


def account(d: DaemonProcess, receiver: ThreadedReceiver, sent: int, settle: float = 60) -> Accounting:
    """Wait until the numbers stop moving (or `settle` s), then read them."""

    def read() -> Accounting:
        m = d.metrics()

        def value(name: str, label: str = "") -> int:
            for line in m.splitlines():
                if line.startswith(name + (f"{{{label}}}" if label else " ")):
                    return int(float(line.rsplit(" ", 1)[1]))
            return 0

        bodies = [r.body for r in receiver.requests]
        return Accounting(
            sent=sent,
            kernel_drops=value("tykevents_udp_kernel_drops_total"),
            received=value("tykevents_records_total"),
            rejected=sum(
                int(float(ln.rsplit(" ", 1)[1]))
                for ln in m.splitlines()
                if ln.startswith("tykevents_rejected_total{")
            ),
            dropped=value("tykevents_dropped_total", 'kind="webhook"'),
            handled=value("tykevents_handled_total", 'kind="webhook"'),
            delivered=len(bodies),
            distinct=len(set(bodies)),
        )

    deadline = time.monotonic() + settle
    last = read()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = read()
        if now == last and now.accounted >= sent and now.delivered >= now.handled:
            return now
        last = now
    return last
