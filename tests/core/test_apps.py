"""API definitions -> classic handler entries: Tyk's OAS ExtractTo (apidef/oas/event_test.go),
classic event_handlers, companion `-oas.json` files and broken-file reporting."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest

from tykevents.apps import Problem, classic_entries, load_apps, oas_entries, parse_definition

WHERE = "api.json:$['x-tyk-api-gateway'].server.eventHandlers"


def extract(handlers) -> tuple[dict, list[Problem]]:
    """The classic `events` map ExtractTo would produce, as Tyk's test compares it."""
    problems: list[Problem] = []
    events: dict = {}
    for e in oas_entries(handlers, WHERE, problems):
        events.setdefault(e.event, []).append({"handler_name": e.handler_name, "handler_meta": e.meta})
    return events, problems


WEBHOOK = {
    "enabled": True,
    "trigger": "QuotaExceeded",
    "type": "webhook",
    "id": "random-id",
    "name": "test-webhook",
    "url": "https://webhook.site/uuid",
    "headers": [{"name": "Auth", "value": "key"}],
    "bodyTemplate": "/path/to/template",
    "cooldownPeriod": "20s",
    "method": "POST",
}
WEBHOOK_META = {
    "disabled": False,
    "method": "POST",
    "template_path": "/path/to/template",
    "header_map": {"Auth": "key"},
    "target_path": "https://webhook.site/uuid",
    "event_timeout": 20,
    "id": "random-id",
    "name": "test-webhook",
}


# --- TestEventHandlers/extractTo ---------------------------------------------------------


def test_extract_webhook():
    disabled = dict(WEBHOOK, enabled=False, trigger="RatelimitExceeded")
    events, problems = extract([WEBHOOK, disabled])
    assert events == {
        "QuotaExceeded": [{"handler_name": "eh_web_hook_handler", "handler_meta": WEBHOOK_META}],
        "RatelimitExceeded": [
            {"handler_name": "eh_web_hook_handler", "handler_meta": dict(WEBHOOK_META, disabled=True)}
        ],
    }
    assert type(events["QuotaExceeded"][0]["handler_meta"]["event_timeout"]) is int
    assert problems == []


def test_extract_jsvm():
    events, problems = extract(
        [
            {
                "enabled": True,
                "trigger": "QuotaExceeded",
                "type": "custom",
                "id": "random-id",
                "name": "myQuotaEventHandler",
                "functionName": "myQuotaEventHandler",
                "path": "my_script.js",
            },
            {
                "enabled": False,
                "trigger": "RatelimitExceeded",
                "type": "custom",
                "id": "",
                "name": "myRateLimitEventHandler",
                "functionName": "myRateLimitEventHandler",
                "path": "my_script.js",
            },
        ]
    )
    assert events == {
        "QuotaExceeded": [
            {
                "handler_name": "eh_dynamic_handler",
                "handler_meta": {
                    "disabled": False,
                    "id": "random-id",
                    "name": "myQuotaEventHandler",
                    "path": "my_script.js",
                },
            }
        ],
        "RatelimitExceeded": [
            {
                "handler_name": "eh_dynamic_handler",
                "handler_meta": {
                    "disabled": True,
                    "id": "",
                    "name": "myRateLimitEventHandler",
                    "path": "my_script.js",
                },
            }
        ],
    }
    assert problems == []


def test_extract_custom_uses_function_name_not_name():
    events, _ = extract(
        [
            {
                "enabled": True,
                "trigger": "AuthFailure",
                "type": "custom",
                "name": "display name",
                "functionName": "fn",
                "path": "p.js",
            }
        ]
    )
    assert events["AuthFailure"][0]["handler_meta"]["name"] == "fn"


