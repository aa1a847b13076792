"""`tyk.gateway.TykGateway` (also importable as `gateway`, as Tyk's plugins do:
`from gateway import TykGateway as tyk`).

`log` and `log_error` write to tykevents' log (logger `tykevents.python`). `store_data` and
`get_data` keep values in this handler's process only, with their TTL: tykevents has no
gateway store to share. `trigger_event` cannot fire gateway events here: it logs a warning.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

# Set by the handler process: sends one message to tykevents (worker.py).
sink: Callable[[dict[str, Any]], None] | None = None
_MAX_MESSAGE = 65536
_data: dict[str, tuple[bytes, float]] = {}


def _send(level: str, message: Any) -> None:
    text = str(message)[:_MAX_MESSAGE]
    if sink is None:
        print(f"[{level}] {text}", file=sys.stderr)
    else:
        sink({"op": "log", "level": str(level), "message": text})


class TykGateway:
    @staticmethod
    def log(message: Any, level: str = "info") -> None:
        _send(level, message)

    @staticmethod
    def log_error(message: Any) -> None:
        _send("error", message)

    @staticmethod
    def store_data(key: str, value: str | bytes, ttl: int) -> None:
        raw = value.encode() if isinstance(value, str) else bytes(value)
        _data[key] = (raw, time.monotonic() + ttl if ttl > 0 else float("inf"))

    @staticmethod
    def get_data(key: str) -> bytes | None:
        found = _data.get(key)
        if found is None or found[1] <= time.monotonic():
            _data.pop(key, None)
            return None
        return found[0]

    @staticmethod
    def trigger_event(name: str, payload: str) -> None:
        _send("warning", f"TykGateway.trigger_event({name!r}) is not available in tykevents: ignored")
