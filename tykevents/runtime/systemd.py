"""sd_notify for Type=notify units (READY, RELOADING, STOPPING, STATUS, WATCHDOG), and
whether a stream is connected to the journal.

The protocol is one datagram to $NOTIFY_SOCKET (an abstract socket when it starts with '@');
without the variable (not under systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import IO


def is_journal_stream(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """True if `stream` is the journal: systemd sets JOURNAL_STREAM to the device and inode of
    the socket it connected stdout/stderr to, and a child that redirects stderr keeps the
    variable, so the two must match (docs/operations.md, "Logs")."""
    env = os.environ if env is None else env
    dev, sep, ino = env.get("JOURNAL_STREAM", "").partition(":")
    if not (sep and dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no real file (replaced, closed)
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class Notifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        self.addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_interval = 0.0
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 2  # ping at half the timeout, as advised

    @property
    def enabled(self) -> bool:
        return bool(self.addr)

    def notify(self, *lines: str) -> None:
        if not self.addr:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            try:
                s.connect(self.addr)
                s.sendall("\n".join(lines).encode())
            except OSError:
                pass  # systemd gone or socket unusable: notifications are best effort

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", f"STATUS={status}" if status else "STATUS=running")

    def reloading(self) -> None:
        # systemd >= 253 wants MONOTONIC_USEC with RELOADING=1; older ones ignore it.
        self.notify("RELOADING=1", f"MONOTONIC_USEC={int(time.monotonic() * 1e6)}", "STATUS=reloading")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=draining")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")
