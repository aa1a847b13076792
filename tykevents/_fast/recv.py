"""Batched datagram receive selector: the compiled twin unless disabled (see __init__.py).

The specification and the type stubs are recv_py.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _select

if TYPE_CHECKING:
    from .recv_py import BatchReceiver
else:
    _impl = _select("recv")
    BatchReceiver = _impl.BatchReceiver

__all__ = ["BatchReceiver"]
