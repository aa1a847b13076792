"""The selectors pick the compiled twins, fall back visibly, and expose the same surface."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tykevents import _fast
from tykevents._fast import cooldown, cooldown_py, thresholds, thresholds_py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_compiled_twins_really_loaded(load_twin) -> None:
    if _fast.NO_EXTENSIONS:
        pytest.skip("TYKEVENTS_NO_EXTENSIONS is set")
    assert _fast.COMPILE_ERROR is None, (
        f"compiled twins did not load: {_fast.COMPILE_ERROR}. Build them with "
        "`python setup.py build_ext --inplace`, or set TYKEVENTS_NO_EXTENSIONS=1 to test "
        "only the pure twins."
    )
    assert _fast.COMPILED is True
    assert cooldown.CooldownTable is load_twin("cooldown", "c").CooldownTable
    assert thresholds.ThresholdTable is load_twin("thresholds", "c").ThresholdTable
    assert thresholds.evaluate_tyk is load_twin("thresholds", "c").evaluate_tyk
    assert _fast.CooldownTable is cooldown.CooldownTable


def _probe(env_extra: dict[str, str], prelude: str = "") -> dict[str, object]:
    code = prelude + (
        "import json, tykevents._fast as f\n"
        "print(json.dumps({'compiled': f.COMPILED, 'error': f.COMPILE_ERROR,"
        " 'cooldown': f.CooldownTable.__module__, 'thresholds': f.ThresholdTable.__module__}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TYKEVENTS_NO_EXTENSIONS"}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_switch_forces_pure_twins() -> None:
    got = _probe({"TYKEVENTS_NO_EXTENSIONS": "1"})
    assert got == {
        "compiled": False,
        "error": None,
        "cooldown": "tykevents._fast.cooldown_py",
        "thresholds": "tykevents._fast.thresholds_py",
    }


def test_broken_compiled_twin_falls_back_and_says_why() -> None:
    if _fast.NO_EXTENSIONS:
        pytest.skip("TYKEVENTS_NO_EXTENSIONS is set")
    # sys.modules[name] = None makes that import raise ImportError, as a broken build does.
    got = _probe({}, "import sys\nsys.modules['tykevents._fast.thresholds_c'] = None\n")
    assert got["compiled"] is False
    assert "thresholds_c" in str(got["error"]) and "cooldown_c" not in str(got["error"])
    assert got["cooldown"] == "tykevents._fast.cooldown_c"
    assert got["thresholds"] == "tykevents._fast.thresholds_py"


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_compiled_surface_matches_pure(load_twin) -> None:
    c_cool = load_twin("cooldown", "c")
    c_thr = load_twin("thresholds", "c")
    assert (
        _public(c_cool.CooldownTable)
        == _public(cooldown_py.CooldownTable)
        == {
            "acquire",
            "acquire_many",
            "capacity",
            "contains",
            "memory_bytes",
            "purge",
            "release",
        }
    )
    assert (
        _public(c_thr.ThresholdTable)
        == _public(thresholds_py.ThresholdTable)
        == {
            "capacity",
            "evaluate",
            "evaluate_many",
            "forget",
            "load_state",
            "memory_bytes",
            "purge",
            "state",
        }
    )
