"""Ingest loop selector: the compiled twin unless disabled (see tykevents/_fast/__init__.py).

The specification and the type stubs are ingest_py.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _select

if TYPE_CHECKING:
    from .ingest_py import IngestLoop
else:
    _impl = _select("ingest")
    IngestLoop = _impl.IngestLoop

__all__ = ["IngestLoop"]
