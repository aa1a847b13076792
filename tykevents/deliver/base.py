"""What every handler is, and what a handler builder receives.

A handler is built once per configuration generation from its typed conf (see
tykevents.apps for how handler_meta is decoded, tykevents.handlers for the builders) and then
run for each routed event on a worker of its lane (tykevents.work). Lanes are per handler kind,
so a slow webhook target never delays log or JS handlers.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from tykevents.decode import META_TYPE
from tykevents.model import MetaTypeError
from tykevents.work import JobRejected

if TYPE_CHECKING:
    from tykevents.config import Config
    from tykevents.deliver.jsvm.runtime import JSRuntime
    from tykevents.deliver.webhook.service import WebhookService
    from tykevents.model import Event


class HandlerConfigError(Exception):
    """The handler cannot be built; it is reported with file and JSON path and skipped."""


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
class HandlerServices:
    """The long-lived services handlers may use, for one configuration generation.

    Built by tykevents.services: the process-wide webhook delivery service and this
    generation's JS VM (a reload reloads every script, as Tyk does). `check_only` is set by
    `tykevents check`, which builds every handler without delivering anything; the JS builder
    then makes one throwaway VM and stores it in `jsvm`.
    """

    webhooks: WebhookService | None = None
    jsvm: JSRuntime | None = None
    check_only: bool = False


@dataclass(frozen=True)
class HandlerContext:
    """Everything a handler builder receives."""

    config: Config
    api: APIInfo
    where: str  # "<file>:$.event_handlers.events.AuthFailure[0]" for messages
    services: HandlerServices


class Handler(abc.ABC):
    """One configured handler. A lane runs `run(event)` on a worker task (the JobRunner
    protocol of tykevents.work); `handle` is what each kind implements."""

    kind: ClassVar[str]  # "log" | "webhook" | "js": the worker lane and the metrics label
    inflight: int = 0  # calls queued or running (kept by the lanes; 0 when it can retire)

    def __init__(self, name: str, where: str) -> None:
        self.name = name  # a label for logs and metrics, never a secret
        self.where = where

    @abc.abstractmethod
    async def handle(self, event: Event) -> None:
        """Handle one event. Exceptions are caught, counted and logged by the lane."""

    async def run(self, event: Event) -> None:
        try:
            await self.handle(event)
        except MetaTypeError as e:
            raise JobRejected(META_TYPE, f"wrong type in Meta: {e}") from None

    @property
    def label(self) -> str:
        return f"handler {self.name} ({self.where})"

    def subject(self, event: Event) -> str:
        return event.type

    async def close(self) -> None:  # noqa: B027 - most handlers hold nothing to release
        """Release resources when the configuration generation is retired."""
