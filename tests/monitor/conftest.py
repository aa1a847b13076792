"""Fixtures for the quota monitor: both evaluator twins, a real HTTP receiver, a real
webhook service, and a MonitorService on real lanes built from a real tyk.conf."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from tests.fast.conftest import TWINS, load_twin
from tykevents.config import Lanes as LaneSettings
from tykevents.config import WebhookSettings, load_config
from tykevents.deliver.base import HandlerServices
from tykevents.deliver.webhook.metrics import WebhookCounters
from tykevents.deliver.webhook.service import WebhookService
from tykevents.handlers import build_monitor
from tykevents.model import Record
from tykevents.monitor.service import MonitorService
from tykevents.runtime.metrics import Stats
from tykevents.work import Lanes

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
HOUR = 3600


@pytest.fixture(scope="session", params=TWINS)
def table_cls(request: pytest.FixtureRequest) -> Any:
    """ThresholdTable of each twin (the compiled one imported directly, as tests/fast does)."""
    return load_twin("thresholds", request.param).ThresholdTable


def session(
    remaining: int,
    *,
    qmax: int = 10,
    renews: int | None = None,
    rate: int = HOUR,
    limits: list[Any] | None = None,
    org: str = "org1",
    **extra: Any,
) -> dict[str, Any]:
    """A Tyk session with the monitor's fields (renews defaults to now + 1 h)."""
    doc: dict[str, Any] = {
        "org_id": org,
        "quota_max": qmax,
        "quota_remaining": remaining,
        "quota_renews": int(time.time()) + HOUR if renews is None else renews,
        "quota_renewal_rate": rate,
    }
    if limits is not None:
        doc["monitor"] = {"trigger_limits": limits}
    doc.update(extra)
    return doc


def record(kind: str = "quota", **fields: Any) -> Record:
    """A wire record decoded as the pipeline decodes it (a bytes Session is raw JSON)."""
    if isinstance(fields.get("Session"), bytes):
        fields["Session"] = orjson.Fragment(fields["Session"])
    return msgspec.json.decode(orjson.dumps({"Kind": kind, **fields}), type=Record)


def write_conf(tmp: Path, monitor: dict[str, Any], **top: Any) -> Path:
    conf = {"template_path": str(TEMPLATES), "monitor": monitor, **top}
    p = tmp / "tyk.conf"
    p.write_text(json.dumps(conf))
    return p


def monitor_conf(
    url: str,
    *,
    template: str | None = "monitor_template.json",
    limit: float = 0,
    user: bool = True,
    org: bool = True,
    enabled: bool = True,
    timeout: int = 0,
    **webhook: Any,
) -> dict[str, Any]:
    return {
        "enable_trigger_monitors": enabled,
        "global_trigger_limit": limit,
        "monitor_user_keys": user,
        "monitor_org_keys": org,
        "configuration": {
            "method": "POST",
            "target_path": url,
            "event_timeout": timeout,
            "template_path": str(TEMPLATES / template) if template else "",
            **webhook,
        },
    }


def configure(svc: MonitorService, cfg: Any) -> None:
    """What the daemon does when a generation goes live: tykevents.handlers builds the
    monitor webhook (its problems logged, as the daemon reports them), then configure()."""
    hook, problems = build_monitor(cfg, HandlerServices(webhooks=svc.webhooks))
    for p in problems:
        logging.getLogger("tykevents.daemon").log(p.level, "%s", p)
    svc.configure(cfg, hook)


class Rig:
    """A MonitorService wired as the daemon wires it, minus the sockets."""

    def __init__(self, svc: MonitorService, lanes: Lanes, webhooks: WebhookService, conf: Any) -> None:
        self.svc, self.lanes, self.webhooks, self.conf = svc, lanes, webhooks, conf

    def feed(self, *recs: Record) -> list[bool]:
        return [self.svc.sink(r) for r in recs]

    async def settle(self) -> None:
        """Wait until the monitor lane and the webhook service are idle."""
        deadline = time.monotonic() + 5
        assert await self.lanes.drain(deadline)
        while self.webhooks.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        assert not self.webhooks.pending


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Rig] = []

    async def make(
        monitor: dict[str, Any],
        *,
        queue: int = 1024,
        top: dict[str, Any] | None = None,
        name: str = "a",
        **kw: Any,
    ) -> Rig:
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        cfg = load_config(write_conf(d, monitor, **(top or {})), {})
        ws = WebhookService(
            WebhookSettings(
                timeout=2.0, backoff_base=0.02, backoff_max=0.1, dead_letter_path=str(d / "dl.jsonl")
            ),
            metrics=WebhookCounters(),
            redis=kw.pop("webhook_redis", None),
        )
        await ws.start()
        stats = Stats()
        lanes = Lanes(LaneSettings(monitor_queue=queue, monitor_workers=2), stats)
        svc = MonitorService(webhooks=ws, **kw)
        configure(svc, cfg)
        svc.attach(lanes)
        lanes.start()
        rig = Rig(svc, lanes, ws, cfg)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        await rig.lanes.stop()
        await rig.webhooks.close()
