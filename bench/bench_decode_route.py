"""Decode + route per event: the daemon's per-datagram work without the socket.

    python -m pytest bench/bench_decode_route.py --benchmark-enable -q

`pipeline_*` run Pipeline.feed_datagrams on realistic single-event datagrams, 64 at a time
(what the datagram ingest hands it per recvmmsg batch); the references in the same run are a
bare msgspec decode of the same bytes into a Struct, and a dict lookup, so the figures read as
ratios.
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
