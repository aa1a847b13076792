"""build_routes: handlers per (API id, event); problems for what cannot be built; RouteTable.lookup."""

from __future__ import annotations

import json
import logging

from tykevents.apps import load_apps, parse_definition
from tykevents.config import load_config
from tykevents.deliver.base import Handler, HandlerServices
from tykevents.deliver.log import LogHandler
from tykevents.handlers import BUILDERS, build_routes
from tykevents.route import RouteTable


def config(tmp_path, doc=None):
    p = tmp_path / "tyk.conf"
    p.write_text(json.dumps(doc or {}))
    return load_config(p, env={})


def log(prefix, **extra):
    return {"handler_name": "eh_log_handler", "handler_meta": {"prefix": prefix, **extra}}


def api(api_id, events):
    return parse_definition(
        {"api_id": api_id, "org_id": "org", "event_handlers": {"events": events}}, f"{api_id}.json", []
    )


def test_init_generic_event_handlers(tmp_path):
    # event_system_test.go TestInitGenericEventHandlers: 2 trigger keys, one handler each.
    cfg = config(
        tmp_path,
        {
            "event_handlers": {
                "events": {
                    "QuotaExceeded": [log("testprefix1")],
                    "AuthFailure": [log("testprefix2")],
                }
            }
        },
    )
    table, problems = build_routes(cfg, [], HandlerServices())
    assert problems == []
    glob = table.by_api[""]
    assert sorted(glob) == ["AuthFailure", "QuotaExceeded"]
    assert all(len(hs) == 1 for hs in glob.values())
    assert glob["QuotaExceeded"][0].prefix == "testprefix1"
    assert glob["AuthFailure"][0].prefix == "testprefix2"
    assert glob["AuthFailure"][0].where == f"{cfg.source}:$.event_handlers.events.AuthFailure[0]"


def test_no_global_handlers_still_knows_api_id_empty(tmp_path):
    table, problems = build_routes(config(tmp_path), [], HandlerServices())
    assert table.by_api == {"": {}} and problems == []
    assert table.lookup("", "TokenCreated") == ()
    assert table.lookup("nope", "AuthFailure") is None


def test_event_handler_by_name_outcomes(tmp_path):
    a = api(
        "a1",
        {
            "AuthFailure": [log("p1"), log("p2")],
            "KeyExpired": [
                {"handler_name": "eh_no_such_handler", "handler_meta": {}},
                {"handler_name": "cp_dynamic_handler", "handler_meta": {"name": "fn"}},
                log("off", disabled=True),
                {"handler_name": "eh_log_handler", "handler_meta": {"prefix": 5}},
                {"handler_name": "eh_log_handler", "handler_meta": "not an object"},
                log("kept"),
            ],
        },
    )
    table, problems = build_routes(config(tmp_path), [a], HandlerServices())
    hs = table.lookup("a1", "AuthFailure")
    assert [h.prefix for h in hs] == ["p1", "p2"] and all(isinstance(h, LogHandler) for h in hs)
    assert [h.prefix for h in table.lookup("a1", "KeyExpired")] == ["kept"]
    assert table.lookup("a1", "QuotaExceeded") == ()
    assert len(table.handlers) == 3
    base = "a1.json:$.event_handlers.events.KeyExpired"
    got = [(p.where, p.level) for p in problems]
    assert got == [
        (f"{base}[0]", logging.WARNING),
        (f"{base}[1]", logging.WARNING),
        (f"{base}[2]", logging.INFO),
        (f"{base}[3]", logging.ERROR),
        (f"{base}[4]", logging.ERROR),
    ]
    msgs = [p.message for p in problems]
    assert msgs[0].startswith("Handler not found") and "eh_no_such_handler" in msgs[0]
    assert "cp_dynamic_handler" in msgs[1] and "not supported" in msgs[1]
    assert msgs[2] == "skipping disabled log event handler with prefix off"
    assert msgs[3].startswith("Failed to init event handler: Problem getting configuration, skipping. json: ")
    assert "LogEventHandlerConf.prefix of type string" in msgs[3]


