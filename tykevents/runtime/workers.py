"""Which worker this process is, when a supervisor runs several (tykevents/supervisor.py), and
the metrics of all workers as one exposition.

The supervisor gives each worker TYKEVENTS_WORKER="<index>/<count>/<supervisor pid>". Worker 0
also serves what must exist once (the metrics and admin listeners, Unix socket paths); every
worker serves UDP, TCP, HTTP and gRPC on SO_REUSEPORT sockets, and stream and HTTP /events
connections go to the worker holding the fewest (ingest/balance.py, docs/operations.md#workers).

Metrics: each worker answers its own exposition on an abstract Unix socket named after the
supervisor and its index; worker 0's /metrics reads its siblings' and sums samples of the same
name and labels (counters and gauges alike, which is what queue depths and totals mean across
workers), and adds tykevents_workers{state="up"|"missing"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

ENV = "TYKEVENTS_WORKER"
_SIBLING_TIMEOUT = 2.0


@dataclass(frozen=True)
class Worker:
    index: int = 0
    count: int = 1
    supervisor: int = 0  # pid, 0 when there is no supervisor

    @property
    def first(self) -> bool:
        """The worker that serves what must exist once."""
        return self.index == 0

    @property
    def supervised(self) -> bool:
        return self.count > 1

    def metrics_address(self, index: int) -> str:
        return f"\0tykevents-{self.supervisor}-w{index}-metrics"


def current(env: dict[str, str] | None = None) -> Worker:
    raw = (os.environ if env is None else env).get(ENV, "")
    parts = raw.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return Worker()
    index, count, supervisor = (int(p) for p in parts)
    return Worker(index, max(count, 1), supervisor) if index < max(count, 1) else Worker()


class MetricsPeer:
    """This worker's exposition on its abstract socket (one connection, one answer, close)."""

    def __init__(self, worker: Worker, registry: CollectorRegistry) -> None:
        self.worker = worker
        self.registry = registry
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(generate_latest(self.registry))
                await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_unix_server(answer, self.worker.metrics_address(self.worker.index))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


async def _sibling(address: str) -> bytes | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(_SIBLING_TIMEOUT):
            # connected here: uvloop's open_unix_connection does not take abstract names
            await asyncio.get_running_loop().sock_connect(sock, address)
            reader, writer = await asyncio.open_unix_connection(sock=sock)
            try:
                return await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        sock.close()
        return None  # restarting, or gone: counted as missing


async def exposition(registry: CollectorRegistry, worker: Worker | None = None) -> bytes:
    """/metrics: this process's, or with a supervisor every worker's, summed."""
    worker = current() if worker is None else worker
    own = generate_latest(registry)
    if not worker.supervised:
        return own
    others = await asyncio.gather(
        *(_sibling(worker.metrics_address(i)) for i in range(worker.count) if i != worker.index)
    )
    texts = [own, *(t for t in others if t is not None)]
    return merge(texts, up=len(texts), missing=worker.count - len(texts))


def merge(texts: list[bytes], *, up: int, missing: int) -> bytes:
    """Sum samples with the same name and labels across expositions; families keep their
    first HELP and TYPE, in first-seen order."""
    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text.decode()):
            entry = families.setdefault(fam.name, (fam.type, fam.documentation, {}))
            samples = entry[2]
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                old = samples.get(key)
                if old is None:
                    samples[key] = s.value
                elif s.name.endswith("_created"):  # a start time: the earliest worker's
                    samples[key] = min(old, s.value)
                elif s.name.endswith("_info"):  # the same facts in every worker
                    samples[key] = max(old, s.value)
                else:
                    samples[key] = old + s.value
    out: list[str] = []
    for name, (typ, doc, samples) in families.items():
        shown = name + "_total" if typ == "counter" else name  # as generate_latest names it
        typ = "untyped" if typ == "unknown" else typ
        out.append(f"# HELP {shown} {_escape_help(doc)}")
        out.append(f"# TYPE {shown} {typ}")
        for (sname, labels), value in samples.items():
            out.append(f"{sname}{_labels(labels)} {_value(value)}")
    out.append("# HELP tykevents_workers Worker processes whose metrics this answer sums, and those missing.")
    out.append("# TYPE tykevents_workers gauge")
    out.append(f'tykevents_workers{{state="up"}} {up}')
    out.append(f'tykevents_workers{{state="missing"}} {missing}')
    return ("\n".join(out) + "\n").encode()


def _escape_help(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels) + "}"


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)
