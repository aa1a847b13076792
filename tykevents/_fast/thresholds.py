"""Quota-threshold evaluator selector: the compiled twin unless disabled (see
tykevents/_fast/__init__.py). The specification and the type stubs are thresholds_py.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _select

if TYPE_CHECKING:
    from .thresholds_py import ThresholdTable, evaluate_tyk
else:
    _impl = _select("thresholds")
    ThresholdTable = _impl.ThresholdTable
    evaluate_tyk = _impl.evaluate_tyk
    COMPILED: bool = _impl.__name__.endswith("_c")

__all__ = ["ThresholdTable", "evaluate_tyk"]
