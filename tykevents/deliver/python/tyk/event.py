"""`tyk.event.TykEvent`: the object an `@Event` handler receives."""

from __future__ import annotations

import json
from typing import Any


class TykEvent:
    """Tyk's coprocess event, `{"message", "handler_name", "spec"}`, as attributes."""

    message: dict[str, Any]
    handler_name: str
    spec: dict[str, Any]

    def __init__(self, event: str | bytes | dict[str, Any]) -> None:
        self.__dict__ = event if isinstance(event, dict) else json.loads(event)
