"""Both twins of every tykevents._fast module, for tests that must pass on each.

The compiled twin is imported directly, never through the selector, so a broken build makes
the "c" tests error instead of quietly testing the pure twin twice. The one switch,
TYKEVENTS_NO_EXTENSIONS (read by tykevents._fast; `pytest --no-c-extensions` sets it, see
tests/conftest.py), leaves the pure twins only: TWINS is then ["py"], so every fixture
parametrized over it yields the pure twin alone, and a test that asks for the compiled twin
by name skips.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.machinery import ExtensionFileLoader
from pathlib import Path
from types import ModuleType

import pytest

from tykevents import _fast

TWINS = ["py"] if _fast.NO_EXTENSIONS else ["py", "c"]
# The modules that have a compiled twin (X_c.pyx): each is built to X_c.<extension suffix>.
COMPILED = sorted(p.name.removesuffix("_c.pyx") for p in Path(_fast.__file__).parent.glob("*_c.pyx"))


def load_twin(name: str, twin: str) -> ModuleType:
    if twin == "c" and _fast.NO_EXTENSIONS:
        pytest.skip("--no-c-extensions (TYKEVENTS_NO_EXTENSIONS): compiled twins not tested")
    return importlib.import_module(f"tykevents._fast.{name}_{twin}")


def built(name: str) -> bool:
    """An extension module for `name`'s compiled twin exists (it may still fail to load)."""
    spec = importlib.util.find_spec(f"tykevents._fast.{name}_c")
    return spec is not None and isinstance(spec.loader, ExtensionFileLoader)


def compiled_problems() -> list[str]:
    """Why the selectors do not all use a compiled twin loaded from a built extension; []
    when they do."""
    problems = [f"import failed: {_fast.COMPILE_ERROR}"] if _fast.COMPILE_ERROR else []
    for name in COMPILED:
        impl = importlib.import_module(f"tykevents._fast.{name}")._impl
        if impl.__name__ != f"tykevents._fast.{name}_c":
            problems.append(f"tykevents._fast.{name} selected {impl.__name__}")
        elif not isinstance(getattr(impl, "__loader__", None), ExtensionFileLoader):
            problems.append(f"{impl.__name__} is not an extension module: {impl.__file__}")
    if not _fast.COMPILED and not problems:
        problems.append("tykevents._fast.COMPILED is False")
    return problems


@pytest.fixture(name="load_twin", scope="session")
def load_twin_fixture():  # type: ignore[no-untyped-def]
    return load_twin


@pytest.fixture(scope="session", params=TWINS)
def cooldown_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_twin("cooldown", request.param)


@pytest.fixture(scope="session", params=TWINS)
def thresholds_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_twin("thresholds", request.param)


@pytest.fixture(scope="session")
def cooldown_twins() -> tuple[ModuleType, ModuleType]:
    """(pure, compiled), for property tests that compare them."""
    return load_twin("cooldown", "py"), load_twin("cooldown", "c")


@pytest.fixture(scope="session")
def thresholds_twins() -> tuple[ModuleType, ModuleType]:
    return load_twin("thresholds", "py"), load_twin("thresholds", "c")
