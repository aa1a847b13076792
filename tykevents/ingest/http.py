"""HTTP: POST /events takes a batch (newline-delimited records, or a JSON array of them);
GET /health and GET /metrics serve operators. Batches are lossless: the response is sent
once every handler call of the batch is queued, so a client that gets 202 lost nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")

SLICE_BYTES = 256 << 10  # bodies above this are fed in slices of SLICE_LINES records
SLICE_LINES = 1000


def make_app(
    get_pipeline: Callable[[], Pipeline],
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    max_body: int,
    accepting: Callable[[], bool] = lambda: True,
) -> web.Application:
    app = web.Application(client_max_size=max_body)

    async def post_events(request: web.Request) -> web.Response:
        if not accepting():  # draining: a 202 must mean the records will be handled
            return web.json_response({"error": "not accepting events (starting or draining)"}, status=503)
        pipeline = get_pipeline()
        body = await request.read()
        if body[:1] == b"[":  # a JSON array of records: re-frame as lines
            try:
                items = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                pipeline.reject("malformed_json", f"HTTP batch: {e}")
                return web.json_response({"error": f"malformed JSON array: {e}"}, status=400)
            if not isinstance(items, list):
                return web.json_response({"error": "expected a JSON array of records"}, status=400)
            body = b"\n".join(orjson.dumps(i) for i in items)
        stats = pipeline.stats
        stats.datagrams["http"] += 1
        stats.bytes_in["http"] += len(body)
        records = rejected = 0
        # A big batch is fed a slice at a time, so that datagram ingest keeps its turn.
        lines = body.split(b"\n") if len(body) > SLICE_BYTES else [body]
        step = SLICE_LINES if len(lines) > 1 else 1
        for i in range(0, len(lines), step):
            chunk = b"\n".join(lines[i : i + step]) if step > 1 else lines[i]
            before_rec, before_rej = stats.records, sum(stats.rejected.values())
            parked = pipeline.feed(chunk, "http", lossless=True, count=False)
            records += stats.records - before_rec
            rejected += sum(stats.rejected.values()) - before_rej
            if parked:
                await pipeline.put_parked(parked)
            elif step > 1:
                await asyncio.sleep(0)
        return web.json_response({"records": records, "rejected": rejected}, status=202)

    async def get_health(request: web.Request) -> web.Response:
        ok, detail = health()
        return web.json_response(detail, status=200 if ok else 503)

    async def get_metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/events", post_events)
    app.router.add_get("/health", get_health)
    app.router.add_get("/metrics", get_metrics)
    return app
