"""`workers`: N daemon processes under one supervisor (docs/operations.md#workers).

The supervisor is the process systemd (or a shell) started. It forks the workers before it
runs any event loop (a fork from inside a running loop would hand the child that loop), then
waits in a plain selector loop for three things:
- signals: SIGHUP and SIGTERM/SIGINT are passed to every worker (reload, drain);
- sd_notify datagrams: each worker's NOTIFY_SOCKET is the supervisor's own socket, so the
  daemon's Notifier needs no change; SO_PASSCRED tells which worker sent a line. systemd hears
  READY=1 once every worker is ready (again after a reload), STOPPING=1 at the first
  SIGTERM, and WATCHDOG=1 while every worker is alive;
- a worker's exit: while running, the worker is started again: at once after 10 s of life,
  else after 1 s, doubling to 30 s while it keeps dying young.
With memory state, the cooldown and threshold tables are made in shared memory before the
fork, so every worker sees one table (tykevents/_fast/, shared twins); so are the counters
with which the workers spread ingest connections evenly (tykevents/ingest/balance.py).

The exit status is the worst of the workers' (0 only if every one drained cleanly).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from tykevents.config import Config, grpc_unix_path, split_hostport
from tykevents.ingest import balance
from tykevents.runtime.systemd import Notifier
from tykevents.runtime.workers import ENV

logger = logging.getLogger("tykevents.supervisor")

_RESTART_FIRST = 1.0
_RESTART_MAX = 30.0
_STABLE_AFTER = 10.0  # a worker alive this long is healthy: its next death restarts at once


def worker_count(cfg: Config) -> int:
    """`tykevents.workers`: 0 (the default) means one per core."""
    n = cfg.tykevents.workers
    return n if n > 0 else max(1, len(os.sched_getaffinity(0)))


def install_shared_tables(cfg: Config) -> None:
    """With memory state, the cooldown and threshold tables every worker shares, made before
    the fork (with Redis state the workers share Redis)."""
    if cfg.tykevents.state != "memory":
        return
    from tykevents._fast.shared import create_shared_tables

    create_shared_tables()  # the capacities of the private tables (1M keys each)


def install_stream_balance(count: int) -> None:
    """The counters and socket pairs with which the workers spread ingest connections evenly
    (tykevents/ingest/balance.py), made before the fork."""
    balance.install(count)


def busy_addresses(cfg: Config) -> list[str]:
    """The UDP, TCP, HTTP and gRPC addresses someone else holds. The workers bind them with
    SO_REUSEPORT, which would let them share a port with another daemon of the same user; a
    plain bind first makes a second daemon fail as it does with one worker."""
    listen = cfg.tykevents.listen
    wanted = [(a, socket.SOCK_DGRAM) for a in listen.udp]
    wanted += [(a, socket.SOCK_STREAM) for a in (*listen.tcp, *listen.http)]
    wanted += [(a, socket.SOCK_STREAM) for a in listen.grpc if grpc_unix_path(a) is None]
    busy = []
    for addr, kind in wanted:
        host, port = split_hostport(addr)
        if not port:
            continue  # an ephemeral port: each worker gets its own
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                busy.append(f"{addr}: {e.strerror or e}")
    return busy


@dataclass
class _Slot:
    index: int
    pid: int = 0
    started: float = 0.0
    ready: bool = False
    backoff: float = 0.0
    restart_at: float = 0.0
    status: int | None = None  # the exit status of its last process


class Supervisor:
    def __init__(
        self, count: int, run_worker: Callable[[int], int], notifier: Notifier | None = None
    ) -> None:
        self.count = count
        self.run_worker = run_worker  # in the child: runs worker i, returns its exit status
        self.notifier = Notifier() if notifier is None else notifier
        self.slots = [_Slot(i) for i in range(count)]
        self.stopping = False
        self.reloading = False
        self.announced = False
        self._signals: list[int] = []
        self._sel = selectors.DefaultSelector()
        self._notify_addr = f"\0tykevents-supervisor-{os.getpid()}"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._notify.bind(self._notify_addr)
        self._notify.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # -- children -------------------------------------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                self._sel.close()
                self._notify.close()
                self._wake_r.close()
                self._wake_w.close()
                os.environ[ENV] = f"{slot.index}/{self.count}/{os.getppid()}"
                os.environ["NOTIFY_SOCKET"] = "@" + self._notify_addr[1:]
                for var in ("WATCHDOG_USEC", "WATCHDOG_PID"):
                    os.environ.pop(var, None)
                status = self.run_worker(slot.index)
            except BaseException:
                logger.exception("worker %d failed", slot.index)
            finally:
                logging.shutdown()
                os._exit(status)
        slot.pid, slot.started, slot.ready = pid, time.monotonic(), False
        logger.info("worker %d started (pid %d)", slot.index, pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is None:
                continue
            status = os.waitstatus_to_exitcode(wstatus)
            slot.pid, slot.status, slot.ready = 0, status, False
            balance.mark_down(slot.index)  # no connection is handed to it until it is back
            if self.stopping:
                logger.info("worker %d stopped (status %d)", slot.index, status)
                continue
            if not self.announced:  # it could not start: neither can the others (config, Redis)
                logger.error(
                    "worker %d exited with status %d before the daemon was ready: stopping",
                    slot.index,
                    status,
                )
                self.stopping = True
                self._send(signal.SIGTERM)
                continue
            lived = time.monotonic() - slot.started
            quick = lived < _STABLE_AFTER
            slot.backoff = min(_RESTART_MAX, (slot.backoff * 2) or _RESTART_FIRST) if quick else 0.0
            slot.restart_at = time.monotonic() + slot.backoff
            logger.error(
                "worker %d (pid %d) exited with status %d after %.1f s; starting it again in %.0f s",
                slot.index,
                pid,
                status,
                lived,
                slot.backoff,
            )

    # -- notify ---------------------------------------------------------------------------------

    def _read_notify(self) -> None:
        creds_size = struct.calcsize("3i")
        while True:
            try:
                data, anc, _, _ = self._notify.recvmsg(4096, socket.CMSG_SPACE(creds_size))
            except BlockingIOError:
                break
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:creds_size])[0]
            slot = next((s for s in self.slots if s.pid == pid and pid), None)
            if slot is None:
                continue
            for line in data.decode(errors="replace").splitlines():
                if line == "READY=1":
                    slot.ready = True
                elif line == "RELOADING=1":
                    slot.ready = False
        if all(s.ready for s in self.slots) and not self.stopping:
            if not self.announced or self.reloading:
                self.notifier.ready(f"running, {self.count} workers")
                logger.info("all %d workers ready", self.count)
                self.announced, self.reloading = True, False

    # -- signals --------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        signals, self._signals = self._signals, []
        for sig in signals:
            if sig in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                self.stopping = True
                self.notifier.stopping()
                logger.info("stopping: draining %d workers", self.count)
                self._send(signal.SIGTERM)
            elif sig == signal.SIGHUP and not self.stopping:
                self.reloading = True
                self.notifier.reloading()
                logger.info("reload: passing SIGHUP to %d workers", self.count)
                for s in self.slots:
                    s.ready = False if s.pid else s.ready
                self._send(signal.SIGHUP)
            elif sig == signal.SIGUSR2 and not self.stopping:
                # worker 0 reloaded through the admin API: the others follow
                logger.info("reload asked by worker 0: passing SIGHUP to the other workers")
                for s in self.slots[1:]:
                    if s.pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(s.pid, signal.SIGHUP)
            elif sig == signal.SIGCHLD:
                self._reap()

    def _send(self, sig: int) -> None:
        for s in self.slots:
            if s.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(s.pid, sig)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        self._sel.register(self._notify, selectors.EVENT_READ)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        for slot in self.slots:
            self._spawn(slot)
        watchdog_at = 0.0
        try:
            while True:
                now = time.monotonic()
                if not self.stopping:
                    for slot in self.slots:
                        if not slot.pid and now >= slot.restart_at:
                            self._spawn(slot)
                elif not any(s.pid for s in self.slots):
                    break
                wd = self.notifier.watchdog_interval
                if wd and now >= watchdog_at and all(s.pid for s in self.slots):
                    self.notifier.watchdog()
                    watchdog_at = now + wd
                waits = [s.restart_at - now for s in self.slots if not s.pid and not self.stopping]
                timeout = min([1.0, *waits, *([watchdog_at - now] if wd else [])])
                for key, _ in self._sel.select(max(0.0, timeout)):
                    if key.fileobj is self._notify:
                        self._read_notify()
                self._handle_signals()
                self._reap()  # a SIGCHLD that raced the wakeup
        finally:
            signal.set_wakeup_fd(-1)
            self._sel.close()
            self._notify.close()
        statuses = [s.status or 0 for s in self.slots]
        worst = max(statuses, key=lambda c: (c != 0, abs(c)))
        logger.info("stopped: %d workers, exit statuses %s", self.count, statuses)
        return 0 if worst == 0 else (worst if worst > 0 else 1)
