"""Decode + route per event: the daemon's per-datagram work without the socket.

    python -m pytest bench/bench_decode_route.py --benchmark-enable -q

`pipeline_*` run Pipeline.feed_datagrams on realistic single-event datagrams, 64 at a time
(what the datagram ingest hands it per recvmmsg batch); the references in the same run are a
bare msgspec decode of the same bytes into a Struct, and a dict lookup, so the figures read as
ratios. `stream_batch` feeds the same events as 64 KiB newline-delimited chunks (TCP, Unix
stream and HTTP), `quota_datagrams` quota records (their `trigger_limits` array takes the
`[` branch of tykevents.decode.needs_checks), `deep_rejected` the 2 KB record nested 1,100
levels that decode.MAX_DEPTH rejects, and `adversarial_chunk` 64 KiB nested exactly
MAX_DEPTH levels again and again: the worst a sender can make the depth scan cost.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from tykevents.config import Lanes as LaneSettings
from tykevents.deliver.base import Handler
from tykevents.model import Event
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime.metrics import Stats
from tykevents.work import Lanes

N = 1000


def datagrams(api: str) -> list[bytes]:
    out = []
    for i in range(N):
        rec = {
            "Type": ["AuthFailure", "RatelimitExceeded", "QuotaExceeded"][i % 3],
            "Meta": {
                "Message": "Key Quota Limit Exceeded",
                "OriginatingRequest": "",
                "Path": f"/api/v1/orders/{i}",
                "Origin": f"10.0.{i % 250}.7",
                "Key": f"5e9d9544a1dcd60001d0ed20a8f3c2b1{i:04d}",
            },
            "TimeStamp": "2026-11-24 20:12:27.068982699 +0000 UTC",
            "APIID": api,
            "OrgID": "5e9d9544a1dcd60001d0ed20",
        }
        out.append(json.dumps(rec, separators=(",", ":")).encode())
    return out


class Sink(Handler):
    kind = "log"

    async def handle(self, event: Event) -> None:  # pragma: no cover - never run here
        pass


@pytest.fixture
def pipeline() -> Pipeline:
    stats = Stats()
    routes = RouteTable(by_api={"api-0": {"NeverSent": (Sink("x", "bench"),)}, "api-1": {}})
    # A lane large enough that matched events are queued, never dropped, during a round.
    lanes = Lanes(LaneSettings(log_queue=10**9), stats)
    return Pipeline(routes, lanes, stats, 1 << 20)


def test_pipeline_unmatched_event(benchmark, pipeline: Pipeline) -> None:
    """Known API, no handler for the event: decode + route, the bulk of a busy gateway."""
    data = datagrams("api-0")
    feed = pipeline.feed_datagrams
    batches = [data[i : i + 64] for i in range(0, len(data), 64)]

    def run() -> None:
        for b in batches:
            feed(b, "udp")

    benchmark.extra_info["events_per_round"] = N
    benchmark(run)


def test_pipeline_unknown_api(benchmark, pipeline: Pipeline) -> None:
    data = datagrams("nope")
    feed = pipeline.feed_datagrams
    batches = [data[i : i + 64] for i in range(0, len(data), 64)]

    def run() -> None:
        for b in batches:
            feed(b, "udp")

    benchmark(run)


def test_pipeline_matched_event(benchmark, pipeline: Pipeline) -> None:
    """Routed to one handler: Event built and queued on its lane (the handler is not run)."""
    data = [d.replace(b'"AuthFailure"', b'"NeverSent"') for d in datagrams("api-0")]
    feed = pipeline.feed_datagrams
    batches = [data[i : i + 64] for i in range(0, len(data), 64)]
    lane = pipeline.lanes["log"]

    def run() -> None:
        for b in batches:
            feed(b, "udp")
        lane._items.clear()

    benchmark(run)


class Rec(msgspec.Struct):
    Type: str = ""
    Meta: msgspec.Raw = None  # type: ignore[assignment]
    TimeStamp: str = ""
    APIID: str = ""
    OrgID: str = ""


def test_reference_bare_msgspec_decode(benchmark) -> None:
    """Reference: msgspec decode of the same bytes into a Struct, nothing else."""
    data = datagrams("api-0")
    dec = msgspec.json.Decoder(Rec).decode

    def run() -> None:
        for d in data:
            dec(d)

    benchmark(run)


def quota_datagrams() -> list[bytes]:
    out = []
    for i in range(N):
        rec = {
            "Kind": "quota",
            "Key": f"5e9d9544a1dcd60001d0ed20a8f3c2b1{i:04d}",
            "Session": {
                "org_id": "5e9d9544a1dcd60001d0ed20",
                "quota_max": 1000,
                "quota_remaining": 1000 - i % 1000,
                "quota_renews": 1767225600,
                "quota_renewal_rate": 3600,
                "monitor": {"trigger_limits": [80, 60, 50]},
            },
        }
        out.append(json.dumps(rec, separators=(",", ":")).encode())
    return out


def test_pipeline_stream_batch(benchmark, pipeline: Pipeline) -> None:
    """The same events as newline-delimited 64 KiB chunks, as a stream or HTTP body feeds them."""
    data = datagrams("api-0")
    chunks: list[bytes] = []
    cur: list[bytes] = []
    for d in data:
        cur.append(d)
        if sum(map(len, cur)) + len(cur) > 65536 - 512:
            chunks.append(b"\n".join(cur) + b"\n")
            cur = []
    chunks.append(b"\n".join(cur) + b"\n")
    feed = pipeline.feed

    def run() -> None:
        for c in chunks:
            feed(c, "tcp", lossless=True)

    benchmark(run)


def test_pipeline_quota_datagrams(benchmark, pipeline: Pipeline) -> None:
    """Quota records to a sink that takes them (the monitor's own work is not measured)."""
    data = quota_datagrams()
    pipeline.quota_sink = lambda rec: True
    feed = pipeline.feed_datagrams
    batches = [data[i : i + 64] for i in range(0, len(data), 64)]

    def run() -> None:
        for b in batches:
            feed(b, "udp")

    benchmark(run)


def test_pipeline_deep_rejected(benchmark, pipeline: Pipeline) -> None:
    """N records nested 1,100 levels deep (2 KB each), every one rejected as too_deep."""
    deep = b'{"Type":"AuthFailure","APIID":"api-0","Meta":' + b"[" * 1100 + b"]" * 1100 + b"}"
    batches = [[deep] * 64 for _ in range(N // 64)]
    feed = pipeline.feed_datagrams

    def run() -> None:
        for b in batches:
            feed(b, "udp")

    benchmark(run)
    assert pipeline.stats.rejected["too_deep"] >= N // 64 * 64


def test_pipeline_adversarial_chunk(benchmark, pipeline: Pipeline) -> None:
    """One 64 KiB record nested exactly MAX_DEPTH levels, ~250 times over: every cheap bound
    fails, the scan runs to the end, and the record is valid (so it is decoded too)."""
    from tykevents.decode import MAX_DEPTH

    nest = b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2)  # inside {"Meta":[ ... ]}
    body = b",".join([nest] * (65000 // (len(nest) + 1)))
    rec = b'{"Type":"AuthFailure","APIID":"api-0","Meta":[' + body + b"]}"
    feed = pipeline.feed

    def run() -> None:
        feed(rec, "tcp", lossless=True)

    benchmark(run)
    assert pipeline.stats.rejected == {}
