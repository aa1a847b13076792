"""MonitorService end to end in-process: records -> sink -> monitor lane -> the monitor
webhook -> a real HTTP receiver on loopback."""

from __future__ import annotations

import logging
import re
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from tykevents.config import load_config
from tykevents.monitor import rule as m
from tykevents.monitor.service import MonitorService
from tykevents.store.sessions import AsyncSessionView, MemorySessionStore

from .conftest import HOUR, configure, monitor_conf, record, session, write_conf

# The default template's TriggerExceeded branch, verified against Go (docs/monitor.md#the-event).
SPEC_3_3_BODY = (
    b'\n{\n    "event": "TriggerExceeded",\n    "message": "Quota trigger reached",\n'
    b'    "org": "org1",\n    "key": "key1",\n    "trigger_limit": "80"\n}\n\n\n'
)
# templates/monitor_template.json: the same keys without the if/else wrapper's newlines.
MONITOR_TEMPLATE_BODY = SPEC_3_3_BODY[1:-2]


def limits_sent(receiver) -> list[str]:
    return [re.search(rb'"trigger_limit": "([^"]*)"', r.body).group(1).decode() for r in receiver.requests]


async def test_trigger_exceeded_through_monitor_template(make_rig, receiver, table_cls) -> None:
    rig = await make_rig(monitor_conf(receiver.url("/quota?x=1"), limit=80), table=table_cls())
    assert rig.feed(record(Key="key1", Session=session(2))) == [True]
    await rig.settle()
    (req,) = receiver.requests
    assert req.body == MONITOR_TEMPLATE_BODY
    assert req.request_line == "POST /quota?x=1 HTTP/1.1"
    assert req.header("User-Agent") == "Tyk-Hookshot"
    assert req.header("Content-Type") == "application/json"  # the template path ends in .json
    s = rig.svc.stats
    assert (s.fired, s.sent, dict(s.records)) == (1, 1, {"quota": 1})


@pytest.mark.parametrize("template", [None, "does-not-exist.json"])
async def test_default_template_gives_the_spec_3_3_body(make_rig, receiver, template) -> None:
    # No template_path, or one that fails to load: the default template, as Tyk falls back.
    conf = monitor_conf(receiver.url(), limit=80, template=None)
    if template:
        conf["configuration"]["template_path"] = template
    rig = await make_rig(conf)
    rig.feed(record(Key="key1", Session=session(2)))
    await rig.settle()
    (req,) = receiver.requests
    assert req.body == SPEC_3_3_BODY
    assert req.header("Content-Type") == "application/json"


async def test_timestamp_is_go_time_now_string_with_monotonic_reading(make_rig, receiver, tmp_path) -> None:
    tpl = tmp_path / "ts.json"
    tpl.write_text("{{.TimeStamp}}|{{.Meta.UsagePercentage}}|{{.Meta.OriginatingRequest}}|{{.Meta.OrgID}}")
    conf = monitor_conf(receiver.url())
    conf["configuration"]["template_path"] = str(tpl)
    started = time.monotonic_ns() - 2_500_000_000  # "the daemon started 2.5 s ago"
    rig = await make_rig(conf, started_ns=started)
    rig.feed(record(Key="k", OrgID="from-record", Session=session(1, qmax=3, limits=[50], org="")))
    await rig.settle()
    ts, usage, orig, org = receiver.requests[0].body.decode().split("|")
    # Go's time.Now().String(): local zone, trailing zeros trimmed, then " m=+<s>.<9 digits>"
    # (html/template escapes the "+" signs).
    mt = re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})? (?:&#43;|-)\d{4} \S+ m=&#43;(\d+\.\d{9})", ts
    )
    assert mt, ts
    assert 2.5 <= float(mt.group(1)) < 30
    assert (usage, orig, org) == ("66", "", "from-record")  # int64(66.66…); org from the record


async def test_each_level_once_then_rearmed_by_a_new_period(make_rig, receiver, table_cls) -> None:
    rig = await make_rig(monitor_conf(receiver.url()), table=table_cls())
    renews = int(time.time()) + HOUR
    for rem in (9, 5, 5, 4, 1, 1, 0):
        rig.feed(record(Key="key1", Session=session(rem, renews=renews, limits=[50, 80])))
    await rig.settle()
    assert limits_sent(receiver) == ["50", "80"]
    # The next period (a later quota_renews) re-arms; with event_timeout 0 the webhook has no
    # cooldown, so the same body is sent again.
    rig.feed(record(Key="key1", Session=session(1, renews=renews + HOUR, limits=[50, 80])))
    await rig.settle()
    assert limits_sent(receiver) == ["50", "80", "80"]