def test_extract_log():
    events, problems = extract(
        [
            {
                "enabled": True,
                "trigger": "QuotaExceeded",
                "type": "log",
                "id": "random-id",
                "name": "QuotaExceededEvent",
                "logPrefix": "QuotaExceededEvent",
            },
            {
                "enabled": False,
                "trigger": "RatelimitExceeded",
                "type": "log",
                "id": "",
                "name": "RateLimitExceededEvent",
                "logPrefix": "RateLimitExceededEvent",
            },
        ]
    )
    assert events == {
        "QuotaExceeded": [
            {
                "handler_name": "eh_log_handler",
                "handler_meta": {"disabled": False, "prefix": "QuotaExceededEvent"},
            }
        ],
        "RatelimitExceeded": [
            {
                "handler_name": "eh_log_handler",
                "handler_meta": {"disabled": True, "prefix": "RateLimitExceededEvent"},
            }
        ],
    }
    assert problems == []


def test_extract_skips_unknown_kind():
    events, problems = extract([dict(WEBHOOK, type="invalid-action")])
    assert events == {}
    # Tyk skips it silently; we say so (a warning, not an error).
    assert [(p.where, p.level) for p in problems] == [(f"{WHERE}[0].type", logging.WARNING)]


@pytest.mark.parametrize("handlers", [None, []])
def test_extract_nil_and_empty(handlers):
    assert extract(handlers) == ({}, [])


def test_entries_keep_array_order_per_trigger():
    a = {"enabled": True, "trigger": "AuthFailure", "type": "log", "logPrefix": "a"}
    b = dict(a, logPrefix="b")
    c = dict(a, trigger="KeyExpired", logPrefix="c")
    entries = oas_entries([a, c, b], WHERE, [])
    assert [(e.event, e.meta["prefix"], e.where) for e in entries] == [
        ("AuthFailure", "a", f"{WHERE}[0]"),
        ("KeyExpired", "c", f"{WHERE}[1]"),
        ("AuthFailure", "b", f"{WHERE}[2]"),
    ]


# --- OAS details --------------------------------------------------------------------------


def test_enabled_missing_means_disabled():
    h = {k: v for k, v in WEBHOOK.items() if k != "enabled"}
    log = {"trigger": "AuthFailure", "type": "log", "logPrefix": "p"}
    events, _ = extract([h, log])
    assert events["QuotaExceeded"][0]["handler_meta"]["disabled"] is True
    assert events["AuthFailure"][0]["handler_meta"] == {"disabled": True, "prefix": "p"}


def test_webhook_minimal_entry_defaults():
    events, _ = extract([{"enabled": True, "trigger": "HostDown", "type": "webhook"}])
    assert events["HostDown"][0]["handler_meta"] == {
        "disabled": False,
        "id": "",
        "name": "",
        "method": "",
        "target_path": "",
        "template_path": "",
        "header_map": {},
        "event_timeout": 0,
    }


def test_later_duplicate_header_wins():
    h = dict(
        WEBHOOK,
        headers=[{"name": "X-A", "value": "1"}, {"name": "X-B", "value": "2"}, {"name": "X-A", "value": "3"}],
    )
    events, _ = extract([h])
    assert events["QuotaExceeded"][0]["handler_meta"]["header_map"] == {"X-A": "3", "X-B": "2"}


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("", 0),
        ("0", 0),
        ("0s", 0),
        ("20s", 20),
        ("1h2m3s", 3723),
        ("1.9s", 1),
        ("999ms", 0),
        ("1m0.5s", 60),
        ("2h", 7200),
        ("1.5m", 90),
        ("-1.5s", -1),  # int64(Duration.Seconds()) truncates toward zero
    ],
)
def test_cooldown_period(value, seconds):
    events, problems = extract([dict(WEBHOOK, cooldownPeriod=value)])
    assert events["QuotaExceeded"][0]["handler_meta"]["event_timeout"] == seconds
    assert problems == []


def test_cooldown_missing_is_zero():
    h = {k: v for k, v in WEBHOOK.items() if k != "cooldownPeriod"}
    events, problems = extract([h])
    assert events["QuotaExceeded"][0]["handler_meta"]["event_timeout"] == 0 and problems == []


@pytest.mark.parametrize("value", ["invalid", "20", "10 s", "1d"])
def test_invalid_cooldown_is_zero_with_a_warning(value):
    events, problems = extract([dict(WEBHOOK, cooldownPeriod=value)])
    assert events["QuotaExceeded"][0]["handler_meta"]["event_timeout"] == 0
    assert len(problems) == 1
    assert problems[0].level == logging.WARNING and problems[0].where == f"{WHERE}[0].cooldownPeriod"


