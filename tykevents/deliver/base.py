"""What every handler is, and how the router builds one.

A handler is built once per configuration generation from its typed conf (see
tykevents.apps for how handler_meta is decoded) and then called for each routed event on a
worker of its lane. Lanes are per handler kind, so a slow webhook target never delays log or
JS handlers (see tykevents.work).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from tykevents.config import Config
    from tykevents.model import Event


class HandlerConfigError(Exception):
    """The handler cannot be built; the router logs it with file and JSON path and skips it."""


class HandlerDisabled(Exception):
    """`disabled: true` (or OAS `enabled: false`): skipped with an INFO line, as Tyk does."""


@dataclass(frozen=True)
class APIInfo:
    """The API a handler belongs to; api_id "" means the global handlers of tyk.conf."""

    api_id: str
    org_id: str
    name: str
    source: str  # the file the definition came from (tyk.conf for global handlers)


@dataclass
class BuildContext:
    """Everything a handler builder may need: the config and the daemon's shared services.

    `services` holds long-lived objects owned by the daemon (HTTP client, cooldown store, JS
    runtime, session store, metrics); builders look up what they need by name.
    """

    config: Config
    api: APIInfo
    where: str  # "<file>:$.event_handlers.events.AuthFailure[0]" for messages
    services: dict[str, Any] = field(default_factory=dict)


class Handler(abc.ABC):
    """One configured handler: `handle` runs on a worker task of the handler's lane."""

    kind: ClassVar[str]  # "log" | "webhook" | "js": the worker lane and the metrics label
    inflight: int = 0  # calls queued or running (kept by the lanes; 0 when it can retire)

    def __init__(self, name: str, where: str) -> None:
        self.name = name  # a label for logs and metrics, never a secret
        self.where = where

    @abc.abstractmethod
    async def handle(self, event: Event) -> None:
        """Handle one event. Exceptions are caught, counted and logged by the worker."""

    async def close(self) -> None:
        """Release resources when the configuration generation is retired."""
