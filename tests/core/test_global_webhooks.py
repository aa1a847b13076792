"""OAS webhook handlers that carry only an `id` resolve against tykevents.global_webhooks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tykevents.apps import load_definitions
from tykevents.config import load_config

GLOBAL = [
    {
        "id": "hook-1",
        "name": "ops hook",
        "method": "POST",
        "target_path": "http://127.0.0.1:9/ops",
        "template_path": "",
        "header_map": {"X-Team": "ops"},
        "event_timeout": 30,
    },
    {"id": "hook-1", "target_path": "http://127.0.0.1:9/dup"},
    {"name": "no id"},
]


def oas(handlers: list) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": "o1", "orgId": "org", "name": "n"},
            "server": {"eventHandlers": handlers},
        },
    }


def setup(tmp_path: Path, handlers: list, with_file: bool = True):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "o1.json").write_text(json.dumps(oas(handlers)))
    conf = {"app_path": "apps"}
    if with_file:
        (tmp_path / "global.json").write_text(json.dumps(GLOBAL))
        conf["tykevents"] = {"global_webhooks": "global.json"}
    (tmp_path / "tyk.conf").write_text(json.dumps(conf))
    return load_definitions(load_config(tmp_path / "tyk.conf", env={}))


def test_an_id_alone_takes_the_global_definition(tmp_path: Path) -> None:
    apis, problems = setup(
        tmp_path,
        [
            {"enabled": True, "type": "webhook", "trigger": "QuotaExceeded", "id": "hook-1"},
            {
                "enabled": False,
                "type": "webhook",
                "trigger": "AuthFailure",
                "id": "hook-1",
                "name": "renamed",
            },
        ],
    )
    metas = [h.meta for h in apis[0].handlers]
    assert metas[0] == {**GLOBAL[0], "disabled": False}
    assert metas[1]["disabled"] is True and metas[1]["name"] == "renamed"
    assert metas[1]["target_path"] == "http://127.0.0.1:9/ops"
    msgs = [str(p) for p in problems]
    assert any("global.json:$[1].id" in m and "duplicate id 'hook-1'" in m for m in msgs)
    assert any("global.json:$[2].id" in m for m in msgs)


def test_an_unknown_id_is_reported_with_its_path(tmp_path: Path) -> None:
    apis, problems = setup(
        tmp_path,
        [
            {"enabled": True, "type": "webhook", "trigger": "QuotaExceeded", "id": "nope"},
            {"enabled": True, "type": "log", "trigger": "QuotaExceeded", "logPrefix": "still-here"},
        ],
    )
    assert [h.handler_name for h in apis[0].handlers] == ["eh_log_handler"]
    p = [p for p in problems if "nope" in p.message][0]
    assert p.level == logging.ERROR
    assert p.where.endswith("o1.json:$['x-tyk-api-gateway'].server.eventHandlers[0].id")


def test_without_the_file_an_id_alone_is_an_error_and_a_url_still_works(tmp_path: Path) -> None:
    apis, problems = setup(
        tmp_path,
        [
            {"enabled": True, "type": "webhook", "trigger": "QuotaExceeded", "id": "hook-1"},
            {
                "enabled": True,
                "type": "webhook",
                "trigger": "QuotaExceeded",
                "id": "local",
                "url": "http://127.0.0.1:9/local",
                "method": "POST",
                "cooldownPeriod": "1s",
            },
        ],
        with_file=False,
    )
    assert [h.meta["target_path"] for h in apis[0].handlers] == ["http://127.0.0.1:9/local"]
    assert any("no global webhook with id 'hook-1'" in p.message for p in problems)