async def test_org_quota_record(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url(), limit=80))
    rig.feed(record("org_quota", OrgID="org1", Session=session(2, org="org1")))
    rig.feed(record("org_quota", Session=session(1, org="org2")))  # the org id from the session
    await rig.settle()
    bodies = [r.body for r in receiver.requests]
    assert bodies[0] == MONITOR_TEMPLATE_BODY.replace(b'"key1"', b'""')  # Tyk's key "" for orgs
    assert b'"org": "org2"' in bodies[1] and len(bodies) == 2


async def test_disabled_monitor_counts_and_ignores(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url(), limit=80, enabled=False))
    assert rig.feed(record(Key="key1", Session=session(0))) == [False]  # the pipeline logs "off"
    await rig.settle()
    assert receiver.requests == [] and rig.svc.stats.ignored == {m.DISABLED: 1}


async def test_user_and_org_gates(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url(), limit=80, user=False, org=True))
    rig.feed(record(Key="key1", Session=session(0)), record("org_quota", OrgID="org1", Session=session(0)))
    await rig.settle()
    assert len(receiver.requests) == 1 and b'"key": ""' in receiver.requests[0].body
    assert dict(rig.svc.stats.ignored) == {m.USER_KEYS_OFF: 1}


async def test_failed_webhook_init_is_logged_and_records_rejected(
    make_rig, receiver, tmp_path, caplog
) -> None:
    empty = tmp_path / "no-templates"
    empty.mkdir()
    caplog.set_level(logging.ERROR, "tykevents.monitor")
    # No template_path and no default template: Tyk's Init fails (and later panics: K5 in
    # docs/compatibility.md).
    rig = await make_rig(
        monitor_conf(receiver.url(), limit=80, template=None), top={"template_path": str(empty)}
    )
    assert "Failed to initialise monitor!" in caplog.text and "default template" in caplog.text
    assert rig.feed(record(Key="key1", Session=session(0))) == [True]
    await rig.settle()
    assert receiver.requests == [] and rig.svc.stats.rejected == {m.MONITOR_UNAVAILABLE: 1}


async def test_reload_rebuilds_the_monitor_webhook(make_rig, receiver, tmp_path) -> None:
    rig = await make_rig(monitor_conf("http://127.0.0.1:1/never", limit=80))
    new = tmp_path / "reloaded"
    new.mkdir()
    configure(rig.svc, load_config(write_conf(new, monitor_conf(receiver.url("/new"), limit=50)), {}))
    rig.feed(record(Key="key1", Session=session(5)))
    await rig.settle()
    assert [r.target for r in receiver.requests] == ["/new"] and limits_sent(receiver) == ["50"]


async def test_bad_records_are_counted_never_fired(make_rig, receiver, caplog) -> None:
    caplog.set_level(logging.WARNING, "tykevents.monitor")
    rig = await make_rig(monitor_conf(receiver.url(), limit=50))
    rig.feed(
        record(Key="secret-key-1234", Session=b'{"quota_max": 10, "quota_remaining": 11}'),
        record(Key="secret-key-1234", Session={"quota_max": 10, "quota_remaining": -3}),
        record(
            Key="secret-key-1234",
            Session={"quota_max": 10, "quota_remaining": 0, "monitor": {"trigger_limits": ["x"]}},
        ),
        record(Key="secret-key-1234", Session={"quota_max": 10}),
        record(Key="secret-key-1234", Session=[1]),
        record(Session={"quota_max": 10, "quota_remaining": 0}),  # no Key
        record("org_quota", Session={"quota_max": 10, "quota_remaining": 0}),  # no org id anywhere
        record(Key="k", Session={"quota_max": -1}),  # unlimited: valid, never fires
        record(Key="k", Session={"quota_max": 0, "quota_remaining": 0}),
    )
    await rig.settle()
    assert receiver.requests == []
    assert dict(rig.svc.stats.rejected) == {
        m.REMAINING_ABOVE_MAX: 1,
        m.NEGATIVE_QUOTA: 1,
        m.BAD_TRIGGER_LIMITS: 1,
        m.MISSING_QUOTA: 1,
        m.BAD_SESSION: 1,
        m.MISSING_KEY: 2,
    }
    assert dict(rig.svc.stats.ignored) == {m.NO_QUOTA: 2}
    assert "secret-key-1234" not in caplog.text and "****1234" in caplog.text


async def test_ignored_trigger_limits_are_counted(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url()))
    rig.feed(record(Key="k", Session=session(1, limits=[150, 80, -1])))
    await rig.settle()
    assert limits_sent(receiver) == ["80"] and rig.svc.stats.ignored_limits == 1


