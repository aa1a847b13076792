"""Real Redis topologies on loopback for tests: a Redis Cluster of three masters, a Sentinel group
(a primary, a replica and Sentinels) and a TLS-only Redis demanding client certificates.

Each starts its own redis-server processes on free ports in a directory of its own, is bounded in
time, stops every process it started by PID (`stop()`, or use it as a context manager), and
exposes `storage`: the tyk.conf `storage` block that reaches it, as a dict.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from tests.support.mtls import make_pki
from tests.support.servers import free_port

HOST = "127.0.0.1"


def _exe(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} is not installed: run the README's test command")
    return exe


def _free_ports(n: int, with_bus: bool = False) -> list[int]:
    """n distinct free ports; with_bus: p + 10000 is free as well (the cluster bus port)."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p in ports or (with_bus and (p + 10000 > 65535 or not _port_free(p + 10000))):
            continue
        ports.append(p)
    return ports


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _client(port: int, password: str = "", timeout: float = 1.0, **tls: Any) -> Any:
    """A short-lived blocking redis-py client for the topology's own checks (no retries)."""
    import redis

    return redis.Redis(
        host=HOST,
        port=port,
        password=password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        **tls,
    )


def _command(port: int, *args: str, password: str = "", **tls: Any) -> Any:
    with _client(port, password, **tls) as c:
        return c.execute_command(*args)


