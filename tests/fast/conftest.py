"""Both twins of every tykevents._fast module, for tests that must pass on each.

The compiled twin is imported directly, never through the selector, so a broken build makes
the "c" tests error instead of quietly testing the pure twin twice. Only
TYKEVENTS_NO_EXTENSIONS (the one switch, read by tykevents._fast) skips them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from tykevents import _fast

TWINS = ["py", "c"]


def load_twin(name: str, twin: str) -> ModuleType:
    if twin == "c" and _fast.NO_EXTENSIONS:
        pytest.skip("TYKEVENTS_NO_EXTENSIONS is set: compiled twins not tested")
    return importlib.import_module(f"tykevents._fast.{name}_{twin}")


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
