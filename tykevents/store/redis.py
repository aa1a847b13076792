"""A redis-py client from tyk.conf `storage`, the way the gateways reach the same Redis.

Tyk builds one go-redis client from StorageOptionsConf (docs/operations.md#redis):
- addresses: `addrs` when not empty, else the deprecated `hosts` map, else `host:port` when
  `port` is not 0, else localhost:6379;
- `master_name` set: Sentinel, the addresses are the Sentinels' (`sentinel_password` is theirs,
  `username`/`password` the primary's); else `enable_cluster`: a Redis Cluster, the addresses
  are its seed nodes (`database` ignored); else one Redis at the first address;
- `timeout` (seconds, 0 = 5) bounds connecting, reading and writing;
- `use_ssl`: TLS for every connection (Sentinels included), verified unless
  `ssl_insecure_skip_verify`; `ca_file`, the client pair `cert_file` + `key_file` (only when
  both are set), `tls_min_version`/`tls_max_version` ("1.0".."1.3", default 1.2..1.3). The TLS
  settings are ignored without `use_ssl`, as in Tyk.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tykevents.config import Config, Storage

DEFAULT_ADDR = ("localhost", 6379)  # go-redis's address when none is configured
TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


class StorageError(ValueError):
    """tyk.conf `storage` cannot give a client (Tyk's connector refuses it too)."""


def _split(addr: str) -> tuple[str, int]:
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise StorageError(f"storage address {addr!r} is not host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:6379
    return host or "localhost", int(port)  # Go dials ":6379" on the local system


def addresses(st: Storage) -> list[tuple[str, int]]:
    """The (host, port) pairs Tyk gives go-redis, in Tyk's order of precedence."""
    if st.addrs:
        return [_split(a) for a in st.addrs]
    if st.hosts:
        return [_split(f"{h}:{p}") for h, p in st.hosts.items()]
    if st.port != 0:
        return [_split(f"{st.host}:{st.port}")]
    return []


def topology(st: Storage) -> str:
    """The kind of client, chosen as Tyk chooses: "sentinel" (master_name first), "cluster", "single"."""
    if st.master_name:
        return "sentinel"
    return "cluster" if st.enable_cluster else "single"


def describe(st: Storage) -> str:
    """Where the client goes, for logs: addresses and mode, never credentials."""
    addrs = ", ".join(f"{h}:{p}" for h, p in addresses(st) or [DEFAULT_ADDR])
    kind = topology(st)
    what = {"sentinel": f"Sentinel master {st.master_name!r} via {addrs}", "cluster": f"cluster {addrs}"}
    return what.get(kind, addrs) + (" (TLS)" if st.use_ssl else "")


def _tls_version(value: str, default: str, what: str) -> ssl.TLSVersion:
    v = TLS_VERSIONS.get(value or default)
    if v is None:
        raise StorageError(f"storage.{what} {value!r} is not one of {', '.join(TLS_VERSIONS)}")
    return v


def tls_kwargs(st: Storage) -> dict[str, Any]:
    """redis-py's SSL keyword arguments from Tyk's TLS settings; {} without use_ssl.

    The files are loaded once here so that a wrong path or a key not matching its certificate
    stops the start with a clear message instead of failing every connection."""
    if not st.use_ssl:
        return {}
    lo = _tls_version(st.tls_min_version, "1.2", "tls_min_version")
    hi = _tls_version(st.tls_max_version, "1.3", "tls_max_version")
    if lo > hi:
        raise StorageError("storage.tls_min_version is above storage.tls_max_version")
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    kw: dict[str, Any] = {"ssl": True, "ssl_min_version": lo}
    if st.ssl_insecure_skip_verify:  # Go's InsecureSkipVerify: neither chain nor name
        kw.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    else:
        kw.update(ssl_cert_reqs="required", ssl_check_hostname=True)
    try:
        if st.cert_file and st.key_file:
            probe.load_cert_chain(st.cert_file, st.key_file)
            kw.update(ssl_certfile=st.cert_file, ssl_keyfile=st.key_file)
        if st.ca_file:
            probe.load_verify_locations(cafile=st.ca_file)
            kw["ssl_ca_certs"] = st.ca_file
    except (OSError, ssl.SSLError) as e:
        raise StorageError(f"storage TLS files: {e}") from None
    return kw


def redis_client(cfg: Config, use_async: bool = True) -> Any:
    """A redis-py client from tyk.conf `storage`: Sentinel-managed, cluster or single.

    The asyncio client serves the event loop; the JS VM thread needs a blocking one.
    Raises StorageError when the settings cannot make a client.
    """
    from redis.backoff import ExponentialBackoff

    if use_async:
        import redis.asyncio as mod
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.retry import Retry
        from redis.asyncio.sentinel import Sentinel
    else:
        import redis as mod  # type: ignore[no-redef]
        from redis.cluster import ClusterNode, RedisCluster  # type: ignore[assignment]
        from redis.retry import Retry  # type: ignore[assignment]
        from redis.sentinel import Sentinel  # type: ignore[assignment]

    st = cfg.storage
    timeout = st.timeout if st.timeout > 0 else 5  # Tyk: 0 or less means 5 s
    tls = tls_kwargs(st)
    # Few, quick retries: a Redis outage must cost a handler call milliseconds, not seconds
    # (a cooldown check falls back to "not fired", as in Tyk).
    sockets: dict[str, Any] = dict(
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=1),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    # go-redis sends AUTH only with a password (with the username when there is one).
    auth: dict[str, Any] = {"username": st.username or None, "password": st.password} if st.password else {}
    addrs = addresses(st)
    kind = topology(st)
    if kind == "sentinel":
        if not addrs:
            raise StorageError("storage.master_name is set but no Sentinel address is (storage.addrs)")
        # Tyk sets no Sentinel user name: AUTH <sentinel_password> alone.
        sentinel_kw = {**sockets, **tls, "password": st.sentinel_password or None}
        sentinel = Sentinel(addrs, sentinel_kwargs=sentinel_kw, **sockets, **tls)
        cls = _sentinel_client_class(use_async)
        pool = {"connection_pool_class": _following_pool_class()} if use_async else {}
        client = sentinel.master_for(st.master_name, redis_class=cls, db=st.database, **pool, **auth)
        client.sentinel_clients = sentinel.sentinels
        return client
    if kind == "cluster":
        nodes = [ClusterNode(h, p) for h, p in addrs or [DEFAULT_ADDR]]
        return RedisCluster(startup_nodes=nodes, **sockets, **tls, **auth)
    host, port = (addrs or [DEFAULT_ADDR])[0]
    return mod.Redis(host=host, port=port, db=st.database, **sockets, **tls, **auth)


async def follow_primary(client: Any) -> None:
    """Sentinel: ask the Sentinels which node is the primary now, and drop connections to any
    other. Called every check (half a second), so a failover is followed within one check
    rather than when the old primary is demoted and refuses a command (seconds later). A
    no-op for other clients; raises redis.ConnectionError when no Sentinel answers."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None and hasattr(pool, "follows_primary"):
        await pool.get_master_address()  # a new address: idle connections are closed


async def _primary_address(sentinels: list[Any], service: str) -> tuple[str, int]:
    """The primary's address as go-redis (Tyk's client) asks for it: SENTINEL
    GET-MASTER-ADDR-BY-NAME, which names the promoted replica as soon as it is promoted.
    redis-py reads SENTINEL MASTERS, which names the old primary until the failover ends."""
    from redis.asyncio.sentinel import MasterNotFoundError
    from redis.exceptions import ConnectionError, ResponseError, TimeoutError

    errors: list[str] = []
    for i, sentinel in enumerate(sentinels):
        try:
            found = await sentinel.sentinel_get_master_addr_by_name(service)
        except (ConnectionError, ResponseError, TimeoutError) as e:
            errors.append(f"{sentinel}: {e}")
            continue
        if found:
            sentinels[0], sentinels[i] = sentinel, sentinels[0]  # ask the one that answered first
            host = found[0].decode() if isinstance(found[0], bytes) else found[0]
            return host, int(found[1])
    why = "".join(f"; {e}" for e in errors)
    raise MasterNotFoundError(f"no Sentinel names a primary for {service!r}{why}")


def _following_pool_class() -> Any:
    from redis.asyncio.sentinel import SentinelConnectionPool

    class FollowingPool(SentinelConnectionPool):
        """A Sentinel pool that asks for the primary as go-redis does (_primary_address), and
        closes a connection handed back after the primary moved, as redis-py's blocking pool
        does and its asyncio pool does not (the next command would go to the old primary)."""

        follows_primary = True

        async def get_master_address(self) -> tuple[str, int]:
            address = await _primary_address(self.sentinel_manager.sentinels, self.service_name)
            if address != self.master_address:
                self.master_address = address
                await self.disconnect(inuse_connections=False)
            return address

        async def release(self, connection: Any) -> None:
            try:
                if (
                    self.master_address is not None
                    and (connection.host, connection.port) != self.master_address
                ):
                    await connection.disconnect()
            finally:  # released even when cancelled meanwhile, as redis-py's release takes care to be
                await super().release(connection)

    return FollowingPool


def _sentinel_client_class(use_async: bool) -> Any:
    """A redis-py client class whose close also closes its Sentinel connections (redis-py
    leaves them open)."""
    if use_async:
        import redis.asyncio as aio

        class AsyncSentinelManaged(aio.Redis):
            sentinel_clients: list[Any] = []

            async def aclose(self, close_connection_pool: bool | None = None) -> None:
                await super().aclose(close_connection_pool)
                for c in self.sentinel_clients:
                    await c.aclose()

        return AsyncSentinelManaged
    import redis

    class SentinelManaged(redis.Redis):
        sentinel_clients: list[Any] = []

        def close(self) -> None:
            super().close()
            for c in self.sentinel_clients:
                c.close()

    return SentinelManaged