@pytest.mark.parametrize("value", [20, None, ["20s"], {"s": 20}, True])
def test_non_string_cooldown_skips_the_handler(value):
    log = {"enabled": True, "trigger": "AuthFailure", "type": "log", "logPrefix": "p"}
    events, problems = extract([dict(WEBHOOK, cooldownPeriod=value), log])
    assert list(events) == ["AuthFailure"]  # the next entry still loads
    assert len(problems) == 1 and problems[0].level == logging.ERROR
    assert "error while parsing duration" in problems[0].message


@pytest.mark.parametrize(
    "patch, where",
    [
        ({"enabled": "true"}, "[0].enabled"),
        ({"trigger": 5}, "[0].trigger"),
        ({"type": ["webhook"]}, "[0].type"),
        ({"url": 1}, "[0].url"),
        ({"method": False}, "[0].method"),
        ({"bodyTemplate": {}}, "[0].bodyTemplate"),
        ({"headers": {"Auth": "key"}}, "[0].headers"),
        ({"headers": ""}, "[0].headers"),
        ({"headers": ["Auth: key"]}, "[0].headers[0]"),
        ({"headers": [{"name": "Auth", "value": 1}]}, "[0].headers[0].value"),
    ],
)
def test_mistyped_oas_entry_is_skipped_with_its_path(patch, where):
    ok = dict(WEBHOOK, trigger="AuthFailure")
    events, problems = extract([dict(WEBHOOK, **patch), ok])
    assert list(events) == ["AuthFailure"]
    assert [p.where for p in problems] == [WHERE + where]


def test_oas_keys_match_case_insensitively():
    # Tyk decodes x-tyk-api-gateway with encoding/json.
    events, problems = extract(
        [
            {
                "Enabled": True,
                "Trigger": "QuotaExceeded",
                "TYPE": "webhook",
                "URL": "https://h/",
                "Method": "PUT",
                "CooldownPeriod": "5s",
                "Headers": [{"Name": "A", "Value": "b"}],
            }
        ]
    )
    meta = events["QuotaExceeded"][0]["handler_meta"]
    assert (
        meta["disabled"],
        meta["target_path"],
        meta["method"],
        meta["event_timeout"],
        meta["header_map"],
    ) == (False, "https://h/", "PUT", 5, {"A": "b"})
    assert problems == []


def test_non_array_and_non_object_entries():
    problems: list[Problem] = []
    assert oas_entries({"a": 1}, WHERE, problems) == []
    assert oas_entries([5, {"enabled": True, "trigger": "A", "type": "log"}], WHERE, problems)[0].event == "A"
    assert [p.where for p in problems] == [WHERE, f"{WHERE}[0]"]


# --- Classic ------------------------------------------------------------------------------


def test_classic_entries_keep_meta_as_is():
    eh = {
        "events": {
            "AuthFailure": [
                {"handler_name": "eh_log_handler", "handler_meta": {"prefix": "p"}},
                {"handler_name": "eh_web_hook_handler", "handler_meta": {"target_path": "u"}},
            ],
            "KeyExpired": [{"handler_name": "eh_log_handler"}],
        }
    }
    entries = classic_entries(eh, "f:$.event_handlers", [])
    assert [(e.event, e.handler_name, e.meta, e.where) for e in entries] == [
        ("AuthFailure", "eh_log_handler", {"prefix": "p"}, "f:$.event_handlers.events.AuthFailure[0]"),
        (
            "AuthFailure",
            "eh_web_hook_handler",
            {"target_path": "u"},
            "f:$.event_handlers.events.AuthFailure[1]",
        ),
        ("KeyExpired", "eh_log_handler", None, "f:$.event_handlers.events.KeyExpired[0]"),
    ]


