"""`tykevents check` on Tyk's own stock apps/ folder and tyk.conf.example (tests/data/tyk_apps,
with their origin): what an operator moving over starts from must pass, and `run` must keep
the definition of a shared api_id that Tyk's API registry keeps."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

from tykevents.apps import load_definitions
from tykevents.cli.check import check
from tykevents.config import load_config

ROOT = Path(__file__).resolve().parents[2]
STOCK = ROOT / "tests" / "data" / "tyk_apps"


def stock_env() -> dict[str, str]:
    # Tyk's example points at /opt/tyk-gateway; the override is Tyk's own TYK_GW_ style.
    return {"TYK_GW_APPPATH": str(STOCK / "apps"), "TYK_GW_TEMPLATEPATH": str(ROOT / "templates")}


def test_check_passes_tyks_stock_apps_and_tyk_conf():
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "check", "-c", str(STOCK / "tyk.conf.example")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **stock_env()},
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1].endswith(": 7 APIs, 0 handlers, 0 errors, 1 warnings"), out.stdout
    (warning,) = [ln for ln in lines if ln.startswith("warning: ")]
    assert warning.startswith(f"warning: {STOCK / 'apps' / 'coprocess_app_sample_protected.json'}:$.api_id: ")
    assert f"API id '4' is also defined in {STOCK / 'apps' / 'jq.json'}" in warning
    assert "unknown key" not in out.stdout  # every key of Tyk's example is Tyk's


def test_run_keeps_the_definition_tyks_registry_keeps():
    # Tyk sorts by listen path, longest first, and registers in that order: "/jq/" comes last
    # and stays, although coprocess_app_sample_protected.json comes first by name.
    cfg = load_config(STOCK / "tyk.conf.example", stock_env())
    apis, problems = load_definitions(cfg)
    assert [Path(a.source).name for a in apis if a.api_id == "4"] == ["jq.json"]
    assert sorted(a.api_id for a in apis) == ["1", "2", "3", "4", "5", "6", "7"]
    assert [p.level for p in problems] == [logging.WARNING]


def test_strict_check_fails_on_the_warning(tmp_path):
    conf = tmp_path / "tyk.conf"
    conf.write_text('{"app_path": "%s"}' % (STOCK / "apps"))
    buf = io.StringIO()
    assert check(str(conf), buf) == 0
    assert check(str(conf), io.StringIO(), strict=True) == 1
    assert "1 warnings" in buf.getvalue()
