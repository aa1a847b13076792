"""The real daemon in a subprocess, driven over its real sockets.

`DaemonProcess` writes a tyk.conf (with free ports and Unix socket paths in the test's temp
directory), API definitions and any extra files, runs `python -m tykevents run`, and offers
senders for every transport plus readers for /health, /metrics and the log. POST /events goes to
the events listener (`events_http`), /health and /metrics to the metrics listener (`http`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def encode(records: Iterable[Any]) -> list[bytes]:
    return [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]


class DaemonProcess:
    def __init__(
        self,
        tmp: Path,
        conf: dict[str, Any] | None = None,
        apps: dict[str, Any] | None = None,
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.udp = free_port(socket.SOCK_DGRAM)
        self.tcp = free_port()
        self.http = free_port()  # the metrics listener: GET /health, /metrics
        self.events_http = free_port()  # the events listener: POST /events
        self.admin = free_port()  # the admin API (it starts only with a tyk.conf `secret`)
        self.unix_dgram = str(tmp / "ingest.sock")
        self.unix_stream = str(tmp / "ingest-stream.sock")
        base = {
            "app_path": "apps",
            "template_path": str(ROOT / "templates"),
            "log_level": "info",
            "tykevents": {
                "listen": {
                    "udp": [f"127.0.0.1:{self.udp}"],
                    "unix_dgram": [self.unix_dgram],
                    "tcp": [f"127.0.0.1:{self.tcp}"],
                    "unix_stream": [self.unix_stream],
                    "http": [f"127.0.0.1:{self.events_http}"],
                },
                "metrics": f"127.0.0.1:{self.http}",
                "admin": {"listen": f"127.0.0.1:{self.admin}"},
                "drain_timeout": 5,
                "workers": 1,  # one process, unless a test asks for more (tests/scaleout/test_workers.py)
                "webhooks": {"dead_letter_path": str(tmp / "var" / "dead-letter.jsonl")},
            },
        }
        self.conf = deep_merge(base, conf or {})
        self.conf_path = tmp / "tyk.conf"
        self.write_conf()
        (tmp / "apps").mkdir(exist_ok=True)
        for name, doc in (apps or {}).items():
            self.write_app(name, doc)
        for name, text in (files or {}).items():
            p = tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        # The daemon runs from this working tree, whatever is installed.
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.env = {**os.environ, "PYTHONPATH": pythonpath, **(env or {})}
        self.log_path = tmp / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- files -----------------------------------------------------------------------------
    def write_conf(self, conf: dict[str, Any] | None = None) -> None:
        self.conf_path.write_text(json.dumps(conf if conf is not None else self.conf, indent=2))

    def write_app(self, name: str, doc: Any) -> None:
        p = self.tmp / "apps" / name
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))

    # -- process ---------------------------------------------------------------------------
    def start(self, wait: bool = True) -> DaemonProcess:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tykevents", "run", "-c", str(self.conf_path)],
            cwd=self.tmp,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        if wait:
            self.wait_until(lambda: self._health_or_none() is not None, 20, "the daemon to answer /health")
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def reload(self, expect_generation: int | None = None) -> None:
        before = self.health()["generation"]
        reloads = self.stats_value("reloads") + self.stats_value("reload_failures")
        self.signal(signal.SIGHUP)
        self.wait_until(
            lambda: self.stats_value("reloads") + self.stats_value("reload_failures") > reloads,
            10,
            "the reload to finish",
        )
        if expect_generation is not None:
            assert self.health()["generation"] == expect_generation, (before, self.log())

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    # -- observing ---------------------------------------------------------------------------
    def _health_or_none(self) -> dict[str, Any] | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=2) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)
        except OSError:
            return None

    def health(self, timeout: float = 10.0) -> dict[str, Any]:
        # A daemon at full load (a test's purpose) may answer one probe late: ask again.
        deadline = time.monotonic() + timeout
        while (h := self._health_or_none()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert h is not None, "no /health answer"
        return h

    def stats(self) -> dict[str, Any]:
        return self.health()["stats"]

    def stats_value(self, name: str) -> int:
        metrics = self.metrics()
        m = re.search(rf"^tykevents_{name}_total (\S+)$", metrics, re.M)
        return int(float(m.group(1))) if m else 0

    def metric(self, name: str, **labels: str) -> float:
        sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pat = rf"^{re.escape(name)}{{{re.escape(sel)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
        m = re.search(pat, self.metrics(), re.M)
        return float(m.group(1)) if m else 0.0

    def metrics(self) -> str:
        # 15 s: under a supervisor, worker 0's answer waits for its siblings' (2 s at most each)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=15) as r:
            return r.read().decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 10, count: int = 1) -> list[str]:
        rx = re.compile(pattern)
        found: list[str] = []

        def check() -> bool:
            nonlocal found
            found = [ln for ln in self.log().splitlines() if rx.search(ln)]
            return len(found) >= count

        self.wait_until(check, timeout, f"{count} log line(s) matching {pattern!r}")
        return found

    def wait_until(self, cond: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; daemon log:\n{self.log()[-6000:]}")

    # -- sending -----------------------------------------------------------------------------
    def send_udp(self, records: Iterable[Any]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for r in encode(records):
                s.sendto(r, ("127.0.0.1", self.udp))

    def send_unix_dgram(self, records: Iterable[Any]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            for r in encode(records):
                s.sendto(r, self.unix_dgram)

    def send_tcp(self, records: Iterable[Any], raw: bytes | None = None) -> None:
        with socket.create_connection(("127.0.0.1", self.tcp), timeout=30) as s:
            s.sendall(raw if raw is not None else b"".join(r + b"\n" for r in encode(records)))
            s.shutdown(socket.SHUT_WR)
            s.settimeout(30)
            s.recv(1)  # the daemon closes at stop only; EOF or timeout both end the wait

    def send_unix_stream(self, records: Iterable[Any]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.unix_stream)
            s.sendall(b"".join(r + b"\n" for r in encode(records)))

    def post_http(
        self, body: bytes, headers: dict[str, str] | None = None, url: str = ""
    ) -> tuple[int, dict[str, Any]]:
        url = url or f"http://127.0.0.1:{self.events_http}/events"
        req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, {"body": e.read().decode(errors="replace")}


def event(
    type: str,
    api_id: str = "",
    meta: Any = None,
    org_id: str = "org1",
    ts: str = "2024-03-05 14:07:09.123456789 +0000 UTC",
) -> dict[str, Any]:
    return {
        "Type": type,
        "Meta": meta if meta is not None else {},
        "TimeStamp": ts,
        "APIID": api_id,
        "OrgID": org_id,
    }


def classic_api(api_id: str, events: dict[str, list[dict[str, Any]]], org_id: str = "org1") -> dict[str, Any]:
    return {"name": f"API {api_id}", "api_id": api_id, "org_id": org_id, "event_handlers": {"events": events}}


def log_handler(prefix: str, **extra: Any) -> dict[str, Any]:
    return {"handler_name": "eh_log_handler", "handler_meta": {"prefix": prefix, **extra}}
