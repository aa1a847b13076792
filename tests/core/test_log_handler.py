"""The log handler (docs/compatibility.md#log-handler): Tyk's cases, our "intended" detail and
key obfuscation."""

from __future__ import annotations

import logging

import msgspec
import orjson
import pytest

from tykevents.config import load_config
from tykevents.deliver.base import (
    APIInfo,
    HandlerConfigError,
    HandlerContext,
    HandlerDisabled,
    HandlerServices,
)
from tykevents.deliver.log import build_log_handler
from tykevents.model import Event, MetaTypeError

LOGGER = "tykevents.handler.log"


def handler(meta, log_detail="intended", enable_key_logging=False):
    cfg = load_config(None, env={})
    cfg = msgspec.structs.replace(
        cfg,
        enable_key_logging=enable_key_logging,
        tykevents=msgspec.structs.replace(cfg.tykevents, log_detail=log_detail),
    )
    ctx = HandlerContext(
        config=cfg, api=APIInfo("api1", "org", "n", "a.json"), where="a.json:$.x", services=HandlerServices()
    )
    return build_log_handler(meta, ctx)


def event(type_, meta) -> Event:
    raw = None if meta is ... else orjson.dumps(meta)
    return Event(type_, raw, "2024-03-05 14:07:09 +0000 UTC", "api1", "org")


AUTH_META = {"Message": "Auth Failure", "Path": "/", "Origin": "127.0.0.1", "Key": "abc"}
QUOTA_META = {"Message": "Key Quota Limit Exceeded", "Path": "/my-path", "Origin": "127.0.0.1", "Key": "abc"}
BREAKER_META = {"Message": "Breaker Reset", "Path": "/my-path", "APIID": "123abc", "CircuitEvent": 1}


def test_init():
    # event_handler_log_test.go: prefix kept; disabled -> ErrEventHandlerDisabled.
    assert handler({"disabled": False, "prefix": "AuthFailureEvent"}).prefix == "AuthFailureEvent"
    with pytest.raises(
        HandlerDisabled, match="skipping disabled log event handler with prefix AuthFailureEvent"
    ):
        handler({"disabled": True, "prefix": "AuthFailureEvent"})


def test_init_scan_error():
    with pytest.raises(HandlerConfigError, match="^Problem getting configuration, skipping. json: "):
        handler({"prefix": ["x"]})


async def test_log_message_event_handler(caplog):
    # TestLogMessageEventHandler: the WARNING line contains testprefix:AuthFailure.
    h = handler({"prefix": "testprefix"})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await h.handle(event("AuthFailure", AUTH_META))
    [rec] = caplog.records
    assert rec.levelno == logging.WARNING and rec.name == LOGGER
    assert "testprefix:AuthFailure" in rec.getMessage()
    assert rec.api_id == "api1"


def test_tyk_detail_is_exactly_prefix_and_type():
    h = handler({"prefix": "testprefix"}, log_detail="tyk")
    assert h.line(event("AuthFailure", AUTH_META)) == "testprefix:AuthFailure"
    assert h.line(event("BreakerTriggered", BREAKER_META)) == "testprefix:BreakerTriggered"
    assert handler({}, log_detail="tyk").line(event("AuthFailure", AUTH_META)) == ":AuthFailure"


def test_quota_log_message_with_key_logging():
    # event_system_test.go: LogMessage("myQuotaEvent:QuotaExceeded") with the raw key.
    h = handler({"prefix": "myQuotaEvent"}, enable_key_logging=True)
    assert h.line(event("QuotaExceeded", QUOTA_META)) == "myQuotaEvent:QuotaExceeded:abc:127.0.0.1:/my-path"


def test_quota_log_message_obfuscates_keys_by_default():
    h = handler({"prefix": "myQuotaEvent"})
    assert h.line(event("QuotaExceeded", QUOTA_META)) == "myQuotaEvent:QuotaExceeded:--:127.0.0.1:/my-path"
    long = dict(QUOTA_META, Key="5e9d9544a1dcd60001d0ed20f8e2a3b1c")
    assert h.line(event("QuotaExceeded", long)) == "myQuotaEvent:QuotaExceeded:****3b1c:127.0.0.1:/my-path"


async def test_raw_key_never_reaches_the_log_by_default(caplog):
    key = "5e9d9544a1dcd60001d0ed20f8e2a3b1c"
    h = handler({"prefix": "p"})
    with caplog.at_level(logging.DEBUG):
        for t in ("AuthFailure", "QuotaExceeded", "RatelimitExceeded", "KeyExpired"):
            await h.handle(event(t, dict(AUTH_META, Key=key)))
    assert len(caplog.records) == 4 and key not in caplog.text


def test_breaker_log_message():
    h = handler({"prefix": "myBreakerEvent"})
    assert (
        h.line(event("BreakerTriggered", BREAKER_META))
        == "myBreakerEvent:BreakerTriggered:123abc:/my-path: [STATUS] 1"
    )
    tripped = dict(BREAKER_META, CircuitEvent=0)
    assert (
        h.line(event("BreakerTripped", tripped))
        == "myBreakerEvent:BreakerTripped:123abc:/my-path: [STATUS] 0"
    )


def test_empty_prefix():
    h = handler({"prefix": ""})
    assert h.line(event("HostDown", {"Message": "Uptime test failed"})) == ":HostDown"
    assert h.line(event("AuthFailure", AUTH_META)) == ":AuthFailure:--:127.0.0.1:/"
    assert handler(None).line(event("AuthFailure", ...)) == ":AuthFailure"


def test_other_events_are_prefix_and_type():
    h = handler({"prefix": "p"}, enable_key_logging=True)
    assert (
        h.line(event("TokenCreated", {"Message": "Key generated.", "Org": "o", "Key": "k"}))
        == "p:TokenCreated"
    )
    assert h.line(event("MyCustomEvent", {"Message": "x"})) == "p:MyCustomEvent"


def test_missing_meta_fields_are_empty():
    h = handler({"prefix": "p"}, enable_key_logging=True)
    assert h.line(event("AuthFailure", {})) == "p:AuthFailure:::"
    assert h.line(event("AuthFailure", {"Key": None, "Path": "/x"})) == "p:AuthFailure:::/x"
    assert h.line(event("BreakerReset", {})) == "p:BreakerReset::: [STATUS] 0"
    assert h.line(event("AuthFailure", None)) == "p:AuthFailure"


@pytest.mark.parametrize(
    "type_, meta",
    [
        ("AuthFailure", {"Key": 5}),
        ("AuthFailure", {"Path": ["/"]}),
        ("AuthFailure", [1]),
        ("AuthFailure", "text"),
        ("BreakerTriggered", {"CircuitEvent": "1"}),
        ("BreakerTriggered", {"CircuitEvent": True}),
        ("BreakerTriggered", {"CircuitEvent": 1.5}),
    ],
)
async def test_wrong_meta_types_raise_after_logging_the_event(caplog, type_, meta):
    h = handler({"prefix": "p"})
    with pytest.raises(MetaTypeError):
        h.line(event(type_, meta))
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(MetaTypeError):
        await h.handle(event(type_, meta))
    assert [r.getMessage() for r in caplog.records] == [f"p:{type_}"]


async def test_percent_signs_are_not_format_directives(caplog):
    h = handler({"prefix": "100%s"}, enable_key_logging=True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await h.handle(event("AuthFailure", dict(AUTH_META, Path="/a%20b%d")))
    assert [r.getMessage() for r in caplog.records] == ["100%s:AuthFailure:abc:127.0.0.1:/a%20b%d"]