def test_classic_bad_parts_are_reported_and_skipped():
    problems: list[Problem] = []
    eh = {
        "events": {
            "A": {"handler_name": "eh_log_handler"},
            "B": [5, {"handler_name": 7}, {"handler_meta": {}}, {"handler_name": "eh_log_handler"}],
        }
    }
    entries = classic_entries(eh, "f:$.event_handlers", problems)
    assert [(e.event, e.where) for e in entries] == [("B", "f:$.event_handlers.events.B[3]")]
    assert [p.where for p in problems] == [
        "f:$.event_handlers.events.A",
        "f:$.event_handlers.events.B[0]",
        "f:$.event_handlers.events.B[1].handler_name",
        "f:$.event_handlers.events.B[2].handler_name",
    ]
    problems.clear()
    assert classic_entries([], "f:$.event_handlers", problems) == []
    assert classic_entries({"events": []}, "f:$.event_handlers", problems) == []
    assert [p.where for p in problems] == ["f:$.event_handlers", "f:$.event_handlers.events"]
    assert classic_entries(None, "w", []) == [] and classic_entries({}, "w", []) == []


def test_classic_keys_match_case_insensitively():
    doc = {
        "API_ID": "a1",
        "Org_Id": "o1",
        "Name": "n",
        "Event_Handlers": {
            "Events": {"AuthFailure": [{"Handler_Name": "eh_log_handler", "Handler_Meta": {"prefix": "p"}}]}
        },
    }
    api = parse_definition(doc, "f.json", [])
    assert (api.api_id, api.org_id, api.name) == ("a1", "o1", "n")
    assert [(h.event, h.handler_name, h.meta) for h in api.handlers] == [
        ("AuthFailure", "eh_log_handler", {"prefix": "p"})
    ]


# --- Files --------------------------------------------------------------------------------


def classic(api_id: str, events: dict | None = None, **extra) -> dict:
    doc = {"api_id": api_id, "org_id": "org", "name": f"API {api_id}", **extra}
    if events is not None:
        doc["event_handlers"] = {"events": events}
    return doc


def oas(api_id: str, handlers: list | None) -> dict:
    x: dict = {"info": {"id": api_id, "orgId": "org", "name": f"OAS {api_id}"}}
    if handlers is not None:
        x["server"] = {"eventHandlers": handlers}
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, "x-tyk-api-gateway": x}


def put(d: Path, name: str, doc: object) -> None:
    (d / name).write_text(doc if isinstance(doc, str) else json.dumps(doc))


LOG = [{"handler_name": "eh_log_handler", "handler_meta": {"prefix": "p"}}]


def test_load_apps_reports_broken_files_and_loads_the_rest(tmp_path):
    put(tmp_path, "a.json", classic("a", {"AuthFailure": LOG}))
    put(tmp_path, "b.json", "{not json")
    put(tmp_path, "c.json", [1, 2])
    put(tmp_path, "d.json", {"name": "no id"})
    put(
        tmp_path,
        "e.json",
        oas("e", [{"enabled": True, "trigger": "KeyExpired", "type": "log", "logPrefix": "x"}]),
    )
    # a duplicate id with a longer listen path: Tyk's registry keeps a.json (test_duplicate_ids_*)
    put(tmp_path, "f.json", classic("a", {"KeyExpired": LOG}, proxy={"listen_path": "/longer/"}))
    put(tmp_path, "g.json", oas("", []))
    put(tmp_path, "h.json", classic("h", {"AuthFailure": {"oops": 1}}))
    put(tmp_path, "notes.txt", "ignored")
    (tmp_path / "sub.json").mkdir()
    apis, problems = load_apps(tmp_path)
    assert [(a.api_id, a.kind, a.source) for a in apis] == [
        ("a", "classic", str(tmp_path / "a.json")),
        ("e", "oas", str(tmp_path / "e.json")),
        ("h", "classic", str(tmp_path / "h.json")),
    ]
    assert apis[0].name == "API a" and apis[0].org_id == "org"
    assert [(h.event, h.meta) for h in apis[1].handlers] == [
        ("KeyExpired", {"disabled": False, "prefix": "x"})
    ]
    assert apis[2].handlers == []
    wheres = [p.where for p in problems]
    assert wheres == [
        str(tmp_path / "b.json"),
        str(tmp_path / "c.json"),
        f"{tmp_path / 'd.json'}:$.api_id",
        f"{tmp_path / 'g.json'}:$['x-tyk-api-gateway'].info.id",
        f"{tmp_path / 'h.json'}:$.event_handlers.events.AuthFailure",
        f"{tmp_path / 'f.json'}:$.api_id",
    ]
    assert "not valid JSON" in problems[0].message
    assert "$: expected a JSON object" in problems[1].message
    assert problems[5].message.startswith(f"API id 'a' is also defined in {tmp_path / 'a.json'}: ")
    assert problems[5].level == logging.WARNING


