"""Shared cooldown table selector: the compiled twin unless disabled (see tykevents/_fast/__init__.py).

The specification and the type stubs are shared_cooldown_py.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _select

if TYPE_CHECKING:
    from .shared_cooldown_py import SharedCooldownTable
else:
    _impl = _select("shared_cooldown")
    SharedCooldownTable = _impl.SharedCooldownTable
    COMPILED: bool = _impl.__name__.endswith("_c")

__all__ = ["SharedCooldownTable"]
