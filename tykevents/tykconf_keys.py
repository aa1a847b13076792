"""The keys Tyk itself reads from tyk.conf, to tell a misspelled key from one that is Tyk's.

Tyk ignores a key it does not know, so `enable_trigger_monitor` (for `enable_trigger_monitors`)
leaves the monitor off without a word; tykevents warns instead (docs/operations.md). A fact
table: the json tags of Tyk Gateway's config package (config/config.go `Config`, with its
embedded `RateLimit` of config/rate_limit.go; `DevelopmentConfig` is empty in release builds;
`StorageOptionsConf`, `MonitorConfig`, `WebHookHandlerConf`, and config/external_service.go),
as of Tyk commit 31e219be (August 2026). Only the blocks tykevents reads are checked below the
top level. Keys match as Go's encoding/json matches them: case-insensitively.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from tykevents.golang.json import go_fold

# Top-level keys of tykevents' own: its section (strict, checked by tykevents.config).
OURS = frozenset({"tykevents"})

_TOP = """
access_logs allow_insecure_configs allow_master_keys allow_remote_config allow_unsafe_policy_ids
analytics_config analytics_storage app_path auth_override basic_auth_hash_key_function
bundle_base_url bundle_insecure_skip_verify cache_storage close_connections cloud
control_api_hostname control_api_port coprocess_options db_app_conf_options disable_auto_max_procs
disable_dashboard_zeroconf disable_key_actions_by_username disable_ports_whitelist
disable_regexp_cache disable_regexp_cache_bound disable_virtual_path_blobs dns_cache
drl_enable_sentinel_rate_limiter drl_notification_frequency drl_threshold enable_analytics
enable_bundle_downloader enable_config_inspection enable_custom_domains
enable_fixed_window_rate_limiter enable_hashed_keys_listing enable_http_profiler enable_jsvm
enable_key_logging enable_non_transactional_rate_limiter enable_rate_limit_smoothing
enable_redis_rolling_limiter enable_sentinel_rate_limiter enable_separate_analytics_store
enable_separate_cache_store enforce_org_data_age enforce_org_data_detail_logging enforce_org_quotas
error_overrides event_handlers event_trigers_defunct event_triggers_defunct
experimental_process_org_off_thread external_services force_global_session_lifetime
global_session_lifetime graceful_shutdown_delay_seconds graceful_shutdown_timeout_duration
graylog_network_addr hash_key_function hash_key_function_fallback hash_keys health_check
health_check_endpoint_name hide_generator_header hostname http_server_options
ignore_canonical_mime_header_key ignore_endpoint_case jsvm_timeout jwks jwt_ssl_insecure_skip_verify
kv labs legacy_enable_allowance_countdown listen_address listen_port liveness_check
local_session_cache log_format log_level logstash_network_addr logstash_transport management_node
max_conn_time max_idle_connections max_idle_connections_per_host middleware_path min_token_length
monitor newrelic node_secret oas_config oauth_error_status_code oauth_redirect_uri_separator
oauth_refresh_token_expire oauth_token_expire oauth_token_expired_retain_period opentelemetry
override_messages pid_file_location policies ports_whitelist proxy_close_connections
proxy_default_timeout proxy_enable_http2 proxy_ssl_ciphers proxy_ssl_disable_renegotiation
proxy_ssl_insecure_skip_verify proxy_ssl_max_version proxy_ssl_min_version public_key_path
rate_limit_response_headers readiness_check_endpoint_name regexp_cache_expire
regexp_cache_max_entries reload_interval resource_sync secret secrets security sentry_code
sentry_log_level service_discovery session_lifetime_respects_key_expiration
skip_verify_existing_plugin_bundle slave_options ssl_force_common_name_check
statsd_connection_string statsd_prefix storage streaming suppress_default_org_store
suppress_redis_signal_reload syslog_network_addr syslog_transport template_path tracing
track_404_logs tyk_js_path uptime_tests use_db_app_configs use_graylog use_logstash use_redis_log
use_sentry use_syslog version_header
"""
_STORAGE = """
addrs ca_file cert_file compress_api_definitions compress_policies database enable_cluster host
hosts iam_auth key_file master_name max_decompressed_size optimisation_max_active
optimisation_max_idle password port sentinel_password ssl_insecure_skip_verify timeout
tls_max_version tls_min_version type use_ssl username
"""
_MONITOR = "configuration enable_trigger_monitors global_trigger_limit monitor_org_keys monitor_user_keys"
_MONITOR_WEBHOOK = "event_timeout header_map method target_path template_path"
_PROXY = "bypass_proxy enabled http_proxy https_proxy"  # GlobalProxyConfig and ProxyConfig alike
_MTLS = """
ca_cert_ids ca_file cert_file cert_id enabled insecure_skip_verify key_file tls_max_version
tls_min_version
"""
_SERVICES = ("oauth", "storage", "webhooks", "health", "discovery")


def _keys(text: str) -> frozenset[str]:
    return frozenset(text.split())


# JSON path (as a tuple of Tyk's key names) -> the keys Tyk reads in that object.
TYK_KEYS: dict[tuple[str, ...], frozenset[str]] = {
    (): _keys(_TOP),
    ("storage",): _keys(_STORAGE),
    ("monitor",): _keys(_MONITOR),
    ("monitor", "configuration"): _keys(_MONITOR_WEBHOOK),
    ("external_services",): frozenset({"global", *_SERVICES}),
    ("external_services", "global"): _keys(_PROXY),
    **{("external_services", s): frozenset({"proxy", "mtls"}) for s in _SERVICES},
    **{("external_services", s, "proxy"): _keys(_PROXY) for s in _SERVICES},
    **{("external_services", s, "mtls"): _keys(_MTLS) for s in _SERVICES},
}


@dataclass(frozen=True)
class UnknownKey:
    path: str  # JSON path of the key, "$.monitor.enable_trigger_monitor"
    key: str
    # The closest known key there, else the closest one in another block as a path from the
    # top ("monitor.enable_trigger_monitors" for a top-level "enable_trigger_monitor"); or "".
    suggestion: str


def json_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if key.isidentifier() else f"{parent}[{_quote(key)}]"


def _quote(key: str) -> str:
    return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unknown_keys(doc: Any) -> list[UnknownKey]:
    """Keys of tyk.conf (decoded) that are neither Tyk's nor ours, in the blocks of TYK_KEYS."""
    out: list[UnknownKey] = []
    if isinstance(doc, dict):
        _walk(doc, (), "$", out)
    return out