def test_load_apps_missing_dir(tmp_path):
    apis, problems = load_apps(tmp_path / "nope")
    assert apis == [] and "not a directory" in problems[0].message


def test_oas_companion_replaces_supported_classic_handlers(tmp_path):
    # TestOAS_ExtractTo_ResetAPIDefinition: webhook, JS and log entries of the classic file
    # are dropped; other kinds (cp_dynamic_handler) are kept, OAS ones appended.
    events = {
        "QuotaExceeded": [
            {"handler_name": "eh_web_hook_handler", "handler_meta": {"target_path": "u"}},
            {"handler_name": "eh_dynamic_handler", "handler_meta": {"name": "f", "path": "p.js"}},
            {"handler_name": "cp_dynamic_handler", "handler_meta": {"name": "py"}},
            {"handler_name": "eh_log_handler", "handler_meta": {"prefix": "p"}},
        ]
    }
    put(tmp_path, "x1.json", classic("x1", events, is_oas=True))
    put(tmp_path, "x1-oas.json", oas("x1", []))
    put(tmp_path, "x2.json", classic("x2", events, is_oas=True))
    put(
        tmp_path,
        "x2-oas.json",
        oas("x2", [{"enabled": True, "trigger": "QuotaExceeded", "type": "log", "logPrefix": "oas"}]),
    )
    put(tmp_path, "x3.json", classic("x3", events))  # not is_oas: the twin is not used
    put(tmp_path, "x3-oas.json", oas("x3", [{"enabled": True, "trigger": "A", "type": "log"}]))
    apis, problems = load_apps(tmp_path)
    assert problems == []
    by_id = {a.api_id: a for a in apis}
    assert sorted(by_id) == ["x1", "x2", "x3"]
    assert by_id["x1"].kind == "oas"
    assert [h.handler_name for h in by_id["x1"].handlers] == ["cp_dynamic_handler"]
    assert [(h.handler_name, h.meta) for h in by_id["x2"].handlers] == [
        ("cp_dynamic_handler", {"name": "py"}),
        ("eh_log_handler", {"disabled": False, "prefix": "oas"}),
    ]
    assert by_id["x2"].handlers[1].where.startswith(str(tmp_path / "x2-oas.json") + ":")
    assert [h.handler_name for h in by_id["x3"].handlers] == [
        "eh_web_hook_handler",
        "eh_dynamic_handler",
        "cp_dynamic_handler",
        "eh_log_handler",
    ]


def test_broken_companion_is_reported_and_classic_handlers_stay(tmp_path):
    put(tmp_path, "y.json", classic("y", {"AuthFailure": LOG}, is_oas=True))
    put(tmp_path, "y-oas.json", "{")
    put(tmp_path, "z.json", classic("z", {"AuthFailure": LOG}, is_oas=True))
    put(tmp_path, "z-oas.json", classic("z", {"KeyExpired": LOG}))  # not an OAS document
    apis, problems = load_apps(tmp_path)
    assert [(a.api_id, [h.event for h in a.handlers]) for a in apis] == [
        ("y", ["AuthFailure"]),
        ("z", ["AuthFailure"]),
    ]
    assert [p.where for p in problems] == [str(tmp_path / "y-oas.json"), str(tmp_path / "z-oas.json")]


def test_parse_definition_does_not_modify_input():
    doc = oas("q", [copy.deepcopy(WEBHOOK)])
    before = copy.deepcopy(doc)
    api = parse_definition(doc, "q.json", [])
    assert doc == before and api.handlers[0].meta == WEBHOOK_META


