"""Restart a test's redis-server without its data: stop it, then start a fresh one on the same
port (what a Redis restart without persistence looks like to its clients)."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.support.servers import RedisServer


def stop(server: RedisServer) -> None:
    """Stop the server; its port stays reserved for start_empty()."""
    server.stop()


def start_empty(server: RedisServer, timeout: float = 10.0) -> None:
    """Start a new redis-server with the stopped one's arguments (same port, no persistence),
    in place: `server.stop()` ends the new one."""
    args = list(server.proc.args)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while True:
        server.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _answers(server, deadline):
            return
        server.stop()  # the port may not have been free yet: try again
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start again")
        time.sleep(0.1)


def _answers(server: RedisServer, deadline: float) -> bool:
    while time.monotonic() < deadline and server.proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def restart_empty(server: RedisServer) -> None:
    stop(server)
    start_empty(server)