async def test_full_lane_loses_no_fire(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url(), limit=80), queue=1)
    # Two fires in one synchronous burst: the lane holds one, the other is refused...
    rig.feed(record(Key="k1", Session=session(2)), record(Key="k2", Session=session(2)))
    assert rig.svc.stats.rejected == {m.LANE_FULL: 1}
    await rig.settle()
    # ...and k2's level was forgotten, so its next record fires it.
    rig.feed(record(Key="k2", Session=session(2)), record(Key="k1", Session=session(2)))
    await rig.settle()
    assert sorted(re.search(rb'"key": "(\w+)"', r.body).group(1) for r in receiver.requests) == [b"k1", b"k2"]


# -- key-only records: the session from the store ----------------------------------------------------


@pytest.mark.parametrize("hash_keys", [False, True])
async def test_key_only_records_read_the_memory_store(make_rig, receiver, hash_keys) -> None:
    store = MemorySessionStore(hash_keys=hash_keys)
    store.set_session("abc", session(10, limits=[50, 80]), suppress_reset=True)
    hashed = "b3dd93fa" if hash_keys else "abc"  # murmur32("abc"): docs/monitor.md#sessions-in-redis
    assert store.get_raw("apikey-" + hashed) is not None
    rig = await make_rig(monitor_conf(receiver.url()), sessions=AsyncSessionView(store), session_ttl=0.0)
    for used in (4, 5, 8, 9):  # Tyk's quota counter: quota_remaining = quota_max - used
        store.set_raw("quota-" + hashed, str(used))
        rig.feed(record(Key="abc"))
        await rig.settle()
    assert limits_sent(receiver) == ["50", "80"]
    assert b'"key": "abc"' in receiver.requests[0].body  # the raw key, as Tyk sends it
    rig.feed(record(Key="nobody"))
    await rig.settle()
    assert rig.svc.stats.rejected == {m.UNKNOWN_KEY: 1}


async def test_key_only_org_record(make_rig, receiver) -> None:
    store = MemorySessionStore()
    store.set_org_session("org1", session(2, org="org1"))
    rig = await make_rig(monitor_conf(receiver.url(), limit=80), sessions=AsyncSessionView(store))
    rig.feed(record("org_quota", OrgID="org1"), record("org_quota", OrgID="org9"), record("org_quota"))
    await rig.settle()
    assert [r.body for r in receiver.requests] == [MONITOR_TEMPLATE_BODY.replace(b'"key1"', b'""')]
    assert rig.svc.stats.rejected == {m.UNKNOWN_KEY: 1, m.MISSING_KEY: 1}


async def test_sessions_are_cached_for_session_ttl(make_rig, receiver) -> None:
    store = MemorySessionStore()
    store.set_session("key1", session(10, limits=[50]), suppress_reset=True)
    rig = await make_rig(monitor_conf(receiver.url()), sessions=AsyncSessionView(store), session_ttl=0.3)
    rig.feed(record(Key="key1"))
    await rig.settle()
    store.set_raw("quota-key1", "6")  # 60 % used, but the cached session says 0 %
    rig.feed(*[record(Key="key1") for _ in range(5)])
    await rig.settle()
    assert receiver.requests == []
    time.sleep(0.35)
    rig.feed(record(Key="key1"))
    await rig.settle()
    assert limits_sent(receiver) == ["50"]
    assert dict(rig.svc.stats.lookups) == {"store": 2, "cache": 5}


async def test_no_session_store_rejects_key_only_records(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url(), limit=80))
    rig.feed(record(Key="key1"))
    await rig.settle()
    assert rig.svc.stats.rejected == {m.UNKNOWN_KEY: 1}


# -- metrics ---------------------------------------------------------------------------------------------


class _Metrics(Collector):
    def __init__(self, svc: MonitorService) -> None:
        self.svc = svc

    def collect(self):  # type: ignore[no-untyped-def]
        return self.svc.collect()


async def test_metrics_exposition(make_rig, receiver) -> None:
    rig = await make_rig(monitor_conf(receiver.url(), limit=80))
    rig.feed(record(Key="key1", Session=session(2)), record(Key="key1", Session=b"5"))
    await rig.settle()
    reg = CollectorRegistry()
    reg.register(_Metrics(rig.svc))
    text = generate_latest(reg).decode()
    for line in (
        'tykevents_monitor_records_total{kind="quota"} 2.0',
        'tykevents_monitor_records_total{kind="org_quota"} 0.0',
        'tykevents_monitor_rejected_total{reason="bad_session"} 1.0',
        'tykevents_monitor_rejected_total{reason="monitor_unavailable"} 0.0',
        "tykevents_monitor_fired_total 1.0",
        "tykevents_monitor_sent_total 1.0",
        "tykevents_monitor_tracked_quotas 1.0",
    ):
        assert line in text.splitlines(), line
    assert "key1" not in text
