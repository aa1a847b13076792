"""Cooldown table selector: the compiled twin unless disabled (see tykevents/_fast/__init__.py).

The specification and the type stubs are cooldown_py.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _select

if TYPE_CHECKING:
    from .cooldown_py import CooldownTable
else:
    _impl = _select("cooldown")
    CooldownTable = _impl.CooldownTable
    COMPILED: bool = _impl.__name__.endswith("_c")

__all__ = ["CooldownTable"]
