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
if str(ROOT) not in sys.path:  # tests.support, however the bench is run
    sys.path.insert(0, str(ROOT))
from tests.support.servers import RedisServer  # noqa: E402

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


def pin_all() -> list[str]:
    """A command prefix that lets a command run on every core (undoing an inherited pin)."""
    n = os.cpu_count() or 1
    return ["taskset", "-c", f"0-{n - 1}"] if shutil.which("taskset") and n >= 2 else []


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


def in_tree(root: Path, code: str) -> str:
    """What `code` prints when run on this interpreter against the checkout at `root` (its
    stdout, stripped; stderr after it when it failed)."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,  # `python -c` puts its working directory first on sys.path
        capture_output=True,
        text=True,
    )
    return (out.stdout + (out.stderr if out.returncode else "")).strip()


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


# The receiver of bench_targets.py: like RECEIVER, and also the arrival time of the last request,
# the bytes read, and per-request latency. A body holding `latns<ns>.` (the sender's
# time.monotonic_ns(), one clock for every process on the machine) gives arrival - <ns>.
# Parsing is kept cheap (Content-Length looked up with its Go spelling first) so that the
# receiver is not what limits a run; TimedReceiver.cpu() lets the bench check that.
TIMED_RECEIVER = r"""
import asyncio, sys, time, uvloop
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
now = time.monotonic_ns
count = last = nbytes = 0
lats = []
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, data):
        global count, last, nbytes
        at = now()
        if self.buf:
            data, self.buf = self.buf + data, b""
        pos, done, end = 0, 0, len(data)
        while pos < end:
            i = data.find(b"\r\n\r\n", pos)
            if i < 0:
                break
            j = data.find(b"Content-Length:", pos, i)
            if j < 0:
                j = data.lower().find(b"content-length:", pos, i)
            cl = int(data[j + 15:data.find(b"\r\n", j, i + 2)]) if j >= 0 else 0
            stop = i + 4 + cl
            if stop > end:
                break
            k = data.find(b"latns", i + 4, stop)
            if k >= 0:
                lats.append(at - int(data[k + 5:data.find(b".", k, stop)]))
            pos = stop
            done += 1
        if pos < end:
            self.buf = data[pos:]
        if done:
            count += done
            nbytes += pos
            last = at
            self.t.write(REPLY * done)
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", 0, backlog=4096)
    print(srv.sockets[0].getsockname()[1], flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.startswith(b"lat"):
            print(" ".join(map(str, lats)), flush=True)
            lats.clear()
        else:
            print(count, last, nbytes, flush=True)
uvloop.run(main())
"""


class TimedReceiver:
    """TIMED_RECEIVER in a subprocess pinned to `core`."""

    def __init__(self, core: int) -> None:
        self.proc = subprocess.Popen(
            pin(core) + [sys.executable, "-c", TIMED_RECEIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self._ask(""))

    def _ask(self, cmd: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if cmd:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the receiver exited")
        return line

    def state(self) -> tuple[int, int, int]:
        """(requests answered, time.monotonic_ns() of the last one's arrival, bytes read)."""
        count, last, nbytes = self._ask("count").split()
        return int(count), int(last), int(nbytes)

    def count(self) -> int:
        return self.state()[0]

    def latencies_ns(self) -> list[int]:
        """Arrival minus stamped send time of each stamped request since the last call."""
        return [int(x) for x in self._ask("lat").split()]

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def close(self) -> None:
        terminate(self.proc, 5)


class PinnedRedis(RedisServer):
    """tests/support/servers.py's redis-server, pinned to `core`, with its CPU time."""

    def __init__(self, workdir: Path, core: int) -> None:
        super().__init__(workdir, prefix=pin(core))

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)


def core_times(core: int) -> tuple[float, float]:
    """(busy, stolen) seconds of one core so far (Linux /proc/stat): with a process's own CPU
    time over the same window, busy says how much of the core other work took."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                v = [int(x) for x in line.split()[1:9]]
                hz = os.sysconf("SC_CLK_TCK")
                return (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, v[7] / hz
    return 0.0, 0.0


def children() -> dict[int, list[int]]:
    """Live processes by parent pid (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            parents.setdefault(ppid, []).append(int(entry))
    return parents


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of `pid` and of every live process below it (a supervisor's workers), plus
    what its waited-for children used (cutime, cstime)."""
    parents = children()
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        todo.extend(parents.get(p, []))
    return total
