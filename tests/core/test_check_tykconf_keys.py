"""tyk.conf keys that are neither Tyk's nor ours: Tyk ignores them silently (Go's
encoding/json), so `enable_trigger_monitor` leaves the monitor off without a word; tykevents
warns, with a suggestion. The fact table (tykevents/tykconf_keys.py) is guarded here."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import msgspec
import orjson
import pytest

from tykevents import config as C
from tykevents.apps import load_definitions, tykconf_problems
from tykevents.cli.check import check
from tykevents.config import load_config
from tykevents.tykconf_keys import OURS, TYK_KEYS, unknown_keys

STOCK_CONF = Path(__file__).resolve().parents[2] / "tests" / "data" / "tyk_apps" / "tyk.conf.example"

# Our struct for each block of the table: every key tykevents reads there must be Tyk's.
STRUCTS = {
    (): C.Config,
    ("storage",): C.Storage,
    ("monitor",): C.Monitor,
    ("monitor", "configuration"): C.MonitorWebhook,
    ("external_services",): C.ExternalServices,
    ("external_services", "global"): C.ExternalProxy,
    **{("external_services", s): C.ExternalService for s in ("oauth", "storage", "webhooks")},
    **{("external_services", s, "proxy"): C.ExternalProxy for s in ("health", "discovery")},
    **{("external_services", s, "mtls"): C.ExternalMTLS for s in ("webhooks", "storage")},
}
NOT_FROM_THE_FILE = {"base_dir", "source", "state_dir", "runtime_dir"}  # Config's own bookkeeping


@pytest.mark.parametrize("at", list(STRUCTS), ids=lambda at: ".".join(at) or "top")
def test_every_tyk_key_tykevents_reads_is_in_the_table(at):
    names = {f.encode_name for f in msgspec.structs.fields(STRUCTS[at])} - NOT_FROM_THE_FILE
    if not at:
        names -= OURS
    assert names <= TYK_KEYS[at], names - TYK_KEYS[at]


def test_the_table_is_tyks_config_package():
    # Sizes and spot checks against Tyk's config/config.go at the commit the module names: an
    # accidental edit of the table changes one of these.
    sizes = {at: len(keys) for at, keys in TYK_KEYS.items() if len(at) < 2 or at[0] == "monitor"}
    assert sizes == {(): 148, ("storage",): 25, ("monitor",): 5, ("monitor", "configuration"): 5,
                     ("external_services",): 6}  # fmt: skip
    assert len(TYK_KEYS[("external_services", "webhooks", "mtls")]) == 9
    assert {
        "app_path",
        "kv",
        "drl_threshold",
        "event_trigers_defunct",
    } <= TYK_KEYS[()]
    assert {"master_name", "sentinel_password", "ssl_insecure_skip_verify"} <= TYK_KEYS[("storage",)]
    assert "enable_leaky_bucket_rate_limiter" not in TYK_KEYS[()]  # a `dev` build tag's only
    for keys in TYK_KEYS.values():
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in keys)
    assert OURS.isdisjoint(TYK_KEYS[()])


def test_tyks_own_example_conf_has_no_unknown_key():
    assert unknown_keys(orjson.loads(STOCK_CONF.read_bytes())) == []


def test_misspelled_keys_at_every_level_with_a_suggestion():
    doc = {
        "enable_trigger_monitor": True,
        "monitor": {"enable_trigger_monitors": True, "configuration": {"target_pth": "http://x"}},
        "storage": {"pasword": "x", "port": 6379, "iam_auth": {"anything": 1}},
        "external_services": {"webhooks": {"mtls": {"cert_fil": "c.pem"}}, "globl": {}},
        "tykevents": {"not": "checked here: tykevents.config is strict"},
        "completely_unrelated": 1,
        "my key": 2,
    }
    got = [(u.path, u.key, u.suggestion) for u in unknown_keys(doc)]
    assert got == [
        ("$.enable_trigger_monitor", "enable_trigger_monitor", "monitor.enable_trigger_monitors"),
        ("$.monitor.configuration.target_pth", "target_pth", "target_path"),
        ("$.storage.pasword", "pasword", "password"),
        ("$.external_services.webhooks.mtls.cert_fil", "cert_fil", "cert_file"),
        ("$.external_services.globl", "globl", "global"),
        ("$.completely_unrelated", "completely_unrelated", ""),
        ("$['my key']", "my key", ""),
    ]


def test_keys_match_case_insensitively_as_in_go():
    doc = {
        "App_Path": "apps",
        "MONITOR": {"Enable_Trigger_Monitors": True, "Configuration": {"Target_Path": "u", "methd": "x"}},
        "hash_\u212aeys": True,  # Go folds the Kelvin sign to k
        "TykEvents": {},
    }
    assert [(u.path, u.suggestion) for u in unknown_keys(doc)] == [
        ("$.MONITOR.Configuration.methd", "method")
    ]


def test_blocks_that_are_not_objects_and_documents_that_are_not():
    assert unknown_keys({"monitor": None, "storage": [1], "external_services": "x"}) == []
    assert unknown_keys([1, 2]) == [] and unknown_keys(None) == []


def test_problems_are_warnings_with_file_and_json_path(tmp_path):
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"app_path": "apps", "monitor": {"enable_trigger_monitor": True}}))
    (tmp_path / "apps").mkdir()
    apis, problems = load_definitions(load_config(conf, env={}))
    (p,) = problems
    assert p.where == f"{conf}:$.monitor.enable_trigger_monitor"
    assert p.message == (
        "unknown key 'enable_trigger_monitor': neither Tyk's nor tykevents', so ignored "
        "(as Tyk ignores it); did you mean 'enable_trigger_monitors'?"
    )
    assert p.level == p.check_severity == logging.WARNING
    assert tykconf_problems("<defaults>") == [] and tykconf_problems(str(tmp_path / "nope")) == []


def test_check_warns_and_exits_0_unless_strict(tmp_path):
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"app_path": "apps", "monitor": {"enable_trigger_monitor": True}}))
    (tmp_path / "apps").mkdir()
    out = io.StringIO()
    assert check(str(conf), out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"warning: {conf}:$.monitor.enable_trigger_monitor: unknown key 'enable_trigger_monitor': neither "
        "Tyk's nor tykevents', so ignored (as Tyk ignores it); did you mean 'enable_trigger_monitors'?"
    )
    assert lines[-1].endswith("0 errors, 1 warnings")
    assert check(str(conf), io.StringIO(), strict=True) == 1


def test_our_section_stays_strict(tmp_path):
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"tykevents": {"drain_timeot": 3}}))
    out = io.StringIO()
    assert check(str(conf), out) == 2
    assert "unknown field `drain_timeot`" in out.getvalue()


def test_a_key_in_the_wrong_block_is_pointed_to_where_it_belongs():
    doc = {"enable_trigger_monitors": True, "storage": {"master_nam": "m", "enabled": True}}
    assert [(u.path, u.suggestion) for u in unknown_keys(doc)] == [
        ("$.enable_trigger_monitors", "monitor.enable_trigger_monitors"),
        ("$.storage.master_nam", "master_name"),
        ("$.storage.enabled", "external_services.global.enabled"),
    ]
