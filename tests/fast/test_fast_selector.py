"""The selectors pick the compiled twins, fall back visibly, and expose the same surface."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys

import pytest

from tests.fast.conftest import COMPILED, TWINS, built, compiled_problems
from tykevents import _fast
from tykevents._fast import cooldown, cooldown_py, thresholds, thresholds_py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_compiled_twins_really_loaded(load_twin) -> None:
    # Without --no-c-extensions, a build that exists must be the one in use: a twin that did
    # not build or does not load fails here, rather than the suite testing the pure one twice.
    if _fast.NO_EXTENSIONS:
        pytest.skip("--no-c-extensions (TYKEVENTS_NO_EXTENSIONS): the pure twins only")
    if not any(built(name) for name in COMPILED):
        pytest.skip("no compiled build (python setup.py build_ext --inplace): the 'c' cases error")
    assert COMPILED == ["cooldown", "ingest", "recv", "shared_cooldown", "shared_thresholds", "thresholds"]
    assert compiled_problems() == [], (
        "compiled twins did not load. Build them with `python setup.py build_ext --inplace`, "
        "or run `pytest --no-c-extensions` to test only the pure twins."
    )
    assert _fast.COMPILED is True
    assert cooldown.CooldownTable is load_twin("cooldown", "c").CooldownTable
    assert thresholds.ThresholdTable is load_twin("thresholds", "c").ThresholdTable
    assert thresholds.evaluate_tyk is load_twin("thresholds", "c").evaluate_tyk
    assert _fast.CooldownTable is cooldown.CooldownTable


def test_switch_leaves_the_pure_twins_only() -> None:
    if not _fast.NO_EXTENSIONS:
        pytest.skip("runs under --no-c-extensions (TYKEVENTS_NO_EXTENSIONS)")
    assert TWINS == ["py"]
    assert (_fast.COMPILED, _fast.COMPILE_ERROR) == (False, None)
    for name in COMPILED:
        impl = importlib.import_module(f"tykevents._fast.{name}")._impl
        assert impl.__name__ == f"tykevents._fast.{name}_py"


def test_no_c_extensions_option_runs_the_pure_twins_only() -> None:
    # In a fresh pytest: the option alone must set the switch before tests/fast/conftest.py
    # imports tykevents._fast, and the twin fixtures must then yield the pure twin only.
    env = {k: v for k, v in os.environ.items() if k not in ("TYKEVENTS_NO_EXTENSIONS", "PYTEST_ADDOPTS")}
    here = "tests/fast/test_fast_selector.py::test_switch_leaves_the_pure_twins_only"
    args = ["-p", "no:cacheprovider", "-v", "--no-c-extensions", here, "tests/fast/test_fast_recv.py"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    passed = re.findall(r"^(tests/\S+) PASSED", out.stdout, re.M)
    assert here in passed
    recv = [t for t in passed if t.startswith("tests/fast/test_fast_recv.py")]
    assert recv and all(t.endswith("[py]") for t in recv), passed


def _probe(env_extra: dict[str, str], prelude: str = "", problems: bool = False) -> dict[str, object]:
    code = prelude + (
        "import json, tykevents._fast as f\n"
        "out = {'compiled': f.COMPILED, 'error': f.COMPILE_ERROR,"
        " 'cooldown': f.CooldownTable.__module__, 'thresholds': f.ThresholdTable.__module__}\n"
    )
    if problems:  # what test_compiled_twins_really_loaded would say
        code += "from tests.fast.conftest import compiled_problems\nout['problems'] = compiled_problems()\n"
    code += "print(json.dumps(out))\n"
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
    got = _probe({}, "import sys\nsys.modules['tykevents._fast.thresholds_c'] = None\n", problems=True)
    assert got["compiled"] is False
    assert "thresholds_c" in str(got["error"]) and "cooldown_c" not in str(got["error"])
    assert got["cooldown"] == "tykevents._fast.cooldown_c"
    assert got["thresholds"] == "tykevents._fast.thresholds_py"
    # ... and the check that the compiled twins loaded fails on it.
    problems = got["problems"]
    assert isinstance(problems, list) and len(problems) == 2
    assert "thresholds_c" in problems[0]
    assert problems[1] == "tykevents._fast.thresholds selected tykevents._fast.thresholds_py"


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
