"""What the admin API needs from the daemon, as a protocol the daemon implements: the admin
package sits below the daemon in the layers (pyproject.toml) and never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tykevents.apps import Problem
    from tykevents.config import Config
    from tykevents.route import RouteTable
    from tykevents.runtime.metrics import Stats


class GenerationView(Protocol):
    """One configuration generation, as the daemon keeps it."""

    @property
    def number(self) -> int: ...

    @property
    def config(self) -> Config: ...

    @property
    def routes(self) -> RouteTable: ...

    @property
    def problems(self) -> list[Problem]: ...


class AdminTarget(Protocol):
    @property
    def state(self) -> str:
        """starting | running | stopping | stopped"""

    @property
    def uptime(self) -> float:
        """Seconds since the daemon started."""

    @property
    def gen(self) -> GenerationView | None: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def webhooks(self) -> Any:
        """The WebhookService (deliver/webhook/service.py), or None before start."""

    async def try_reload(self) -> str | None:
        """What SIGHUP does: None once the new generation is live, else why not (the old
        generation stays)."""
