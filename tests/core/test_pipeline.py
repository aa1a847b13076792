"""Pipeline: bytes -> records -> routed handler calls, with every outcome counted."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import orjson

from tykevents.config import Lanes as LaneSettings
from tykevents.decode import BAD_UTF8, INTERNAL, MALFORMED, MISSING_TYPE, OVERSIZED, TOO_DEEP, UNKNOWN_KIND
from tykevents.ingest.stream import open_tcp
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime.metrics import Stats
from tykevents.work import Lanes

from .handlers import Recorder


def make(size: int = 100, max_record: int = 4096, routes: dict | None = None):
    stats = Stats()
    lanes = Lanes(LaneSettings(log_queue=size, webhook_queue=size, js_queue=size, monitor_queue=size), stats)
    rec = Recorder("log1")
    hook = Recorder("hook1", kind="webhook")
    table = RouteTable(
        by_api=routes
        if routes is not None
        else {
            "": {"TokenCreated": (rec,)},
            "api1": {"AuthFailure": (rec, hook), "KeyExpired": ()},
            "api2": {},
        }
    )
    return Pipeline(table, lanes, stats, max_record), stats, lanes, rec, hook


def line(**kw) -> bytes:
    return orjson.dumps(kw)


async def run(lanes: Lanes) -> None:
    lanes.start()
    assert await lanes.drain(time.monotonic() + 2)
    await lanes.stop()


async def test_routing_counters():
    p, stats, lanes, rec, hook = make()
    data = b"\n".join(
        [
            line(Type="AuthFailure", APIID="api1", OrgID="o", TimeStamp="ts", Meta={"Key": "k"}),
            line(Type="AuthFailure", APIID="nope"),  # unknown API
            line(Type="KeyExpired", APIID="api1"),  # known, no handler
            line(Type="AuthFailure", APIID="api2"),
            line(Type="TokenCreated", Meta={"Key": "k", "Org": "o"}),  # system event: global handlers
            b"{oops",
            line(Meta={}),  # no Type
            line(Kind="nonsense"),
        ]
    )
    assert p.feed(data, "udp") == []
    assert stats.datagrams["udp"] == 1 and stats.bytes_in["udp"] == len(data)
    assert stats.records == 7 and stats.events == 5
    assert (stats.unknown_api, stats.no_handler, stats.routed) == (1, 2, 2)
    assert dict(stats.rejected) == {MALFORMED: 1, MISSING_TYPE: 1, UNKNOWN_KIND: 1}
    assert stats.enqueued == {"log": 2, "webhook": 1}
    await run(lanes)
    assert [(e.type, e.api_id) for e in rec.events] == [("AuthFailure", "api1"), ("TokenCreated", "")]
    assert hook.events[0] is rec.events[0]  # one Event shared by the handlers of one record
    e = rec.events[0]
    assert (e.org_id, e.timestamp, e.meta()) == ("o", "ts", {"Key": "k"})
    assert e.message_json() == b'{"Type":"AuthFailure","Meta":{"Key":"k"},"TimeStamp":"ts"}'


async def test_coprocess_envelope_is_accepted_as_is():
    p, stats, lanes, rec, _ = make()
    env = {
        "message": {"Type": "AuthFailure", "Meta": {"Message": "m", "Key": "k"}, "TimeStamp": "ts"},
        "spec": {"APIID": "api1", "OrgID": "org1"},
    }
    p.feed(json.dumps(env).encode(), "unix_dgram")
    # An envelope without spec is a system event (coprocess TykTriggerEvent).
    p.feed(json.dumps({"message": {"Type": "TokenCreated", "TimeStamp": "t2"}}).encode(), "unix_dgram")
    await run(lanes)
    assert stats.rejected == {} and stats.routed == 2
    a, b = rec.events
    assert (a.type, a.api_id, a.org_id, a.timestamp, a.meta()) == (
        "AuthFailure",
        "api1",
        "org1",
        "ts",
        {"Message": "m", "Key": "k"},
    )
    assert (b.type, b.api_id, b.meta_raw) == ("TokenCreated", "", None)
    assert b.message_json() == b'{"Type":"TokenCreated","Meta":null,"TimeStamp":"t2"}'


async def test_missing_timestamp_is_stamped_like_go_time_string():
    p, _, lanes, rec, _ = make()
    p.feed(line(Type="AuthFailure", APIID="api1"), "udp")
    await run(lanes)
    ts = rec.events[0].timestamp
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? [+-]\d{4} \S+", ts), ts
    assert " m=" not in ts


async def test_quota_record_without_monitor_is_counted_not_rejected(caplog):
    p, stats, _, _, _ = make()
    with caplog.at_level(logging.INFO, logger="tykevents.ingest"):
        p.feed(line(Kind="quota", Key="k", Session={"quota_max": 1}), "udp")
        p.feed(line(Kind="quota", Key="k2"), "udp")
    assert stats.quota_records == 2 and stats.rejected == {} and stats.events == 0
    assert caplog.text.count("monitor is not enabled") == 1  # rate-limited


def test_quota_records_go_to_the_monitor_sink():
    p, stats, _, _, _ = make()
    got = []
    p.quota_sink = lambda rec: got.append(rec) or True
    p.feed(line(Kind="quota", Key="k"), "tcp")
    assert [r.Key for r in got] == ["k"] and stats.quota_records == 1


def test_oversized_single_record_is_rejected():
    p, stats, lanes, _, _ = make(max_record=64)
    big = line(Type="AuthFailure", APIID="api1", Meta={"Message": "x" * 100})
    assert p.feed(big, "udp") == []
    assert stats.rejected == {OVERSIZED: 1} and stats.records == 0 and len(lanes["log"]) == 0


def test_datagram_overload_drops_and_counts():
    p, stats, lanes, _, _ = make(size=2)
    rec = line(Type="AuthFailure", APIID="api1")
    for _ in range(3):
        assert p.feed(rec, "udp") == []
    assert stats.enqueued == {"log": 2, "webhook": 2}
    assert stats.dropped == {"log": 1, "webhook": 1}
    assert len(lanes["log"]) == 2


async def test_lossless_transports_park_and_lose_nothing():
    p, stats, lanes, rec, hook = make(size=2)
    batch = b"\n".join(line(Type="AuthFailure", APIID="api1", TimeStamp=str(i)) for i in range(5))
    parked = p.feed(batch, "unix_stream", lossless=True)
    assert len(parked) == 6 and stats.dropped == {}
    assert [(h.name, e.timestamp) for h, e in parked[:3]] == [("log1", "2"), ("hook1", "2"), ("log1", "3")]
    lanes.start()
    await p.put_parked(parked)
    assert await lanes.drain(time.monotonic() + 2)
    await lanes.stop()
    assert [e.timestamp for e in rec.events] == ["0", "1", "2", "3", "4"]
    assert [e.timestamp for e in hook.events] == ["0", "1", "2", "3", "4"]


def test_routes_are_swapped_as_a_whole():
    p, stats, _, _, _ = make()
    p.routes = RouteTable(by_api={"api9": {"AuthFailure": (Recorder(),)}})
    p.feed(line(Type="AuthFailure", APIID="api1"), "http")
    p.feed(line(Type="AuthFailure", APIID="api9"), "http")
    assert stats.unknown_api == 1 and stats.routed == 1


def test_bad_input_never_raises():
    p, stats, _, _, _ = make()
    for data in (b"", b"\x00\xff", b"[]\n{}\n\n", b'{"Type":null}', b'{"message":{"Type":5}}', b"1e999"):
        p.feed(data, "udp")
    assert sum(stats.rejected.values()) >= 5


# -- one bad record costs only itself, on every path --------------------------------------

DEEP = b'{"Type":"AuthFailure","APIID":"api1","Meta":' + b"[" * 1100 + b"]" * 1100 + b"}"


def offered_accounted(stats: Stats) -> int:
    """The pipeline's accounting: every record offered is an event, a quota record or a reject
    (META_TYPE aside: a handler's verdict on an event already counted)."""
    rejects = sum(n for reason, n in stats.rejected.items() if reason != "meta_type")
    return stats.events + stats.quota_records + rejects


async def test_a_deep_record_in_a_recvmmsg_batch_loses_no_neighbour():
    p, stats, lanes, rec, _ = make(max_record=1 << 20)
    batch = [line(Type="AuthFailure", APIID="api1", TimeStamp=str(i)) for i in range(10)]
    batch[5:5] = [DEEP, b"\xff\xfe", line(Kind="quota", Key="k"), b'{"Type":"A","Meta":{"x":"\xff"}}']
    p.feed_datagrams(batch, "udp")
    await run(lanes)
    assert [e.timestamp for e in rec.events] == [str(i) for i in range(10)]
    assert dict(stats.rejected) == {TOO_DEEP: 1, MALFORMED: 1, BAD_UTF8: 1}
    assert stats.datagrams["udp"] == 14 and offered_accounted(stats) == 14


async def test_a_deep_record_in_a_stream_chunk_loses_no_neighbour():
    p, stats, lanes, rec, _ = make(size=1000, max_record=1 << 20)
    lines = [line(Type="AuthFailure", APIID="api1", TimeStamp=str(i)) for i in range(10)]
    lines.insert(3, DEEP)
    lines.insert(7, b'{"Type":' + b'{"k":' * 200 + b"1" + b"}" * 201)
    assert p.feed(b"\n".join(lines) + b"\n", "tcp", lossless=True) == []
    await run(lanes)
    assert [e.timestamp for e in rec.events] == [str(i) for i in range(10)]
    assert dict(stats.rejected) == {TOO_DEEP: 2} and offered_accounted(stats) == 12


async def test_a_bug_while_routing_one_record_costs_that_record_only(caplog):
    p, stats, lanes, rec, _ = make()
    real = p.routes.lookup

    def lookup(api_id, typ):
        if api_id == "bug":
            raise KeyError("a bug")
        return real(api_id, typ)

    p.routes.lookup = lookup  # type: ignore[method-assign]
    ok = line(Type="AuthFailure", APIID="api1")
    with caplog.at_level(logging.ERROR, logger="tykevents.ingest"):
        p.feed_datagrams([ok, line(Type="AuthFailure", APIID="bug"), ok], "udp")
        p.feed(b"\n".join([ok, line(Type="AuthFailure", APIID="bug"), ok]), "tcp", lossless=True)
    await run(lanes)
    assert len(rec.events) == 4 and stats.rejected == {INTERNAL: 2}
    assert "KeyError: 'a bug'" in caplog.text  # with its traceback, rate-limited


def test_oversized_lines_in_a_chunk_cost_only_themselves():
    p, stats, _, _, _ = make(max_record=256)
    ok = line(Type="AuthFailure", APIID="api1")
    p.feed(b"\n".join([ok, b'{"Type":"' + b"x" * 300 + b'"}', ok]), "http", lossless=True)
    assert stats.rejected == {OVERSIZED: 1} and stats.events == 2 and offered_accounted(stats) == 3


async def test_stream_lines_cut_anywhere_are_read_whole():
    """StreamIngest over real TCP: lines cut across reads at every place, an oversized line
    across reads (discarded to its newline), and a last line without its newline."""

    p, stats, lanes, rec, _ = make(size=1000, max_record=256)
    ok = [line(Type="AuthFailure", APIID="api1", TimeStamp=str(i)) for i in range(6)]
    big = b'{"Type":"' + b"x" * 600 + b'"}'
    data = b"\n".join([ok[0], ok[1], big, ok[2], b"", ok[3], b"{oops", ok[4]]) + b"\n" + ok[5]
    server = await open_tcp(p, ("127.0.0.1", 0), set(), set())
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(0, len(data), 37):  # pieces that cut lines, and the oversized one, anywhere
        writer.write(data[i : i + 37])
        await writer.drain()
        await asyncio.sleep(0.002)
    writer.close()
    await writer.wait_closed()
    deadline = time.monotonic() + 5
    while stats.events < 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    server.close()
    await run(lanes)
    assert [e.timestamp for e in rec.events] == [str(i) for i in range(6)]
    assert dict(stats.rejected) == {OVERSIZED: 1, MALFORMED: 1}