def test_migration_disabled_flags(tmp_path):
    # migration_test.go SetDisabledFlags: every non-nil handler_meta gets "disabled": true, so
    # those handlers are skipped; a nil handler_meta stays nil, a zero (enabled) conf.
    a = api(
        "m",
        {
            "AuthFailure": [
                log("x", disabled=True),
                {"handler_name": "eh_log_handler", "handler_meta": None},
            ],
            "KeyExpired": [log("y", disabled=True)],
        },
    )
    table, problems = build_routes(config(tmp_path), [a], HandlerServices())
    assert [h.prefix for h in table.lookup("m", "AuthFailure")] == [""]
    assert table.lookup("m", "KeyExpired") is not None and "KeyExpired" not in table.by_api["m"]
    assert [p.level for p in problems] == [logging.INFO, logging.INFO]


def test_a_builder_that_raises_costs_only_its_handler(tmp_path, monkeypatch):
    # json.loads(meta, ctx) raises TypeError: an unexpected exception inside a builder.
    monkeypatch.setitem(BUILDERS, "eh_broken_builder", "json:loads")
    a = api("b", {"AuthFailure": [{"handler_name": "eh_broken_builder", "handler_meta": {}}, log("ok")]})
    table, problems = build_routes(config(tmp_path), [a], HandlerServices())
    assert [h.prefix for h in table.lookup("b", "AuthFailure")] == ["ok"]
    assert len(problems) == 1 and problems[0].message.startswith("Failed to init event handler: TypeError")


def test_apis_and_global_handlers_are_separate(tmp_path):
    cfg = config(tmp_path, {"event_handlers": {"events": {"TokenCreated": [log("g")]}}})
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "one.json").write_text(
        json.dumps({"api_id": "one", "event_handlers": {"events": {"AuthFailure": [log("one")]}}})
    )
    (apps / "two.json").write_text(
        json.dumps(
            {
                "openapi": "3.0.3",
                "x-tyk-api-gateway": {
                    "info": {"id": "two"},
                    "server": {
                        "eventHandlers": [
                            {"enabled": True, "trigger": "AuthFailure", "type": "log", "logPrefix": "two"}
                        ]
                    },
                },
            }
        )
    )
    apis, problems = load_apps(apps)
    assert problems == []
    table, problems = build_routes(cfg, apis, HandlerServices())
    assert problems == []
    assert sorted(table.by_api) == ["", "one", "two"]
    assert [h.prefix for h in table.lookup("one", "AuthFailure")] == ["one"]
    assert [h.prefix for h in table.lookup("two", "AuthFailure")] == ["two"]
    assert table.lookup("", "AuthFailure") == ()
    assert [h.prefix for h in table.lookup("", "TokenCreated")] == ["g"]
    assert table.apis is apis


def test_global_handler_config_errors_name_tyk_conf(tmp_path):
    cfg = config(tmp_path, {"event_handlers": {"events": {"TokenCreated": "nope"}}})
    table, problems = build_routes(cfg, [], HandlerServices())
    assert table.by_api == {"": {}}
    assert [p.where for p in problems] == [f"{cfg.source}:$.event_handlers.events.TokenCreated"]


class Closer(Handler):
    kind = "log"

    def __init__(self, name, fail, closed):
        super().__init__(name, "w")
        self.fail, self.closed = fail, closed

    async def handle(self, event):
        pass

    async def close(self):
        self.closed.append(self.name)
        if self.fail:
            raise RuntimeError("close failed")


async def test_close_closes_every_handler_even_after_a_failure(caplog):
    closed: list[str] = []
    table = RouteTable(handlers=[Closer("a", True, closed), Closer("b", False, closed)])
    with caplog.at_level(logging.ERROR, logger="tykevents.route"):
        await table.close()
    assert closed == ["a", "b"]
    assert "closing handler a" in caplog.text
