"""Compiled hot path: the cooldown table, the quota-threshold evaluator, the batched
datagram receiver, the ingest loop (split, decode, route a whole batch or chunk) and the
tables the workers share (shared_cooldown, shared_thresholds).

Each accelerated module has three siblings (the aio-libs accelerator pattern):
  X.py     the selector, which the rest of tykevents imports;
  X_py.py  the pure-Python twin: the specification, and what type checkers read;
  X_c.pyx  the compiled twin (Cython), with the same API.
What the twins share lives once: _args.py (argument checks, both twins), _slot_table.pxi (the
compiled tables' open-addressing slot table) and _dict_table.py (the pure tables' bounded dict).

TYKEVENTS_NO_EXTENSIONS (any non-empty value), read here and nowhere else, forces the pure
twins (`pytest --no-c-extensions` sets it: tests/conftest.py). Otherwise the compiled twins
are used; if one fails to import, the selector falls back to the pure twin but records why in
COMPILE_ERROR, and COMPILED says False, so a broken build is visible (`tykevents --version`
prints COMPILED; a test fails on it).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

NO_EXTENSIONS: bool = bool(os.environ.get("TYKEVENTS_NO_EXTENSIONS"))
COMPILE_ERROR: str | None = None
_loaded_compiled: dict[str, bool] = {}


def _select(name: str) -> ModuleType:
    """The twin module for `name` ("cooldown", "thresholds"), chosen once per process."""
    global COMPILE_ERROR
    if not NO_EXTENSIONS:
        try:
            mod = importlib.import_module(f"{__name__}.{name}_c")
        except ImportError as e:
            reason = f"{name}_c: {type(e).__name__}: {e}"
            COMPILE_ERROR = reason if COMPILE_ERROR is None else f"{COMPILE_ERROR}; {reason}"
        else:
            _loaded_compiled[name] = True
            return mod
    _loaded_compiled[name] = False
    return importlib.import_module(f"{__name__}.{name}_py")


from .cooldown import CooldownTable  # noqa: E402
from .ingest import IngestLoop  # noqa: E402
from .recv import BatchReceiver  # noqa: E402
from .shared_cooldown import SharedCooldownTable  # noqa: E402
from .shared_thresholds import SharedThresholdTable  # noqa: E402
from .thresholds import ThresholdTable  # noqa: E402

COMPILED: bool = all(_loaded_compiled.values())

__all__ = [
    "COMPILED",
    "COMPILE_ERROR",
    "NO_EXTENSIONS",
    "BatchReceiver",
    "CooldownTable",
    "IngestLoop",
    "SharedCooldownTable",
    "SharedThresholdTable",
    "ThresholdTable",
]
