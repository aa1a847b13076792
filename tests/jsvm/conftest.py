from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tykevents.config import Config
from tykevents.deliver.base import APIInfo, HandlerContext, HandlerServices
from tykevents.deliver.jsvm.runtime import JSRuntime
from tykevents.model import Event

JS = Path(__file__).resolve().parents[1] / "data" / "js"


def event(
    type_: str = "AuthFailure",
    meta: Any = None,
    api_id: str = "api-1",
    org_id: str = "org-1",
    ts: str = "2024-03-05 14:07:09.123456789 +0000 UTC",
) -> Event:
    meta = (
        {"Message": "Key not authorised", "Path": "/get", "Origin": "127.0.0.1", "Key": "abcd1234"}
        if meta is None
        else meta
    )
    return Event(type_, orjson.dumps(meta), ts, api_id, org_id)


def build_context(
    runtime: JSRuntime | None, api_id: str = "api-1", org_id: str = "org-1", **conf: Any
) -> HandlerContext:
    # app_path ".": the scripts sit in tyk.conf's directory, inside the confinement roots.
    config = Config(**{"enable_jsvm": True, "base_dir": str(JS), "app_path": ".", **conf})
    services = HandlerServices(jsvm=runtime)
    return HandlerContext(
        config,
        APIInfo(api_id, org_id, "test api", "apps/test.json"),
        "apps/test.json:$.event_handlers.events.AuthFailure[0]",
        services,
    )


@pytest.fixture
def js_logs(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.DEBUG, logger="tykevents.jsvm")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "tykevents.jsvm"]

    return lines


@pytest.fixture
def make_runtime() -> Iterator[Callable[..., JSRuntime]]:
    made: list[JSRuntime] = []

    def make(config: Any = None, store: Any = None, **kw: Any) -> JSRuntime:
        kw = {"call_time_limit": 0.5, "memory_limit": 32 << 20, "http_timeout": 2.0, **kw}
        rt = JSRuntime(
            config if config is not None else Config(enable_jsvm=True, base_dir=str(JS)), store, **kw
        )
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()
