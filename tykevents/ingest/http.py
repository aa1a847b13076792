"""HTTP: POST /events takes a batch (newline-delimited records, or a JSON array of them);
GET /health and GET /metrics serve operators. Batches are lossless: the response is sent
once every handler call of the batch is queued, so a client that gets 202 lost nothing."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")


def make_app(
    get_pipeline: Callable[[], "Pipeline"],
    registry: "CollectorRegistry",
    health: Callable[[], tuple[bool, dict[str, Any]]],
    max_body: int,
) -> web.Application:
    app = web.Application(client_max_size=max_body)

    async def post_events(request: web.Request) -> web.Response:
        pipeline = get_pipeline()
        body = await request.read()
        if body[:1] == b"[":  # a JSON array of records: re-frame as lines
            try:
                items = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                pipeline.reject("malformed_json", f"HTTP batch: {e}")
                return web.json_response({"error": f"malformed JSON array: {e}"}, status=400)
            body = b"\n".join(orjson.dumps(i) for i in items)
        before_rej = sum(pipeline.stats.rejected.values())
        before_rec = pipeline.stats.records
        parked = pipeline.feed(body, "http", lossless=True)
        if parked:
            await pipeline.put_parked(parked)
        return web.json_response(
            {
                "records": pipeline.stats.records - before_rec,
                "rejected": sum(pipeline.stats.rejected.values()) - before_rej,
            },
            status=202,
        )

    async def get_health(request: web.Request) -> web.Response:
        ok, detail = health()
        return web.json_response(detail, status=200 if ok else 503)

    async def get_metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/events", post_events)
    app.router.add_get("/health", get_health)
    app.router.add_get("/metrics", get_metrics)
    return app