# --- several definitions of one api_id: the one Tyk's API registry keeps ------------------
# Tyk (gateway/api_loader.go loadApps) loads every file, sorts the specs by listen path length,
# longest first (with enable_custom_domains, specs with a domain first), and registers each
# under its api_id in that order: the last one stays.


def dup(d: Path, name: str, listen_path: str, prefix: str, **extra) -> None:
    events = {"AuthFailure": [{"handler_name": "eh_log_handler", "handler_meta": {"prefix": prefix}}]}
    put(d, name, classic("dup", events, proxy={"listen_path": listen_path}, **extra))


def kept(apis) -> tuple[str, str]:
    (api,) = [a for a in apis if a.api_id == "dup"]
    return Path(api.source).name, api.handlers[0].meta["prefix"]


def test_duplicate_ids_the_shortest_listen_path_wins_whatever_the_file_order(tmp_path):
    dup(tmp_path, "a.json", "/a-longer-path/", "long")
    dup(tmp_path, "b.json", "/b/", "short")
    dup(tmp_path, "c.json", "/c-mid/", "mid")
    apis, problems = load_apps(tmp_path)
    assert kept(apis) == ("b.json", "short") and len(apis) == 1
    assert [(p.where, p.level) for p in problems] == [
        (f"{tmp_path / 'a.json'}:$.api_id", logging.WARNING),
        (f"{tmp_path / 'c.json'}:$.api_id", logging.WARNING),
    ]
    assert all(f"also defined in {tmp_path / 'b.json'}" in p.message for p in problems)
    assert all(p.check_severity == logging.WARNING for p in problems)


def test_duplicate_ids_equal_listen_path_lengths_the_later_file_wins(tmp_path):
    # Go's sort of up to 12 specs is an insertion sort, which keeps the files' (name) order.
    dup(tmp_path, "a.json", "/aa/", "first")
    dup(tmp_path, "b.json", "/bb/", "second")
    apis, problems = load_apps(tmp_path)
    assert kept(apis) == ("b.json", "second")
    assert [p.where for p in problems] == [f"{tmp_path / 'a.json'}:$.api_id"]


def test_duplicate_ids_path_parameters_count_for_nothing(tmp_path):
    # listenPathLength: "/{id}/x/" counts its slashes and "x", so 4 < len("/abcde/") = 7.
    dup(tmp_path, "a.json", "/abcde/", "plain")
    dup(tmp_path, "b.json", "/{identifier}/x/", "param")
    assert kept(load_apps(tmp_path)[0]) == ("b.json", "param")


def test_duplicate_ids_with_custom_domains_a_domainless_one_wins(tmp_path):
    dup(tmp_path, "a.json", "/x/", "domain", domain="api.example.com")
    dup(tmp_path, "b.json", "/a-longer-path/", "none")
    assert kept(load_apps(tmp_path)[0]) == ("a.json", "domain")
    assert kept(load_apps(tmp_path, custom_domains=True)[0]) == ("b.json", "none")


def test_duplicate_ids_an_oas_definition_by_its_listen_path(tmp_path):
    doc = oas("dup", [{"enabled": True, "trigger": "AuthFailure", "type": "log", "logPrefix": "oas"}])
    doc["x-tyk-api-gateway"]["server"]["listenPath"] = {"value": "/o/"}
    put(tmp_path, "z.json", doc)
    dup(tmp_path, "a.json", "/classic/", "classic")
    apis, problems = load_apps(tmp_path)
    assert kept(apis) == ("z.json", "oas")
    assert problems[0].where == f"{tmp_path / 'a.json'}:$.api_id"


def test_unknown_oas_handler_type_fails_check_with_a_suggestion():
    bad = {"enabled": True, "trigger": "AuthFailure", "type": "webhok", "url": "http://x"}
    events, problems = extract([bad, {"enabled": True, "trigger": "KeyExpired", "type": "log"}])
    assert list(events) == ["KeyExpired"]  # the others still load
    (p,) = problems
    assert p.where == f"{WHERE}[0].type"
    assert p.message == "unknown handler type 'webhok': skipped (did you mean 'webhook'?)"
    assert (p.level, p.check_severity) == (logging.WARNING, logging.ERROR)
