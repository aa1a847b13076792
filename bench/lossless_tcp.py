"""Lossless delivery under backpressure: N events over one TCP stream to an API whose webhook
goes to a slow receiver, with the daemon's default lanes and pending limit.

    python bench/lossless_tcp.py [--count 200000] [--delay 0.005] [--concurrency 10]
                                 [--state memory|redis]

The receiver (its own process) answers every request with 200 after `delay` seconds, at most
`concurrency` at a time, and counts distinct bodies (each event renders a different one).
Printed: sent, delivered, distinct, duplicates, how long the sender was blocked, the time to
deliver everything, and the daemon's peak RSS (VmHWM in /proc/<pid>/status). With
`--state redis` a redis-server of its own is started (no persistence).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

RECEIVER = r"""
import asyncio, hashlib, sys, uvloop
delay, limit = float(sys.argv[1]), int(sys.argv[2])
seen, total = set(), 0
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
async def serve(reader, writer):
    global total
    gate = GATE
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            body = await reader.readexactly(n) if n else b""
            async with gate:
                await asyncio.sleep(delay)
            total += 1
            seen.add(hashlib.md5(body).digest())
            writer.write(REPLY)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    global GATE
    GATE = asyncio.Semaphore(limit)
    srv = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(total, len(seen), flush=True)
uvloop.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"no answer from {url}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--delay", type=float, default=0.005)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--state", choices=("memory", "redis"), default="memory")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tykevents-lossless-"))
    recv = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(args.delay), str(args.concurrency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert recv.stdin is not None and recv.stdout is not None
    rport = int(recv.stdout.readline())

    def received() -> tuple[int, int]:
        assert recv.stdin is not None and recv.stdout is not None
        recv.stdin.write("count\n")
        recv.stdin.flush()
        total, distinct = recv.stdout.readline().split()
        return int(total), int(distinct)

    redis_proc = None
    tcp, metrics = free_port(), free_port()
    conf: dict = {
        "app_path": "apps",
        "template_path": str(ROOT / "templates"),
        "log_level": "warn",
        "tykevents": {
            "listen": {"udp": [], "tcp": [f"127.0.0.1:{tcp}"]},
            "metrics": f"127.0.0.1:{metrics}",
            "drain_timeout": 30,
            "workers": 1,
            "state": args.state,
        },
    }
    if args.state == "redis":
        exe = shutil.which("redis-server") or sys.exit("--state redis needs redis-server")
        rp = free_port()
        redis_proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(rp),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp),
            ],
            stdout=subprocess.DEVNULL,
        )
        conf["storage"] = {"host": "127.0.0.1", "port": rp}
        time.sleep(0.5)
    (tmp / "apps").mkdir()
    hook = {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": f"http://127.0.0.1:{rport}/in", "event_timeout": 0},
    }
    api = {
        "name": "bench",
        "api_id": "a",
        "org_id": "o",
        "event_handlers": {"events": {"AuthFailure": [hook]}},
    }
    (tmp / "apps" / "a.json").write_text(json.dumps(api))
    (tmp / "tyk.conf").write_text(json.dumps(conf))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tykevents", "run", "-c", str(tmp / "tyk.conf")],
        cwd=tmp,
        env=env,
        stdout=open(tmp / "daemon.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{metrics}/health")
        meta = {"Message": "m", "Origin": "10.0.0.1", "Key": "k1234567"}
        data = b"".join(
            json.dumps(
                {"Type": "AuthFailure", "APIID": "a", "OrgID": "o", "Meta": {**meta, "Path": f"/p{i}"}}
            ).encode()
            + b"\n"
            for i in range(args.count)
        )
        blocked: list[float] = []

        def send() -> None:
            with socket.create_connection(("127.0.0.1", tcp)) as s:
                t = time.monotonic()
                s.sendall(data)
                blocked.append(time.monotonic() - t)

        started = time.monotonic()
        sender = threading.Thread(target=send)
        sender.start()
        last, still = (-1, -1), time.monotonic()
        while True:
            now = received()
            if now[0] >= args.count:
                break
            if now != last:
                last, still = now, time.monotonic()
            elif time.monotonic() - still > 30:
                print("no progress for 30 s: stopping", file=sys.stderr)
                break
            time.sleep(0.5)
        took = time.monotonic() - started
        sender.join(60)
        time.sleep(1.0)
        total, distinct = received()
        hwm = vm_hwm_kib(daemon.pid)
        print(f"state={args.state} sent={args.count} delivered={total} distinct={distinct}")
        print(f"duplicates={total - distinct} lost={args.count - distinct}")
        print(f"sender_blocked_s={blocked[0] if blocked else float('nan'):.1f} deliver_all_s={took:.1f}")
        print(f"daemon_peak_rss_mib={hwm / 1024:.1f} (VmHWM)")
    finally:
        daemon.terminate()
        daemon.wait(60)
        print(f"daemon_exit={daemon.returncode}")
        recv.terminate()
        recv.wait()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
