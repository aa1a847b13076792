"""Stage 3: (APIID, event type) -> handlers, for one configuration generation.

The table is a dict of dicts (api id -> event type -> tuple of handlers) so the per-event
lookup allocates nothing. Global handlers from tyk.conf sit under api id "": events that carry
no APIID are system events (Token*, coprocess-triggered), the only ones Tyk sends to global
handlers (docs/compatibility.md). tykevents.handlers builds a table per generation; a reload
swaps the pipeline's table in one assignment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tykevents.apps import APIDefinition
    from tykevents.deliver.base import Handler

logger = logging.getLogger("tykevents.route")


@dataclass
class RouteTable:
    by_api: dict[str, dict[str, tuple[Handler, ...]]] = field(default_factory=dict)
    handlers: list[Handler] = field(default_factory=list)
    apis: list[APIDefinition] = field(default_factory=list)

    def lookup(self, api_id: str, event_type: str) -> tuple[Handler, ...] | None:
        """None when the API is unknown; () when it is known but has no handler for the event."""
        by_type = self.by_api.get(api_id)
        if by_type is None:
            return None
        return by_type.get(event_type, ())

    def add(self, api_id: str, by_type: dict[str, list[Handler]]) -> None:
        self.by_api[api_id] = {ev: tuple(hs) for ev, hs in by_type.items()}
        for hs in by_type.values():
            self.handlers.extend(hs)

    async def close(self) -> None:
        for h in self.handlers:
            try:
                await h.close()
            except Exception:  # a retiring handler must not stop the others from closing
                logger.exception("closing handler %s (%s)", h.name, h.where)
