"""Events per second over Tyk's coprocess gRPC bridge, beside UDP and TCP stream, in one run.

    python bench/bench_ingest_grpc.py [--count 10000] [--concurrency 64] [--rounds 3]

One real daemon (tests/support/daemon.py) listens on UDP, TCP and gRPC (TCP and Unix); this
process plays the gateway and sends the same `count` events over each transport in turn:
  udp        one datagram per event (fire-and-forget, as Tyk's own handler goroutines);
  tcp        one stream connection, newline-delimited records (the lossless stream);
  grpc       one DispatchEvent per event with cp_dynamic_handler's envelope, `concurrency`
             calls in flight on one channel, as a gateway's handler goroutines make them;
  grpc-unix  the same over unix: (coprocess_grpc_server "unix://...");
and, as the reference, the same gRPC calls to a bare grpc.aio server on uvloop whose
DispatchEvent does nothing: the floor that grpcio itself sets on this machine.
Each figure is the median of `rounds`: events/s from the first send until the daemon has
decoded the last one, and the daemon's CPU time per event, which does not depend on how fast
this one Python sender is. The events match no handler (decode and route), so the figures
compare the transports. Sender and daemon are pinned to different cores when there are two;
every wait is bounded, and the daemon is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):  # tykevents, tests and _support, however this is run
    if _p not in sys.path:
        sys.path.insert(0, _p)
from _support import cpu_seconds, free_port, terminate  # noqa: E402

from tests.support.daemon import DaemonProcess, classic_api, log_handler  # noqa: E402

META = {
    "Message": "Auth Failure",
    "OriginatingRequest": "",
    "Path": "/orders",
    "Origin": "10.0.0.7",
    "Key": "k",
}
TS = "2024-03-05 14:07:09.123456789 +0000 UTC"


# A bare grpc.aio server, on uvloop as the daemon is: DispatchEvent answers at once. It prints
# "ready", then its CPU seconds for each line read on stdin.
REFERENCE = r"""
import asyncio, resource, sys, grpc, uvloop
async def main():
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    async def nothing(request, context):
        return b""
    handlers = {"DispatchEvent": grpc.unary_unary_rpc_method_handler(nothing)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("coprocess.Dispatcher", handlers),))
    server.add_registered_method_handlers("coprocess.Dispatcher", handlers)
    server.add_insecure_port(sys.argv[1])
    await server.start()
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        r = resource.getrusage(resource.RUSAGE_SELF)
        print(r.ru_utime + r.ru_stime, flush=True)
uvloop.run(main())
"""


def reference(data: list[bytes], concurrency: int, core: set[int] | None) -> tuple[float, float, int]:
    """(calls/s, server CPU µs per call, calls) against REFERENCE."""
    port = free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [sys.executable, "-c", REFERENCE, f"127.0.0.1:{port}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if core:
            os.sched_setaffinity(proc.pid, core)
        assert proc.stdout.readline().strip() == "ready"

        def cpu() -> float:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("cpu\n")
            proc.stdin.flush()
            return float(proc.stdout.readline())

        cpu0, started = cpu(), time.perf_counter()
        send_grpc(f"127.0.0.1:{port}", data, concurrency)
        elapsed, used = time.perf_counter() - started, cpu() - cpu0
        return len(data) / elapsed, used / len(data) * 1e6, len(data)
    finally:
        terminate(proc, 5)


def record(i: int) -> bytes:
    """The event record of the other transports (docs/protocol.md)."""
    meta = {**META, "Path": f"/orders/{i}"}
    return json.dumps(
        {"Type": "AuthFailure", "Meta": meta, "TimeStamp": TS, "APIID": "bench", "OrgID": "o"}
    ).encode()


def envelope(i: int) -> bytes:
    """What Tyk's cp_dynamic_handler sends, as a serialised coprocess.Event."""
    from tykevents.ingest.grpc.coprocess_pb2 import Event

    message = {"Type": "AuthFailure", "Meta": {**META, "Path": f"/orders/{i}"}, "TimeStamp": TS}
    payload = json.dumps(
        {"message": message, "handler_name": "tykevents", "spec": {"APIID": "bench", "OrgID": "o"}}
    )
    return Event(payload=payload).SerializeToString()


