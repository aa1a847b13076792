"""tyk.conf loading: Tyk's keys as Go reads them, our strict section, TYK_GW_* overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tykevents.config import ConfigError, load_config, split_hostport


def write(tmp_path: Path, doc: object, name: str = "tyk.conf") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def test_defaults_without_a_file():
    cfg = load_config(None, env={})
    assert cfg.app_path == "apps/"
    assert cfg.storage.host == "localhost" and cfg.storage.port == 6379
    assert cfg.tykevents.listen.udp == ["127.0.0.1:9900"]
    assert cfg.tykevents.log_detail == "intended"
    assert cfg.event_handlers == {}
    assert cfg.source == "<defaults>"


def test_tyk_keys_match_case_insensitively_and_unknown_keys_are_ignored(tmp_path):
    p = write(
        tmp_path,
        {
            "App_Path": "myapps/",
            "STORAGE": {"Host": "redis.local", "PORT": 6380, "no_such_key": 1},
            "Monitor": {
                "Enable_Trigger_Monitors": True,
                "Configuration": {"Target_Path": "http://m/", "Header_Map": {"X": "1"}},
            },
            "Enable_Key_Logging": True,
            "listen_port": 8080,
            "some_tyk_feature": {"nested": [1, 2]},
        },
    )
    cfg = load_config(p, env={})
    assert cfg.app_path == "myapps/"
    assert (cfg.storage.host, cfg.storage.port) == ("redis.local", 6380)
    assert cfg.monitor.enable_trigger_monitors is True
    assert cfg.monitor.configuration.target_path == "http://m/"
    assert cfg.monitor.configuration.header_map == {"X": "1"}
    assert cfg.enable_key_logging is True


def test_duplicate_tyk_keys_later_wins_and_structs_merge_as_in_go(tmp_path):
    # encoding/json: each key sets its field in document order; an object decodes into the
    # existing struct, so fields it does not mention keep their value.
    p = write(
        tmp_path,
        '{"app_path": "a/", "App_Path": "b/",'
        ' "storage": {"host": "h1", "port": 1}, "Storage": {"port": 2},'
        ' "Template_Path": "t1", "template_path": "t2"}',
    )
    cfg = load_config(p, env={})
    assert cfg.app_path == "b/"
    assert cfg.template_path == "t2"
    assert (cfg.storage.host, cfg.storage.port) == ("h1", 2)


def test_null_tyk_values_leave_defaults(tmp_path):
    cfg = load_config(
        write(tmp_path, {"storage": None, "app_path": None, "monitor": {"configuration": None}}), env={}
    )
    assert cfg.storage.host == "localhost" and cfg.app_path == "apps/"
    assert cfg.monitor.configuration.target_path == ""


def test_mistyped_tyk_key_is_an_error_with_its_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, {"storage": {"port": "6379"}}), env={})
    assert "$.storage.port" in str(e.value) and "tyk.conf" in str(e.value)


@pytest.mark.parametrize(
    "section, path",
    [
        ({"lanes": {"log_queue": 10, "log_qeue": 5}}, "$.tykevents.lanes"),
        ({"listen": {"udpp": []}}, "$.tykevents.listen"),
        ({"drain_timeout": "10"}, "$.tykevents.drain_timeout"),
        ({"webhooks": {"max_attempts": "3"}}, "$.tykevents.webhooks.max_attempts"),
        ({"bogus": 1}, "$.tykevents"),
    ],
)
def test_tykevents_section_is_strict(tmp_path, section, path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, {"tykevents": section}), env={})
    msg = str(e.value)
    assert path in msg and str(tmp_path / "tyk.conf") in msg


def test_tykevents_section_value_checks_name_paths(tmp_path):
    doc = {
        "tykevents": {
            "state": "etcd",
            "log_detail": "all",
            "logging": {"format": "xml"},
            "drain_timeout": -1,
            "max_record_bytes": 10,
            "lanes": {"js_workers": 0},
            "listen": {"udp": ["127.0.0.1:9900", "nope"], "http": [":99999"]},
            "metrics": "x",
        }
    }
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, doc), env={})
    msg = str(e.value)
    for path in (
        "$.tykevents.state",
        "$.tykevents.log_detail",
        "$.tykevents.logging.format",
        "$.tykevents.drain_timeout",
        "$.tykevents.max_record_bytes",
        "$.tykevents.lanes.js_workers",
        "$.tykevents.listen.udp[1]",
        "$.tykevents.listen.http[0]",
        "$.tykevents.metrics",
    ):
        assert path in msg, path
    assert "$.tykevents.listen.udp[0]" not in msg


def test_webhook_settings_validation_is_reported(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, {"tykevents": {"webhooks": {"timeout": 0}}}), env={})
    assert "timeout must be > 0" in str(e.value)


def test_valid_tykevents_section(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            {
                "tykevents": {
                    "listen": {"udp": [], "unix_dgram": ["/run/x.sock"], "tcp": ["[::1]:9901"]},
                    "lanes": {"webhook_workers": 8},
                    "drain_timeout": 2,
                    "log_detail": "tyk",
                    "webhooks": {"max_attempts": 1},
                }
            },
        ),
        env={},
    )
    d = cfg.tykevents
    assert d.listen.udp == [] and d.listen.unix_dgram == ["/run/x.sock"]
    assert d.lanes.webhook_workers == 8 and d.lanes.log_workers == 1
    assert d.drain_timeout == 2.0 and d.log_detail == "tyk" and d.webhooks.max_attempts == 1


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.conf", env={})
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(write(tmp_path, "{nope"), env={})
    with pytest.raises(ConfigError, match=r"\$: expected a JSON object"):
        load_config(write(tmp_path, "[1, 2]"), env={})


def test_paths_resolve_against_the_config_directory(tmp_path):
    cfg = load_config(write(tmp_path, {"app_path": "apps/", "template_path": "/abs/t"}), env={})
    assert cfg.base_dir == str(tmp_path.resolve())
    assert cfg.path(cfg.app_path) == tmp_path.resolve() / "apps"
    assert cfg.path(cfg.template_path) == Path("/abs/t")


def test_environment_overrides_typed_like_the_default(tmp_path):
    p = write(tmp_path, {"app_path": "file/", "storage": {"host": "filehost"}})
    env = {
        "TYK_GW_APPPATH": "/env/apps",
        "TYK_GW_STORAGE_HOST": "envhost",
        "TYK_GW_STORAGE_PORT": "6390",
        "TYK_GW_STORAGE_ENABLECLUSTER": "true",
        "TYK_GW_STORAGE_ADDRS": "a:1,b:2",
        "TYK_GW_MONITOR_ENABLETRIGGERMONITORS": "1",
        "TYK_GW_MONITOR_GLOBALTRIGGERLIMIT": "80.5",
        "TYK_GW_ENABLEKEYLOGGING": "false",
        "TYK_GW_TYKEVENTS_DRAINTIMEOUT": "2.5",
        "TYK_GW_TYKEVENTS_LISTEN_UDP": "127.0.0.1:1,127.0.0.1:2",
        "TYK_GW_TYKEVENTS_LANES_LOGQUEUE": "7",
        "TYK_GW_TYKEVENTS_WEBHOOKS_MAXATTEMPTS": "1",
        "TYK_GW_NOT_A_SETTING": "x",
        "OTHER": "y",
    }
    cfg = load_config(p, env=env)
    assert cfg.app_path == "/env/apps"
    assert (cfg.storage.host, cfg.storage.port, cfg.storage.enable_cluster) == ("envhost", 6390, True)
    assert cfg.storage.addrs == ["a:1", "b:2"]
    assert cfg.monitor.enable_trigger_monitors is True
    assert cfg.monitor.global_trigger_limit == 80.5
    assert cfg.enable_key_logging is False
    d = cfg.tykevents
    assert d.drain_timeout == 2.5 and d.listen.udp == ["127.0.0.1:1", "127.0.0.1:2"]
    assert d.lanes.log_queue == 7 and d.webhooks.max_attempts == 1


def test_monitor_webhook_env_names_are_tyks():
    # envconfig names variables after Go fields: Monitor.Config, WebHookHandlerConf.HeaderList
    # (Tyk's documented TYK_GW_MONITOR_CONFIG_*).
    cfg = load_config(
        None,
        env={
            "TYK_GW_MONITOR_CONFIG_TARGETPATH": "http://hook/",
            "TYK_GW_MONITOR_CONFIG_METHOD": "POST",
            "TYK_GW_MONITOR_CONFIG_EVENTTIMEOUT": "30",
            "TYK_GW_MONITOR_CONFIG_HEADERLIST": "X-A:1,X-B:b:c",
        },
    )
    c = cfg.monitor.configuration
    assert (c.target_path, c.method, c.event_timeout) == ("http://hook/", "POST", 30)
    assert c.header_map == {"X-A": "1", "X-B": "b:c"}
    cfg = load_config(None, env={"TYK_GW_MONITOR_CONFIGURATION_HEADERMAP": '{"X": "y"}'})
    assert cfg.monitor.configuration.header_map == {"X": "y"}


@pytest.mark.parametrize(
    "var, value",
    [
        ("TYK_GW_STORAGE_PORT", "six"),
        ("TYK_GW_ENABLEJSVM", "maybe"),
        ("TYK_GW_TYKEVENTS_DRAINTIMEOUT", "soon"),
        ("TYK_GW_MONITOR_CONFIG_HEADERLIST", "no-colon"),
        ("TYK_GW_STORAGE_ADDRS", "[1,"),
    ],
)
def test_bad_environment_value_names_the_variable(var, value):
    with pytest.raises(ConfigError) as e:
        load_config(None, env={var: value})
    assert var in str(e.value)


def test_env_override_into_a_non_object_is_reported_not_crashed(tmp_path):
    with pytest.raises(ConfigError, match=r"\$\.storage"):
        load_config(write(tmp_path, {"storage": "redis://x"}), env={"TYK_GW_STORAGE_HOST": "h"})


def test_env_values_are_validated_too():
    with pytest.raises(ConfigError, match=r"\$\.tykevents\.state"):
        load_config(None, env={"TYK_GW_TYKEVENTS_STATE": "disk"})


@pytest.mark.parametrize(
    "addr, expected",
    [
        ("127.0.0.1:9900", ("127.0.0.1", 9900)),
        ("[::1]:9900", ("::1", 9900)),
        (":9900", ("0.0.0.0", 9900)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_split_hostport(addr, expected):
    assert split_hostport(addr) == expected


@pytest.mark.parametrize("addr", ["localhost", "h:", "h:65536", "h:-1", "h:x"])
def test_split_hostport_rejects(addr):
    with pytest.raises(ValueError, match="expected host:port"):
        split_hostport(addr)


def test_listener_and_http_limit_defaults():
    d = load_config(None, env={}).tykevents
    assert d.listen.http == [] and d.listen.http_auth is False
    assert (d.listen.unix_mode, d.listen.unix_group) == ("0660", "")
    assert (d.http.body_timeout, d.http.idle_timeout, d.http.max_connections) == (30.0, 60.0, 1024)
    assert d.allowed_paths == []


def test_listener_and_http_limit_checks_name_paths(tmp_path):
    doc = {
        "tykevents": {
            "listen": {
                "http": ["127.0.0.1:9902"],
                "http_auth": True,
                "unix_mode": "rw-rw----",
                "unix_group": "no-such-group-tykevents",
            },
            "metrics": "127.0.0.1:9902",
            "http": {"body_timeout": 0, "idle_timeout": -1, "max_connections": 0},
        }
    }
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, doc), env={})
    msg = str(e.value)
    for path in (
        "$.tykevents.metrics: also in listen.http",
        "$.tykevents.listen.http_auth: tyk.conf `secret` is empty",
        "$.tykevents.listen.unix_mode",
        "$.tykevents.listen.unix_group",
        "$.tykevents.http.body_timeout",
        "$.tykevents.http.idle_timeout",
        "$.tykevents.http.max_connections",
    ):
        assert path in msg, path
    with pytest.raises(ConfigError, match=r"\$\.tykevents\.listen\.unix_mode"):
        load_config(write(tmp_path, {"tykevents": {"listen": {"unix_mode": "01777"}}}), env={})
    with pytest.raises(ConfigError, match=r"\$\.tykevents\.http"):
        load_config(write(tmp_path, {"tykevents": {"http": {"body_timout": 1}}}), env={})


def test_listener_settings_valid_and_from_the_environment(tmp_path):
    doc = {
        "secret": "s",
        "tykevents": {"listen": {"http_auth": True, "unix_mode": "0600", "unix_group": "0"}},
    }
    env = {"TYK_GW_TYKEVENTS_HTTP_BODYTIMEOUT": "2.5", "TYK_GW_TYKEVENTS_HTTP_MAXCONNECTIONS": "7"}
    d = load_config(write(tmp_path, doc), env=env).tykevents
    assert d.listen.http_auth and d.listen.unix_mode == "0600" and d.listen.unix_group == "0"
    assert d.http.body_timeout == 2.5 and d.http.max_connections == 7
    d = load_config(None, env={"TYK_GW_SECRET": "s", "TYK_GW_TYKEVENTS_LISTEN_HTTPAUTH": "true"}).tykevents
    assert d.listen.http_auth is True


def confined_setup(tmp_path: Path) -> Any:
    base = tmp_path / "etc-tyk"
    for d in ("templates", "apps", "shared", "templates-evil"):
        (base / d).mkdir(parents=True)
    (base / "templates" / "t.json").write_text("{}")
    (base / "apps" / "a.tmpl").write_text("x")
    (base / "tyk.conf").write_text("{}")
    (tmp_path / "secret").write_text("s")
    (base / "templates" / "link").symlink_to(tmp_path / "secret")
    return load_config(
        write(
            base,
            {"template_path": "templates", "app_path": "apps/", "tykevents": {"allowed_paths": ["shared"]}},
        ),
        env={},
    )


def test_confined_paths_stay_in_the_template_app_and_allowed_directories(tmp_path):
    cfg = confined_setup(tmp_path)
    base = Path(cfg.base_dir)
    assert cfg.confined("templates/t.json") == base / "templates" / "t.json"
    assert cfg.confined(str(base / "templates" / "t.json")) == base / "templates" / "t.json"
    assert cfg.confined("apps/a.tmpl") == base / "apps" / "a.tmpl"
    assert cfg.confined("templates/missing.json") == base / "templates" / "missing.json"  # loads fail later
    assert cfg.confined("shared/x") == base / "shared" / "x"
    assert cfg.confined("templates/../apps/a.tmpl") == base / "templates" / "../apps/a.tmpl"
    assert cfg.file_roots() == [base / "templates", base / "apps/", base / "shared"]


@pytest.mark.parametrize(
    "path",
    [
        "../secret",
        "../../../../../../../../etc/passwd",
        "/etc/passwd",
        "tyk.conf",  # the config directory itself is not a root
        "templates/link",  # a symlink inside pointing outside
        "templates-evil/t.json",  # a sibling sharing the prefix
        "templates/../../secret",
    ],
)
def test_confined_refuses_what_lies_outside(tmp_path, path):
    cfg = confined_setup(tmp_path)
    with pytest.raises(ValueError, match="outside the allowed directories"):
        cfg.confined(path)


def test_confined_with_explicit_roots(tmp_path):
    cfg = confined_setup(tmp_path)
    assert cfg.confined(str(tmp_path / "secret"), [tmp_path]) == tmp_path / "secret"
    with pytest.raises(ValueError):
        cfg.confined("templates/t.json", [tmp_path / "nowhere"])
