from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.metrics import WebhookCounters
from tykevents.deliver.webhook.service import WebhookService

# Fast settings for tests: short timeouts and backoff, same logic.
FAST = dict(timeout=2.0, backoff_base=0.02, backoff_max=0.1, retry_after_max=2.0)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[WebhookService] = []

    async def make(**settings: Any) -> WebhookService:
        redis = settings.pop("redis", None)
        cooldown = settings.pop("cooldown", None)
        s = WebhookSettings(**{**FAST, "dead_letter_path": str(tmp_path / "dl.jsonl"), **settings})
        svc = WebhookService(s, metrics=WebhookCounters(), redis=redis, cooldown=cooldown, base_dir=tmp_path)
        await svc.start()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        await svc.close()