class _Processes:
    """The redis-server processes one topology started, each stopped by its own PID."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[int, subprocess.Popen[bytes]] = {}  # by port

    def start(self, port: int, args: list[str], conf: str | None = None) -> subprocess.Popen[bytes]:
        node_dir = self.workdir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        argv = [_exe("redis-server")]
        if conf is not None:  # Sentinel needs a writable config file of its own
            conf_path = node_dir / "sentinel.conf"
            conf_path.write_text(conf)
            argv.append(str(conf_path))
        argv += ["--bind", HOST, "--dir", str(node_dir), "--save", "", "--appendonly", "no"]
        argv += ["--logfile", str(node_dir / "redis.log"), *args]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[port] = proc
        return proc

    def wait_ping(self, port: int, deadline: float, password: str = "", **tls: Any) -> None:
        while time.monotonic() < deadline:
            proc = self.procs[port]
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server on {port} exited: {self.log_tail(port)}")
            try:
                if _command(port, "PING", password=password, **tls):
                    return
            except RedisError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {port} did not answer: {self.log_tail(port)}")

    def log_tail(self, port: int) -> str:
        log = self.workdir / str(port) / "redis.log"
        return log.read_text(errors="replace")[-800:] if log.exists() else ""

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


class _Topology:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes = _Processes(workdir)

    @property
    def storage(self) -> dict[str, Any]:
        raise NotImplementedError

    def stop(self) -> None:
        self.processes.stop_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisClusterTopology(_Topology):
    """A Redis Cluster of `masters` masters (no replicas), waited on until cluster_state:ok."""

    def __init__(self, workdir: Path, masters: int = 3, timeout: float = 20.0) -> None:
        super().__init__(workdir)
        deadline = time.monotonic() + timeout
        self.ports = _free_ports(masters, with_bus=True)
        try:
            for port in self.ports:
                self.processes.start(
                    port,
                    [
                        "--port", str(port),
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-node-timeout", "2000",
                        "--cluster-require-full-coverage", "yes",
                    ],
                )  # fmt: skip
            for port in self.ports:
                self.processes.wait_ping(port, deadline)
            subprocess.run(
                [_exe("redis-cli"), "--cluster", "create", *self.addrs, "--cluster-replicas", "0"]
                + ["--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=max(1.0, deadline - time.monotonic()),
            )
            self.wait_ok(deadline)
        except BaseException:
            self.stop()
            raise

    @property
    def addrs(self) -> list[str]:
        return [f"{HOST}:{p}" for p in self.ports]

    def wait_ok(self, deadline: float) -> None:
        """Until every node reports cluster_state:ok and knows every other node."""
        while time.monotonic() < deadline:
            try:
                if all(self._node_ok(p) for p in self.ports):
                    return
            except RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("Redis Cluster did not reach cluster_state:ok")

    def _node_ok(self, port: int) -> bool:
        with _client(port) as c:
            info = c.cluster("INFO")
        return info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == len(self.ports)

    def flushall(self) -> None:
        for port in self.ports:
            _command(port, "FLUSHALL")

    @property
    def storage(self) -> dict[str, Any]:
        return {"type": "redis", "enable_cluster": True, "addrs": self.addrs, "host": "", "port": 0}


class SentinelTopology(_Topology):
    """A primary, one replica and `sentinels` Sentinels (quorum: a majority) watching `master_name`.

    password sets requirepass on the data nodes (and masterauth, and Sentinel's auth-pass);
    sentinel_password sets requirepass on the Sentinels.
    """

    def __init__(
        self,
        workdir: Path,
        sentinels: int = 3,
        master_name: str = "mymaster",
        password: str = "",
        sentinel_password: str = "",
        timeout: float = 20.0,
    ) -> None:
        super().__init__(workdir)
        self.master_name = master_name
        self.password = password
        self.sentinel_password = sentinel_password
        self.quorum = sentinels // 2 + 1
        deadline = time.monotonic() + timeout
        ports = _free_ports(2 + sentinels)
        self.data_ports = ports[:2]
        self.sentinel_ports = ports[2:]
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        auth += ["--repl-diskless-sync-delay", "0"]  # the replica syncs at once, not after 5 s
        try:
            primary, replica = self.data_ports
            self.processes.start(primary, ["--port", str(primary), *auth])
            self.processes.start(replica, ["--port", str(replica), "--replicaof", HOST, str(primary), *auth])
            for port in self.data_ports:
                self.processes.wait_ping(port, deadline, password)
            for port in self.sentinel_ports:
                self.processes.start(port, ["--sentinel", "--port", str(port)], conf=self._conf(primary))
            for port in self.sentinel_ports:
                self.processes.wait_ping(port, deadline, sentinel_password)
            self._wait_replica_known(deadline)
        except BaseException:
            self.stop()
            raise

    def _conf(self, primary: int) -> str:
        name = self.master_name
        lines = [
            f"sentinel monitor {name} {HOST} {primary} {self.quorum}",
            f"sentinel down-after-milliseconds {name} 1000",
            f"sentinel failover-timeout {name} 4000",
            f"sentinel parallel-syncs {name} 1",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {name} {self.password}")
        if self.sentinel_password:
            lines.append(f"requirepass {self.sentinel_password}")
        return "\n".join(lines) + "\n"

    def _sentinel(self, port: int) -> Any:
        return _client(port, self.sentinel_password)

    def _data(self, port: int) -> Any:
        return _client(port, self.password)

    def _wait_replica_known(self, deadline: float) -> None:
        """Until every Sentinel lists the replica as linked and the Sentinels know each other."""
        want_sentinels = len(self.sentinel_ports) - 1
        while time.monotonic() < deadline:
            try:
                ok = True
                for port in self.sentinel_ports:
                    with self._sentinel(port) as c:
                        replicas = c.sentinel_slaves(self.master_name)
                        master = c.sentinel_master(self.master_name)
                    ok = ok and any(r["master-link-status"] == "ok" for r in replicas)
                    ok = ok and int(master["num-other-sentinels"]) == want_sentinels
                if ok:
                    return
            except RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("Sentinels did not see the replica and each other in time")

    @property
    def sentinel_addrs(self) -> list[str]:
        return [f"{HOST}:{p}" for p in self.sentinel_ports]

    def primary_port(self) -> int:
        """The primary's port as the first Sentinel reports it."""
        with self._sentinel(self.sentinel_ports[0]) as c:
            return int(c.sentinel_get_master_addr_by_name(self.master_name)[1])

    def failover(self, kill_primary: bool = False, timeout: float = 20.0) -> int:
        """Move the primary role to the replica and wait until it completed: the Sentinels name the
        new primary and it reports role:master. kill_primary kills the primary (SIGKILL) and lets
        the Sentinels agree; else SENTINEL FAILOVER. Returns the new primary's port."""
        deadline = time.monotonic() + timeout
        old = self.primary_port()
        if kill_primary:
            self.processes.kill(old)
        else:
            with self._sentinel(self.sentinel_ports[0]) as c:
                c.execute_command("SENTINEL", "FAILOVER", self.master_name)
        new = next(p for p in self.data_ports if p != old)
        while time.monotonic() < deadline:
            try:
                if all(self._names(p, new) for p in self.sentinel_ports) and self._is_master(new):
                    return new
            except RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("Sentinel failover did not complete in time")

    def _names(self, sentinel: int, port: int) -> bool:
        with self._sentinel(sentinel) as c:
            return int(c.sentinel_get_master_addr_by_name(self.master_name)[1]) == port

    def flushall(self) -> None:
        with self._data(self.primary_port()) as c:
            c.flushall()

    def _is_master(self, port: int) -> bool:
        with self._data(port) as c:
            return c.info("replication")["role"] == "master"

    @property
    def storage(self) -> dict[str, Any]:
        # Tyk: with master_name set, addrs are the Sentinels' addresses.
        conf: dict[str, Any] = {
            "type": "redis",
            "master_name": self.master_name,
            "addrs": self.sentinel_addrs,
            "host": "",
            "port": 0,
        }
        if self.password:
            conf["password"] = self.password
        if self.sentinel_password:
            conf["sentinel_password"] = self.sentinel_password
        return conf


class TLSRedis(_Topology):
    """A Redis that speaks only TLS (`--port 0 --tls-port N`) and demands a client certificate from
    the test CA. `pki` holds ca.pem, server.pem/.key, client.pem/.key and other-ca.pem/.key."""

    def __init__(self, workdir: Path, timeout: float = 20.0) -> None:
        super().__init__(workdir)
        deadline = time.monotonic() + timeout
        pki_dir = workdir / "pki"
        pki_dir.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(pki_dir)
        self.port = _free_ports(1)[0]
        try:
            self.processes.start(
                self.port,
                [
                    "--port", "0",
                    "--tls-port", str(self.port),
                    "--tls-cert-file", str(self.pki["server.pem"]),
                    "--tls-key-file", str(self.pki["server.key"]),
                    "--tls-ca-cert-file", str(self.pki["ca.pem"]),
                    "--tls-auth-clients", "yes",
                ],
            )  # fmt: skip
            self.processes.wait_ping(self.port, deadline, **self.client_tls())
        except BaseException:
            self.stop()
            raise

    def flushall(self) -> None:
        _command(self.port, "FLUSHALL", **self.client_tls())

    def client_tls(self) -> dict[str, Any]:
        """redis-py keyword arguments for a client that the server accepts."""
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.pki["ca.pem"]),
            "ssl_certfile": str(self.pki["client.pem"]),
            "ssl_keyfile": str(self.pki["client.key"]),
        }

    @property
    def storage(self) -> dict[str, Any]:
        return {
            "type": "redis",
            "host": HOST,
            "port": self.port,
            "use_ssl": True,
            "ca_file": str(self.pki["ca.pem"]),
            "cert_file": str(self.pki["client.pem"]),
            "key_file": str(self.pki["client.key"]),
        }


@contextmanager
def redis_cluster(workdir: Path, masters: int = 3) -> Iterator[RedisClusterTopology]:
    topo = RedisClusterTopology(workdir, masters)
    try:
        yield topo
    finally:
        topo.stop()


@contextmanager
def sentinel_group(workdir: Path, sentinels: int = 3, **kwargs: Any) -> Iterator[SentinelTopology]:
    topo = SentinelTopology(workdir, sentinels, **kwargs)
    try:
        yield topo
    finally:
        topo.stop()


@contextmanager
def tls_redis(workdir: Path) -> Iterator[TLSRedis]:
    topo = TLSRedis(workdir)
    try:
        yield topo
    finally:
        topo.stop()
