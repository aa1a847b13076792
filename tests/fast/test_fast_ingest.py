"""The ingest loop, on both twins, inside a real Pipeline: the same counters, rejects, events
and parked calls from the same bytes, however they are cut into datagrams, chunks and reads."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.handlers import Recorder
from tests.fast.conftest import TWINS, load_twin
from tykevents.config import Lanes as LaneSettings
from tykevents.decode import MAX_DEPTH, SHALLOW, decode, decode_checked, decode_one, failure
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime.metrics import Stats
from tykevents.work import Lanes

MAX_RECORD = 600


@pytest.fixture(params=TWINS)
def ingest_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_twin("ingest", request.param)


def make(mod: ModuleType, size: int = 1000) -> tuple[Pipeline, Stats, list[Recorder]]:
    stats = Stats()
    lanes = Lanes(LaneSettings(log_queue=size, webhook_queue=size, js_queue=size, monitor_queue=size), stats)
    log, hook, glob = Recorder("log"), Recorder("hook", kind="webhook"), Recorder("global")
    routes = RouteTable(
        by_api={
            "": {"TokenCreated": (glob,)},
            "api1": {"AuthFailure": (log, hook), "KeyExpired": ()},
            "api2": {},
        }
    )
    p = Pipeline(routes, lanes, stats, MAX_RECORD)
    p.quota_sink = lambda rec: True
    p._loop = mod.IngestLoop(p, decode, decode_one, decode_checked, failure, SHALLOW, RouteTable.lookup)
    return p, stats, [log, hook, glob]


def line(**kw: Any) -> bytes:
    return orjson.dumps(kw)


# Every kind of line the loop tells apart.
LINES = [
    line(Type="AuthFailure", APIID="api1", TimeStamp="t1", Meta={"Key": "k"}),
    line(Type="AuthFailure", APIID="nope"),
    line(Type="KeyExpired", APIID="api1", TimeStamp="t2"),
    line(Type="AuthFailure", APIID="api2"),
    line(Type="TokenCreated", TimeStamp="t3"),
    line(message={"Type": "AuthFailure", "TimeStamp": "t4"}, spec={"APIID": "api1"}),
    line(Kind="quota", Key="k", Session={"quota_max": 1, "monitor": {"trigger_limits": [80, 50]}}),
    line(Kind="nonsense"),
    line(Meta={}),
    line(Type="AuthFailure", APIID="api1", TimeStamp="t5", Meta=[[1, 2], {"a": [3]}]),
    line(Type="AuthFailure", APIID="api1", TimeStamp="t6", Meta={"é": "ü"}),
    b'{"Type":"A","Meta":{"x":"\xff"}}',
    b"\xff\xfe",
    b"{oops",
    b'{"Type": 5}',
    b'{"Type":"AuthFailure","APIID":"api1","Meta":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
    b'{"Type":"' + b"x" * MAX_RECORD + b'"}',  # oversized
    b" " * (MAX_RECORD + 1),  # oversized even though blank
    b"",
    b"  \t\r",
    line(Type="AuthFailure", APIID="api1", TimeStamp="t7") + b"\r",
]


def outcome(p: Pipeline, stats: Stats, handlers: list[Recorder]) -> dict[str, Any]:
    lanes = p.lanes
    queued = {
        k: [(r.name, e.type, e.api_id, e.timestamp) for r, e in lanes[k]._items] for k in ("log", "webhook")
    }
    return {
        "stats": stats.snapshot(),
        "bytes": dict(stats.bytes_in),
        "quota": stats.quota_records,
        "queued": queued,
    }


def run_chunks(mod: ModuleType, chunks: list[bytes], lossless: bool) -> tuple[dict[str, Any], list[Any]]:
    p, stats, hs = make(mod, size=3)
    parked: list[Any] = []
    for c in chunks:
        parked += [(h.name, e.type, e.timestamp) for h, e in p.feed(c, "tcp", lossless=lossless)]
    return outcome(p, stats, hs), parked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(range(len(LINES))), max_size=12), st.booleans(), st.data())
def test_twins_agree_on_any_mix(ingest_mod: ModuleType, picks: list[int], lossless: bool, data: Any) -> None:
    body = b"\n".join(LINES[i] for i in picks)
    ref = run_chunks(load_twin("ingest", "py"), [body], lossless)
    assert run_chunks(ingest_mod, [body], lossless) == ref
    # The same bytes as a recvmmsg batch of one datagram each: the same records, counted per datagram.
    p, stats, hs = make(ingest_mod, size=3)
    p.feed_datagrams([LINES[i] for i in picks], "udp")
    q, qstats, qhs = make(load_twin("ingest", "py"), size=3)
    for i in picks:
        q.feed(LINES[i], "udp")
    assert outcome(p, stats, hs) == outcome(q, qstats, qhs)
    # A stream read that completes a line begun by an earlier one: parts(head, data, end)
    # is chunk(head + data[:end]), one chunk.
    if b"\n" in body:
        cut = data.draw(st.integers(0, body.index(b"\n")))
        end = data.draw(st.integers(body.index(b"\n") + 1, len(body)))
        head, rest = body[:cut], body[cut:] + b"tail"
        p, stats, hs = make(ingest_mod, size=3)
        got = p._loop.parts(head, rest, end - cut, "tcp", lossless)
        want = run_chunks(load_twin("ingest", "py"), [body[:end]], lossless)
        assert (outcome(p, stats, hs), [(h.name, e.type, e.timestamp) for h, e in got]) == want


def test_counters_and_routes(ingest_mod: ModuleType) -> None:
    p, stats, (log, hook, glob) = make(ingest_mod)
    body = b"\n".join(LINES) + b"\n"
    assert p.feed(body, "unix_stream", lossless=True) == []
    assert stats.datagrams["unix_stream"] == 1 and stats.bytes_in["unix_stream"] == len(body)
    assert (stats.records, stats.events, stats.quota_records) == (12, 9, 1)
    assert (stats.unknown_api, stats.no_handler, stats.routed) == (1, 2, 6)
    assert dict(stats.rejected) == {
        "unknown_kind": 1,
        "missing_type": 1,
        "invalid_utf8": 1,
        "malformed_json": 2,
        "invalid_record": 1,
        "too_deep": 1,
        "oversized": 2,
    }
    queued = [(r.name, e.timestamp) for r, e in p.lanes["log"]._items]
    assert queued == [
        ("log", "t1"),
        ("global", "t3"),
        ("log", "t4"),
        ("log", "t5"),
        ("log", "t6"),
        ("log", "t7"),
    ]


def test_parts_counts_one_chunk_and_checks_end(ingest_mod: ModuleType) -> None:
    p, stats, _ = make(ingest_mod)
    a, b = LINES[0], LINES[2]
    p._loop.parts(a[:10], a[10:] + b"\n" + b + b"\n" + b'{"Type":', len(a) - 10 + len(b) + 2, "tcp")
    assert stats.datagrams["tcp"] == 1 and stats.bytes_in["tcp"] == len(a) + len(b) + 2
    assert (stats.events, stats.routed, stats.no_handler) == (2, 1, 1)
    for end in (-1, 5):
        with pytest.raises(ValueError):
            p._loop.parts(b"", b"abc", end, "tcp")


def test_lossless_parks_in_order_and_lossy_drops(ingest_mod: ModuleType) -> None:
    p, stats, _ = make(ingest_mod, size=2)
    rec = [line(Type="AuthFailure", APIID="api1", TimeStamp=str(i)) for i in range(5)]
    parked = p.feed(b"\n".join(rec), "tcp", lossless=True)
    assert [(h.name, e.timestamp) for h, e in parked] == [
        ("log", "2"),
        ("hook", "2"),
        ("log", "3"),
        ("hook", "3"),
        ("log", "4"),
        ("hook", "4"),
    ]
    p2, stats2, _ = make(ingest_mod, size=2)
    p2.feed_datagrams(rec, "udp")
    assert stats2.dropped == {"log": 3, "webhook": 3} and stats.dropped == {}


def test_a_replaced_lookup_is_used_and_a_bug_costs_one_record(ingest_mod: ModuleType, caplog) -> None:
    p, stats, _ = make(ingest_mod)
    real = p.routes.lookup
    seen: list[str] = []

    def lookup(api_id: str, typ: str) -> Any:
        seen.append(api_id)
        if api_id == "bug":
            raise KeyError("a bug")
        return real(api_id, typ)

    p.routes.lookup = lookup  # type: ignore[method-assign]
    ok = line(Type="AuthFailure", APIID="api1")
    with caplog.at_level(logging.ERROR, logger="tykevents.ingest"):
        p.feed_datagrams([ok, line(Type="AuthFailure", APIID="bug"), ok], "udp")
    assert seen == ["api1", "bug", "api1"]
    assert stats.rejected == {"internal_error": 1} and (stats.records, stats.events, stats.routed) == (
        3,
        3,
        2,
    )
    assert "KeyError: 'a bug'" in caplog.text


def test_a_new_route_table_is_read_on_the_next_call(ingest_mod: ModuleType) -> None:
    p, stats, _ = make(ingest_mod)
    ev = line(Type="AuthFailure", APIID="api9")
    p.feed_datagrams([ev], "udp")
    p.routes = RouteTable(by_api={"api9": {"AuthFailure": (Recorder("new"),)}})
    p.feed_datagrams([ev], "udp")
    assert (stats.unknown_api, stats.routed) == (1, 1)


def test_other_record_types_are_read_by_name(ingest_mod: ModuleType) -> None:
    # A decoder that gives another type after msgspec Records: the compiled twin's slot reads
    # are for the type they were learnt on only.
    class Rec:
        def __init__(self, typ: str, api: str) -> None:
            self.Type, self.APIID, self.Meta, self.TimeStamp, self.OrgID = typ, api, None, "ts", "o"

    def dec(b: bytes) -> Any:
        return decode_one(b) if b.startswith(b"{") else Rec(*b.decode().split(","))

    p, stats, _ = make(ingest_mod)
    p._loop = ingest_mod.IngestLoop(p, decode, dec, decode_checked, failure, SHALLOW, RouteTable.lookup)
    p.feed_datagrams([line(Type="AuthFailure", APIID="api1"), b"AuthFailure,api1", b"KeyExpired,api1"], "udp")
    p.feed_datagrams([line(Type="KeyExpired", APIID="api2")], "udp")
    assert (stats.events, stats.routed, stats.no_handler) == (4, 2, 2)


def test_a_decoder_failure_costs_its_record_and_an_interrupt_goes_through(ingest_mod: ModuleType) -> None:
    # The compiled twin calls the decoder through the C API, with no exception frame on the
    # common path: an Exception from it still costs only its record (internal_error, as
    # decode.failure names it), and what is not an Exception is not swallowed.
    def dec(b: bytes) -> Any:
        if b == b"{boom}":
            raise RuntimeError("a decoder bug")
        if b == b"{stop}":
            raise KeyboardInterrupt
        return decode_one(b)

    p, stats, _ = make(ingest_mod)
    p._loop = ingest_mod.IngestLoop(p, decode, dec, decode_checked, failure, SHALLOW, RouteTable.lookup)
    ok = line(Type="AuthFailure", APIID="api1")
    p.feed_datagrams([ok, b"{boom}", ok], "udp")
    assert stats.rejected == {"internal_error": 1} and (stats.records, stats.routed) == (2, 2)
    with pytest.raises(KeyboardInterrupt):
        p.feed_datagrams([ok, b"{stop}", ok], "udp")
    assert stats.routed == 3


def test_a_record_of_a_strange_class_costs_only_itself(ingest_mod: ModuleType) -> None:
    # The compiled twin learns where a record class keeps Type and APIID; a class that will
    # not say (its __dict__ raises) is read by name, and its neighbours still run. An APIID
    # that cannot be hashed is its record's failure; an interrupt from its __hash__ goes through.
    class Meta(type):
        @property
        def __dict__(cls) -> Any:
            raise RuntimeError("no dict")

    class Odd(metaclass=Meta):
        def __init__(self, api: object = "api1") -> None:
            self.Type, self.APIID, self.Meta, self.TimeStamp, self.OrgID = "KeyExpired", api, None, "t", ""

    class Interrupting:
        def __hash__(self) -> int:
            raise KeyboardInterrupt

    def dec(b: bytes) -> Any:
        return {b"odd": Odd(), b"list": Odd([1]), b"stop": Odd(Interrupting())}.get(b) or decode_one(b)

    p, stats, _ = make(ingest_mod)
    p._loop = ingest_mod.IngestLoop(p, decode, dec, decode_checked, failure, SHALLOW, RouteTable.lookup)
    ok = line(Type="KeyExpired", APIID="api1")
    p.feed_datagrams([ok, b"odd", b"list", ok], "udp")
    assert (stats.records, stats.no_handler, stats.unknown_api) == (4, 3, 0)
    assert stats.rejected == {"internal_error": 1}
    with pytest.raises(KeyboardInterrupt):
        p.feed_datagrams([b"stop", ok], "udp")
