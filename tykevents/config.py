"""tyk.conf: Tyk's own keys where Tyk has them, plus one strict section of ours.

Tyk decodes tyk.conf with Go's encoding/json, so its keys match case-insensitively and unknown
keys are ignored; we do the same for Tyk's keys. Our own section, `tykevents`, is strict:
an unknown or mistyped key is an error naming its JSON path, because a typo in a daemon
setting should never silently fall back to a default.

Environment overrides follow Tyk's style: TYK_GW_<PATH>, where each path element is the key
upper-cased with underscores removed (TYK_GW_APPPATH, TYK_GW_STORAGE_HOST,
TYK_GW_MONITOR_ENABLETRIGGERMONITORS, TYK_GW_TYKEVENTS_DRAINTIMEOUT); where Tyk's Go field name
differs from the key, Tyk's name works too (TYK_GW_MONITOR_CONFIG_HEADERLIST=k1:v1,k2:v2).
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import orjson

from tykevents.golang.json import go_fold


class ConfigError(Exception):
    """A configuration problem, with the file and JSON path it concerns."""


class BreakerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`webhooks.breaker`: a circuit breaker per target host:port (docs/webhooks.md#endpoint-protection).
    Off by default, as Tyk has none: after `failures` consecutive failed attempts the host's
    deliveries wait `cool_off` seconds, then `probes` attempts decide (close or open again)."""

    enabled: bool = False
    failures: int = 5
    cool_off: float = 30.0
    probes: int = 1

    def __post_init__(self) -> None:
        if self.failures < 1 or self.probes < 1:
            raise ValueError("failures and probes must be >= 1")
        if self.cool_off <= 0:
            raise ValueError("cool_off must be > 0")


class RateLimitSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`webhooks.rate_limit`: a token bucket per target host:port (docs/webhooks.md#endpoint-protection).
    Off by default, as Tyk has none. `per_second` 0 = no limit; `burst` 0 = 1; `hosts` maps a
    "host:port" (or a bare host, any port) to its own per_second."""

    enabled: bool = False
    per_second: float = 0.0
    burst: int = 0
    hosts: dict[str, float] = {}

    def __post_init__(self) -> None:
        if self.per_second < 0 or self.burst < 0 or any(v < 0 for v in self.hosts.values()):
            raise ValueError("per_second, burst and hosts values must be >= 0")


class DeliveryLogSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`webhooks.log`: the delivery log behind /api/deliveries (docs/webhooks.md#delivery-log).
    Keeps the last `max_entries` attempts, none older than `max_age` seconds; with Redis state
    one log shared by every instance. Dead letters are kept within the same bounds."""

    enabled: bool = True
    max_entries: int = 10000
    max_age: float = 86400.0

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if self.max_age <= 0:
            raise ValueError("max_age must be > 0")


WHSEC_PREFIX = "whsec_"
WHSEC_SIZES = (24, 64)  # the key's length in bytes, as the Standard Webhooks spec asks


def whsec_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_` then standard base64 (padding
    optional). ValueError says what is wrong, never what the secret is."""
    if not isinstance(secret, str) or not secret.startswith(WHSEC_PREFIX):
        raise ValueError(f'expected "{WHSEC_PREFIX}" followed by base64')
    text = secret[len(WHSEC_PREFIX) :]
    try:
        key = binascii.a2b_base64(text + "=" * (-len(text) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"not valid base64 after {WHSEC_PREFIX}") from None
    lo, hi = WHSEC_SIZES
    if not lo <= len(key) <= hi:
        raise ValueError(f"the key must be {lo} to {hi} bytes, got {len(key)}")
    return key


class SigningSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`webhooks.signing`: Standard Webhooks signatures on every webhook (docs/webhooks.md#signing).
    Off while empty (Tyk signs nothing); several secrets sign each request with each (rotation).
    A handler's `tykevents_signing` in handler_meta overrides it."""

    secrets: list[str] = []

    def __post_init__(self) -> None:
        for i, secret in enumerate(self.secrets):
            try:
                whsec_key(secret)
            except ValueError as e:
                raise ValueError(f"secrets[{i}]: {e}") from None

    def __repr__(self) -> str:  # never the secrets themselves
        return f"SigningSettings(secrets=<{len(self.secrets)}>)"


# Our webhook delivery settings: `"tykevents": {"webhooks": {...}}`. Tyk has none (it tries once,
# with a 30 s client timeout: docs/webhooks.md); these are the retries, dead letters and limits
# that tykevents adds.
class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # One attempt (request, redirects and the capped body read) may take this long: Tyk's
    # webhook client timeout.
    timeout: float = 30.0
    # Concurrent requests per target host:port; more wait in that host's queue.
    max_per_host: int = 64
    # Open connections in total, all hosts together.
    max_connections: int = 1024
    # Attempts per delivery, the first one included; 1 = Tyk's behaviour (no retry).
    max_attempts: int = 5
    # Retry n waits a random time in [d/2, d], d = min(backoff_max, backoff_base * 2**(n-1)),
    # or longer when the receiver sends Retry-After (up to retry_after_max).
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0
    # Deliveries held in memory (queued, in flight, waiting to retry, spooled but not yet read
    # back, dead letters not yet stored). At the limit, webhook handlers wait for room, so
    # their lane fills and applies the overload policy (docs/operations.md).
    pending_limit: int = 100000
    # Where failed deliveries go when state is "memory": relative to the state directory
    # ($STATE_DIRECTORY under systemd, else tyk.conf's directory; docs/operations.md).
    dead_letter_path: str = "var/dead-letter.jsonl"
    # Where dead letters go when that store (file or Redis) cannot be written ("" =
    # var/dead-letter.fallback.jsonl); relative to the state directory, as dead_letter_path.
    dead_letter_fallback: str = ""
    # With Redis state: write each accepted delivery to the stream `tykevents:webhooks` first,
    # so that a crash loses nothing; another instance (or this one after restart) claims
    # deliveries left pending for spool_claim_after seconds. Without Redis it has no effect.
    spool: bool = True
    spool_claim_after: float = 60.0
    # This instance's consumer name in the stream's group ("" = the host name); give each
    # instance on one host its own, stable across restarts.
    spool_consumer: str = ""
    # At most this much of a response body is read (then the connection is closed).
    body_read_limit: int = 65536
    # Idle keep-alive connections are closed after this many seconds.
    keepalive_timeout: float = 30.0
    # Endpoint protection, opt-in (docs/webhooks.md#endpoint-protection).
    breaker: BreakerSettings = msgspec.field(default_factory=BreakerSettings)
    rate_limit: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    # The delivery log (docs/webhooks.md#delivery-log).
    log: DeliveryLogSettings = msgspec.field(default_factory=DeliveryLogSettings)
    # Standard Webhooks signatures, opt-in (docs/webhooks.md#signing).
    signing: SigningSettings = msgspec.field(default_factory=SigningSettings)

    def __post_init__(self) -> None:
        problems = []
        for name in ("timeout", "backoff_max", "keepalive_timeout", "spool_claim_after"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        for name in ("backoff_base", "retry_after_max"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("max_per_host", "max_connections", "max_attempts", "pending_limit"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.body_read_limit < 0:
            problems.append("body_read_limit must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))


class _Tyk(msgspec.Struct, kw_only=True):
    """Base of Tyk's structs: unknown keys ignored, as Go does."""


class Storage(_Tyk):
    type: str = "redis"
    host: str = "localhost"
    port: int = 6379
    addrs: list[str] = []
    username: str = ""
    password: str = ""
    database: int = 0
    enable_cluster: bool = False
    use_ssl: bool = False
    timeout: int = 5
    # Read as Tyk reads them (StorageOptionsConf): tykevents/store/redis.py, docs/operations.md#redis.
    hosts: dict[str, str] = {}  # deprecated in Tyk for addrs, still read
    master_name: str = ""
    sentinel_password: str = ""
    ssl_insecure_skip_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_min_version: str = ""
    tls_max_version: str = ""


class MonitorWebhook(_Tyk):
    method: str = ""
    target_path: str = ""
    template_path: str = ""
    header_map: dict[str, str] = {}
    event_timeout: int = 0


class Monitor(_Tyk):
    enable_trigger_monitors: bool = False
    configuration: MonitorWebhook = msgspec.field(default_factory=MonitorWebhook)
    global_trigger_limit: float = 0.0
    monitor_user_keys: bool = False
    monitor_org_keys: bool = False


# Tyk's external_services block (config.ExternalServiceConfig): proxy and mTLS for the
# gateway's outbound clients. tykevents reads `global` and `webhooks` (docs/webhooks.md#the-http-client).
class ExternalProxy(_Tyk):
    enabled: bool = False
    http_proxy: str = ""
    https_proxy: str = ""
    bypass_proxy: str = ""


class ExternalMTLS(_Tyk):
    enabled: bool = False
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    cert_id: str = ""  # Tyk's certificate store: not readable by tykevents
    ca_cert_ids: list[str] = []
    insecure_skip_verify: bool = False
    tls_min_version: str = ""  # read by Tyk's struct, applied by no client of Tyk's
    tls_max_version: str = ""


class ExternalService(_Tyk):
    proxy: ExternalProxy = msgspec.field(default_factory=ExternalProxy)
    mtls: ExternalMTLS = msgspec.field(default_factory=ExternalMTLS)


class ExternalServices(_Tyk):
    global_: ExternalProxy = msgspec.field(default_factory=ExternalProxy, name="global")
    oauth: ExternalService = msgspec.field(default_factory=ExternalService)
    storage: ExternalService = msgspec.field(default_factory=ExternalService)
    webhooks: ExternalService = msgspec.field(default_factory=ExternalService)
    health: ExternalService = msgspec.field(default_factory=ExternalService)
    discovery: ExternalService = msgspec.field(default_factory=ExternalService)


class Listen(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where events come in. Addresses are "host:port"; Unix paths are file paths."""

    udp: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1:9900"])
    unix_dgram: list[str] = []
    unix_stream: list[str] = []
    tcp: list[str] = []
    http: list[str] = []  # POST /events; the metrics address no longer takes events
    # Require tyk.conf's `secret` in the x-tyk-authorization header of POST /events, as Tyk's
    # Gateway API does.
    http_auth: bool = False
    # Tyk's coprocess gRPC Dispatcher, which stock gateways call (docs/tyk-gateway.md):
    # "host:port" or "unix:PATH". TLS on the TCP addresses when both PEM files are set; with a
    # client CA as well, clients must present a certificate it signed (mutual TLS).
    grpc: list[str] = []
    grpc_cert_file: str = ""
    grpc_key_file: str = ""
    grpc_client_ca_file: str = ""
    # Unix sockets (unix_dgram, unix_stream, grpc's unix:): file mode (octal) and group ("" =
    # ours) set after bind; the files are removed on stop.
    unix_mode: str = "0660"
    unix_group: str = ""


class HTTPLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`"tykevents": {"http": {...}}`: bounds on every HTTP listener (events and metrics)."""

    body_timeout: float = 30.0  # seconds for a request body to arrive once its headers have
    idle_timeout: float = 60.0  # a keep-alive connection idle this long is closed (also the
    # time a new connection has to send its first request's headers)
    max_connections: int = 1024  # per listener; more are answered 503 and closed


class AdminSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`"tykevents": {"admin": {...}}`: the admin API and console (docs/operations.md#admin-api).
    Every route wants tyk.conf's `secret`; with an empty one the listener does not start."""

    listen: str = "127.0.0.1:9904"  # "" disables it; read at start only
    # Answers show secrets (URL credentials, secret header values, keys) only to requests with
    # ?reveal=1, and only when this is true.
    allow_secrets: bool = False

    def __post_init__(self) -> None:
        if self.listen:
            split_hostport(self.listen)  # ValueError: msgspec names the path


class Lanes(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Bounded queue size and worker count of each handler lane (one lane per kind)."""

    log_queue: int = 65536
    log_workers: int = 1
    webhook_queue: int = 65536
    # A webhook handler waits for its cooldown check (with Redis state: the batch in flight),
    # so the workers waiting together make the next batch: with 64 the Redis-state daemon
    # waited for Redis about 6% of the time (bench/bench_webhook_workers.py).
    webhook_workers: int = 256
    js_queue: int = 16384
    js_workers: int = 32  # calls are serialised on the VM thread; more workers batch its results
    monitor_queue: int = 65536
    monitor_workers: int = 4


class Logging(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: str = ""  # "" = tyk.conf log_level, else info
    format: str = "text"  # text | json
    file: str = ""  # "" = stderr
    syslog: str = ""  # e.g. "/dev/log" to log through syslog


class JSSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    call_time_limit: float = 1.0  # seconds per handler call, its HTTP requests included
    memory_limit: int = 64 * 1024 * 1024  # bytes per VM
    http_timeout: float = 10.0  # TykMakeHttpRequest / TykBatchRequest (capped by the call's limit)
    # VMs per generation, each running every script: one API's calls use at most vms - 1, so
    # its slow calls leave a VM to the others; JS runs outside the GIL, so 3 suits 2 cores.
    vms: int = 3
    max_log_bytes: int = 8192  # a longer line from JS (log, rawlog, console, errors) is cut, marked
    # Directories API definitions' JS handlers may read scripts from, besides template_path,
    # app_path, middleware_path and allowed_paths (Config.confined; docs/compatibility.md).
    paths: list[str] = msgspec.field(default_factory=lambda: ["event_handlers"])  # Tyk's samples' folder

    def __post_init__(self) -> None:
        if not 1 <= self.vms <= 64:
            raise ValueError("vms must be between 1 and 64")
        if self.max_log_bytes < 64:
            raise ValueError("max_log_bytes must be >= 64")


class PythonSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`"tykevents": {"python": {...}}`: Python event handlers (docs/tyk-gateway.md)."""

    call_time_limit: float = 5.0  # seconds per call; past it the handler's process is killed
    load_time_limit: float = 10.0  # seconds to import the bundle (per generation and restart)
    interpreter: str = ""  # the Python that runs the handlers ("" = the daemon's own)

    def __post_init__(self) -> None:
        if self.call_time_limit <= 0 or self.load_time_limit <= 0:
            raise ValueError("call_time_limit and load_time_limit must be > 0")


class Daemon(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Our section: `"tykevents": {...}` in tyk.conf."""

    listen: Listen = msgspec.field(default_factory=Listen)
    lanes: Lanes = msgspec.field(default_factory=Lanes)
    drain_timeout: float = 10.0
    # Processes under one supervisor; 0: one per core (docs/operations.md#workers).
    workers: int = 0
    metrics: str = "127.0.0.1:9902"  # "" disables the health/metrics endpoint
    state: str = "memory"  # memory | redis (uses tyk.conf `storage`)
    max_record_bytes: int = 1 << 20  # a bigger line or datagram is rejected
    max_http_body_bytes: int = 16 << 20
    receive_buffer: int = 64 << 20  # SO_RCVBUF asked for; the kernel caps it at rmem_max
    log_detail: str = "intended"  # log handler: "intended" | "tyk" (prefix:Type only)
    logging: Logging = msgspec.field(default_factory=Logging)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    js: JSSettings = msgspec.field(default_factory=JSSettings)
    python: PythonSettings = msgspec.field(default_factory=PythonSettings)
    global_webhooks: str = ""  # a JSON file of webhooks OAS handlers name by id alone
    http: HTTPLimits = msgspec.field(default_factory=HTTPLimits)
    admin: AdminSettings = msgspec.field(default_factory=AdminSettings)
    # Directories handler files (webhook templates) may be read from besides tyk.conf's
    # template_path and app_path (Config.confined; docs/compatibility.md).
    allowed_paths: list[str] = []


class Config(_Tyk):
    """tyk.conf as the daemon sees it. Paths are resolved against `base_dir`."""

    app_path: str = "apps/"
    template_path: str = "templates"
    storage: Storage = msgspec.field(default_factory=Storage)
    event_handlers: dict[str, Any] = {}
    monitor: Monitor = msgspec.field(default_factory=Monitor)
    enable_jsvm: bool = False
    tyk_js_path: str = ""
    middleware_path: str = "middleware"  # Tyk's: plugin files; Python bundles in <middleware_path>/bundles
    enable_key_logging: bool = False
    hash_keys: bool = False
    secret: str = ""
    log_level: str = ""
    ignore_canonical_mime_header_key: bool = False
    allow_master_keys: bool = False
    proxy_ssl_insecure_skip_verify: bool = False  # TykMakeHttpRequest's TLS verification
    enable_custom_domains: bool = False  # which of two APIs with one api_id Tyk keeps (apps.registered)
    external_services: ExternalServices = msgspec.field(default_factory=ExternalServices)
    tykevents: Daemon = msgspec.field(default_factory=Daemon)
    # Not from the file: where relative paths start, and which file this came from.
    base_dir: str = "."
    source: str = ""
    # Nor these: systemd's StateDirectory= / RuntimeDirectory= from the environment given to
    # load_config (STATE_DIRECTORY / RUNTIME_DIRECTORY), "" when not set (docs/operations.md).
    state_dir: str = ""
    runtime_dir: str = ""

    def path(self, p: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        q = Path(p)
        return q if q.is_absolute() else Path(self.base_dir) / q

    def state_path(self, p: str) -> Path:
        """A file the daemon keeps (dead letters): relative to $STATE_DIRECTORY if set."""
        return Path(self.state_dir) / p if self.state_dir and not Path(p).is_absolute() else self.path(p)

    def runtime_path(self, p: str) -> Path:
        """A Unix socket the daemon binds: relative to $RUNTIME_DIRECTORY if set."""
        return Path(self.runtime_dir) / p if self.runtime_dir and not Path(p).is_absolute() else self.path(p)

    def file_roots(self) -> list[Path]:
        """Where handler files may be read from: the template and app directories, plus
        tykevents.allowed_paths."""
        dirs = [self.template_path or "templates", self.app_path, *self.tykevents.allowed_paths]
        return [self.path(d) for d in dirs]

    def confined(self, path: str, roots: Iterable[Path] | None = None) -> Path:
        """`path` as `path()` resolves it, if it lies inside one of `roots` (default:
        file_roots()) once `..` and symlinks are resolved; ValueError otherwise. A handler
        defined in an API definition must not read any file the daemon can (Tyk does)."""
        dirs = [Path(os.path.realpath(d)) for d in (self.file_roots() if roots is None else roots)]
        p = self.path(path)
        real = Path(os.path.realpath(p))
        if any(real.is_relative_to(d) for d in dirs):
            return p
        inside = ", ".join(str(d) for d in dirs)
        raise ValueError(f"{path!r} is outside the allowed directories ({inside}; tykevents.allowed_paths)")


_TYK_STRUCTS = (
    Config,
    Storage,
    Monitor,
    MonitorWebhook,
    ExternalServices,
    ExternalService,
    ExternalProxy,
    ExternalMTLS,
)


def _fold_keys(obj: Any, typ: type) -> Any:
    """Rename keys to the struct's field names case-insensitively, as Go's encoding/json
    matches them; recurse into Tyk structs only (our section stays strict). As in Go, a later
    key overwrites an earlier one (a struct value is merged into), and `null` changes nothing."""
    if not isinstance(obj, dict):
        return obj
    fields = {f.encode_name: f for f in msgspec.structs.fields(typ)}  # "global" for global_
    lower = {go_fold(name): name for name in fields}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = k if k in fields else lower.get(go_fold(k))
        if name is None or v is None:
            continue  # unknown Tyk key: ignored, as Tyk ignores it
        ftype = fields[name].type
        if ftype in _TYK_STRUCTS and ftype is not Config:
            v = _fold_keys(v, ftype)
            if isinstance(v, dict) and isinstance(out.get(name), dict):
                v = {**out[name], **v}
        out[name] = v
    return out


# envconfig names a variable after the Go field, which for these differs from the JSON key
# (TYK_GW_MONITOR_CONFIG_HEADERLIST); the JSON-derived name is accepted too.
_ENV_GO_NAMES = {"configuration": "CONFIG", "header_map": "HEADERLIST"}


def _env_name_matches(key: str, part: str) -> bool:
    return key.replace("_", "").upper() == part or _ENV_GO_NAMES.get(key) == part


def _env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Apply TYK_GW_* variables onto the raw JSON tree, typed like the default value."""
    defaults = msgspec.to_builtins(Config())
    for var, text in env.items():
        if not var.startswith("TYK_GW_"):
            continue
        parts = var[len("TYK_GW_") :].split("_")
        node, dnode = raw, defaults
        for i, part in enumerate(parts):
            match = next((k for k in dnode if _env_name_matches(k, part)), None)
            if match is None:
                break
            if i == len(parts) - 1:
                node[match] = _parse_env_value(text, dnode[match], var)
            else:
                if not isinstance(dnode[match], dict):
                    break
                child = node.setdefault(match, {})
                if not isinstance(child, dict):
                    break  # the file has a non-object here: validation reports it
                node, dnode = child, dnode[match]


def _parse_env_value(text: str, default: Any, var: str) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "t", "yes"):
                return True
            if text.lower() in ("0", "false", "f", "no", ""):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, (list, dict)) and text.startswith(("[", "{")):
            return orjson.loads(text)
        if isinstance(default, list):
            return text.split(",") if text else []
        if isinstance(default, dict):  # envconfig's map form: "k1:v1,k2:v2"
            pairs = [item.split(":", 1) for item in text.split(",") if item]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(text)
            return dict(pairs)
        return text
    except ValueError:
        expected = "k1:v1,k2:v2 or a JSON object" if isinstance(default, dict) else type(default).__name__
        raise ConfigError(f"environment {var}: expected {expected}") from None  # values may be secrets


def load_config(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment and validate tyk.conf. Raises ConfigError."""
    env = os.environ if env is None else env
    if path is None:
        raw: dict[str, Any] = {}
        source, base = "<defaults>", "."
    else:
        p = Path(path)
        source, base = str(p), str(p.resolve().parent)
        try:
            raw = orjson.loads(p.read_bytes())
        except OSError as e:
            raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
        except orjson.JSONDecodeError as e:
            raise ConfigError(f"{p}: not valid JSON: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: $: expected a JSON object")
    raw = _fold_keys(raw, Config)
    _env_overrides(raw, env)
    raw["base_dir"], raw["source"] = base, source
    # systemd joins several directories with ':' (StateDirectory=a b); the first is ours.
    raw["state_dir"] = env.get("STATE_DIRECTORY", "").split(":")[0]
    raw["runtime_dir"] = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    try:
        cfg = msgspec.convert(raw, Config)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{source}: {e}") from None
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    d = cfg.tykevents
    problems = []
    if d.state not in ("memory", "redis"):
        problems.append(f'$.tykevents.state: expected "memory" or "redis", got {d.state!r}')
    if d.log_detail not in ("intended", "tyk"):
        problems.append(f'$.tykevents.log_detail: expected "intended" or "tyk", got {d.log_detail!r}')
    if d.logging.format not in ("text", "json"):
        problems.append(f'$.tykevents.logging.format: expected "text" or "json", got {d.logging.format!r}')
    if d.drain_timeout < 0:
        problems.append("$.tykevents.drain_timeout: must be >= 0")
    if not 0 <= d.workers <= 256:
        problems.append("$.tykevents.workers: must be 0 (one per core) to 256")
    if d.max_record_bytes < 64:
        problems.append("$.tykevents.max_record_bytes: must be >= 64")
    for name in msgspec.structs.fields(Lanes):
        if getattr(d.lanes, name.name) < 1:
            problems.append(f"$.tykevents.lanes.{name.name}: must be >= 1")
    for kind in ("udp", "tcp", "http"):
        for i, addr in enumerate(getattr(d.listen, kind)):
            try:
                split_hostport(addr)
            except ValueError as e:
                problems.append(f"$.tykevents.listen.{kind}[{i}]: {e}")
    if d.metrics:
        try:
            split_hostport(d.metrics)
        except ValueError as e:
            problems.append(f"$.tykevents.metrics: {e}")
    problems += _listen_problems(cfg)
    problems += _grpc_problems(d.listen)
    if problems:
        raise ConfigError(f"{cfg.source}: " + "; ".join(problems))


def _listen_problems(cfg: Config) -> list[str]:
    """The listener and HTTP limit settings (docs/operations.md)."""
    d, problems = cfg.tykevents, []
    if d.metrics and d.metrics in d.listen.http:
        problems.append("$.tykevents.metrics: also in listen.http; POST /events needs an address of its own")
    if d.listen.http_auth and not cfg.secret:
        problems.append("$.tykevents.listen.http_auth: tyk.conf `secret` is empty")
    try:
        if not 0 <= int(d.listen.unix_mode, 8) <= 0o777:
            raise ValueError
    except ValueError:
        problems.append(
            f'$.tykevents.listen.unix_mode: expected octal like "0660", got {d.listen.unix_mode!r}'
        )
    try:
        unix_gid(d.listen.unix_group)
    except (KeyError, ValueError):
        problems.append(f"$.tykevents.listen.unix_group: no group {d.listen.unix_group!r}")
    for name in ("body_timeout", "idle_timeout"):
        if getattr(d.http, name) <= 0:
            problems.append(f"$.tykevents.http.{name}: must be > 0")
    if d.http.max_connections < 1:
        problems.append("$.tykevents.http.max_connections: must be >= 1")
    return problems


def _grpc_problems(listen: Listen) -> list[str]:
    """listen.grpc and its TLS files (docs/tyk-gateway.md)."""
    problems = []
    for i, addr in enumerate(listen.grpc):
        if grpc_unix_path(addr) == "":
            problems.append(f'$.tykevents.listen.grpc[{i}]: expected "unix:PATH", got {addr!r}')
        elif grpc_unix_path(addr) is None:
            try:
                split_hostport(addr)
            except ValueError as e:
                problems.append(f"$.tykevents.listen.grpc[{i}]: {e}")
    if bool(listen.grpc_cert_file) != bool(listen.grpc_key_file):
        problems.append("$.tykevents.listen.grpc_cert_file: TLS needs both grpc_cert_file and grpc_key_file")
    if listen.grpc_client_ca_file and not listen.grpc_cert_file:
        problems.append("$.tykevents.listen.grpc_client_ca_file: mutual TLS needs grpc_cert_file too")
    return problems


def grpc_unix_path(addr: str) -> str | None:
    """The path of a gRPC "unix:PATH" (or "unix:///abs") address; None for "host:port"."""
    if not addr.startswith("unix:"):
        return None
    path = addr[len("unix:") :]
    return path[2:] if path.startswith("///") else path


def unix_gid(group: str) -> int:
    """A group name or number -> gid; -1 (leave it) for "". KeyError if there is no such group."""
    if not group:
        return -1
    if group.isdigit():
        return int(group)
    import grp

    return grp.getgrnam(group).gr_gid


def split_hostport(addr: str) -> tuple[str, int]:
    """ "127.0.0.1:9900" / "[::1]:9900" / ":9900" -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {addr!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)
