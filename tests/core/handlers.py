"""Small real Handler subclasses for lane and pipeline tests."""

from __future__ import annotations

import asyncio

from tykevents.deliver.base import Handler
from tykevents.model import Event, MetaTypeError


class Recorder(Handler):
    """Records every event; optionally waits on a gate first, or raises."""

    def __init__(
        self,
        name: str = "rec",
        kind: str = "log",
        gate: asyncio.Event | None = None,
        fail: BaseException | None = None,
    ) -> None:
        super().__init__(name, f"test:{name}")
        self.kind = kind  # type: ignore[misc]
        self.gate = gate
        self.fail = fail
        self.events: list[Event] = []

    async def handle(self, event: Event) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.events.append(event)
        if self.fail is not None:
            raise self.fail


class MetaReader(Handler):
    """Reads Meta like a real handler and raises MetaTypeError when it is not an object."""

    kind = "log"

    def __init__(self) -> None:
        super().__init__("meta", "test:meta")

    async def handle(self, event: Event) -> None:
        if not isinstance(event.meta(), dict):
            raise MetaTypeError("Meta: expected object")