def send_udp(d: DaemonProcess, data: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, b in enumerate(data):
            s.sendto(b, ("127.0.0.1", d.udp))
            if i % 64 == 63:
                time.sleep(0)  # let the daemon's core take its turn on a one-core machine


def send_tcp(d: DaemonProcess, data: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", d.tcp), timeout=60) as s:
        s.sendall(b"".join(b + b"\n" for b in data))


def send_grpc(target: str, data: list[bytes], concurrency: int) -> None:
    import grpc

    async def run() -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            await asyncio.wait_for(channel.channel_ready(), 10)
            # Pre-serialised Events, sent as bytes: the client's own protobuf work stays out.
            call = channel.unary_unary("/coprocess.Dispatcher/DispatchEvent")
            todo = iter(data)

            async def worker() -> None:
                for body in todo:
                    await call(body, timeout=60)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


def measure(
    d: DaemonProcess, send: Callable[[], None], count: int, timeout: float = 120
) -> tuple[float, float, int]:
    """(events/s, daemon CPU µs per event, events decoded) for one send of `count` events."""
    assert d.proc is not None
    before, cpu0 = d.stats()["events"], cpu_seconds(d.proc.pid)
    started = time.perf_counter()
    send()
    got, last_change, seen = 0, time.perf_counter(), -1
    deadline = time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        got = d.stats()["events"] - before
        if got != seen:
            seen, last_change = got, time.perf_counter()
        elif time.perf_counter() - last_change > 1.0:
            break  # datagrams the kernel dropped never come
        time.sleep(0.01)
    cpu = cpu_seconds(d.proc.pid) - cpu0
    return got / (last_change - started), cpu / max(got, 1) * 1e6, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000, help="events per transport and round")
    ap.add_argument("--concurrency", type=int, default=64, help="gRPC calls in flight")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    two_cores = (os.cpu_count() or 1) >= 2
    with tempfile.TemporaryDirectory() as tmp:
        grpc_port, sock = free_port(socket.SOCK_STREAM), f"{tmp}/grpc.sock"
        conf = {
            "tykevents": {
                "listen": {"grpc": [f"127.0.0.1:{grpc_port}", f"unix:{sock}"]},
                "logging": {"file": f"{tmp}/daemon-log.txt"},
            }
        }
        apps = {
            "bench.json": classic_api("bench", {"KeyExpired": [log_handler("bench")]})
        }  # AuthFailure: none
        d = DaemonProcess(Path(tmp), conf=conf, apps=apps)
        try:
            d.start()
            assert d.proc is not None
            if two_cores:
                os.sched_setaffinity(d.proc.pid, {1})
                os.sched_setaffinity(0, {0})
            records = [record(i) for i in range(args.count)]
            events = [envelope(i) for i in range(args.count)]
            phases: dict[str, Callable[[], None]] = {
                "udp": lambda: send_udp(d, records),
                "tcp": lambda: send_tcp(d, records),
                "grpc": lambda: send_grpc(f"127.0.0.1:{grpc_port}", events, args.concurrency),
                "grpc-unix": lambda: send_grpc(f"unix:{sock}", events, args.concurrency),
            }
            results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in (*phases, "reference")}
            for _ in range(args.rounds):
                for name, send in phases.items():
                    results[name].append(measure(d, send, args.count))
                results["reference"].append(reference(events, args.concurrency, {1} if two_cores else None))
        finally:
            d.stop()
    print(
        f"ingest of {args.count} events per transport, median of {args.rounds} rounds "
        f"(decode + route, no matching handler; gRPC: {args.concurrency} calls in flight; "
        f"{'sender and daemon on separate cores' if two_cores else 'one core'})"
    )
    print(f"{'transport':<10} {'events/s':>10} {'server CPU/event':>17} {'received':>9}")
    for name, runs in results.items():
        rate = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        got = min(r[2] for r in runs)
        print(f"{name:<10} {rate:>10,.0f} {cpu:>14.1f} µs {got:>9}")


if __name__ == "__main__":
    main()