def _walk(obj: dict[str, Any], at: tuple[str, ...], path: str, out: list[UnknownKey]) -> None:
    known = TYK_KEYS[at] | (OURS if not at else frozenset())
    folded = {go_fold(k): k for k in known}
    for key, value in obj.items():
        name = key if key in known else folded.get(go_fold(key))
        where = json_path(path, key)
        if name is None:
            out.append(UnknownKey(where, key, suggest(key, known) or _elsewhere(key, at)))
        elif at + (name,) in TYK_KEYS and isinstance(value, dict):
            _walk(value, at + (name,), where, out)


def _elsewhere(key: str, at: tuple[str, ...]) -> str:
    paths: dict[str, str] = {}  # key -> its shortest path in another block
    for block in sorted(TYK_KEYS, key=lambda b: (len(b), b)):
        if block != at:
            for k in TYK_KEYS[block]:
                paths.setdefault(k, ".".join((*block, k)))
    near = suggest(key, set(paths))
    return paths[near] if near else ""


def suggest(word: str, known: frozenset[str] | set[str], cutoff: float = 0.75) -> str:
    """The known name closest to `word` (case ignored), or "" when none is close enough."""
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(word.lower(), sorted(by_lower), n=1, cutoff=cutoff)
    return by_lower[match[0]] if match else ""
