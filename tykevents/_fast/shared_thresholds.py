"""Shared thresholds table selector: the compiled twin unless disabled (see tykevents/_fast/__init__.py).

The specification and the type stubs are shared_thresholds_py.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _select

if TYPE_CHECKING:
    from .shared_thresholds_py import SharedThresholdTable
else:
    _impl = _select("shared_thresholds")
    SharedThresholdTable = _impl.SharedThresholdTable
    COMPILED: bool = _impl.__name__.endswith("_c")

__all__ = ["SharedThresholdTable"]
