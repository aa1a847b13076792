"""Helpers shared by the throughput benches: ports, CPU pinning, the C load generators, and
a counting HTTP receiver in its own process.

Imported as `_support` from bench scripts: `python bench/x.py` puts bench/ on sys.path, and
the scripts insert it themselves for pytest.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# A keep-alive HTTP/1.1 receiver that answers every request with 200 and counts them. It
# prints its port, then the count for each line read on stdin.
RECEIVER = r"""
import asyncio, sys, uvloop
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
count = 0
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf, self.need = t, b"", -1
    def data_received(self, data):
        global count
        buf = self.buf + data
        done = 0
        while True:
            if self.need < 0:  # waiting for a head
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                head = buf[:i].lower()
                j = head.find(b"content-length:")
                self.need = int(head[j + 15:].split(b"\r\n", 1)[0]) if j >= 0 else 0
                buf = buf[i + 4:]
            if len(buf) < self.need:
                break
            buf, self.need = buf[self.need:], -1
            done += 1
        self.buf = buf
        if done:
            count += done
            self.t.write(REPLY * done)
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(count, flush=True)
uvloop.run(main())
"""


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(core: int) -> list[str]:
    """A command prefix that pins to `core`, when taskset exists and there are 2+ cores."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else []


def build_loadgen(source: str = "loadgen.c", out_dir: Path | None = None) -> Path:
    """Compile bench/<source> with the system compiler into out_dir (default bench/), unless
    an executable newer than the source is already there."""
    src = HERE / source
    exe = (out_dir or HERE) / src.stem
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            sys.exit(f"{Path(sys.argv[0]).stem}: needs a C compiler (cc) to build bench/{source}")
        subprocess.run([cc, "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def send_timed(loadgen: Path, port: int, rate: int, total: int, *mode: str) -> tuple[int, float]:
    """Run the load generator on core 0 (bench/loadgen.c; `mode` is its optional trailing
    arguments): how many records it sent, and in how many seconds. A sender that cannot keep
    the offered rate takes longer, so the achieved rate is sent / seconds."""
    out = subprocess.run(
        pin(0) + [str(loadgen), "127.0.0.1", str(port), str(rate), str(total), *mode],
        capture_output=True,
        text=True,
        timeout=total / max(rate, 1) * 3 + 30,
        check=True,
    )
    fields = dict(kv.split("=") for kv in out.stdout.split())
    return int(fields["sent"]), float(fields["seconds"])


def send(loadgen: Path, port: int, rate: int, total: int, *mode: str) -> int:
    return send_timed(loadgen, port, rate, total, *mode)[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settled(read: Callable[[], int], quiet: float = 0.4) -> int:
    """read() once it has stopped changing for `quiet` seconds (the backlog was read)."""
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < quiet:
        n = read()
        if n != last:
            last, stable_since = n, time.monotonic()
        time.sleep(0.1)
    return last


def terminate(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM (the daemon drains), then SIGKILL if it takes longer than `timeout`."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class CountingReceiver:
    """RECEIVER in a subprocess pinned to `core`; count() asks it how many requests it answered."""

    def __init__(self, core: int) -> None:
        self.proc = subprocess.Popen(
            pin(core) + [sys.executable, "-c", RECEIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def count(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        terminate(self.proc, 5)
