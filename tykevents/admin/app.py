"""The admin listener's aiohttp application: JSON routes under /api/ and the console at /.

Every /api/ request needs tyk.conf's `secret` in x-tyk-authorization (auth.py); the console
page itself needs none, its calls do. Answers are redacted (redact.py) unless the request
asks `?reveal=1` and `admin.allow_secrets` is true. The delivery log, dead-letter replay and
endpoint health belong to the webhook service (deliver/webhook/); a route whose part is
missing or turned off answers 503. Routes and shapes: docs/operations.md#admin-api.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from tykevents.admin import views
from tykevents.admin.auth import refuse
from tykevents.admin.redact import redact_record
from tykevents.deliver.webhook.deliverylog import DeliveryFilter, letter_view

if TYPE_CHECKING:
    from tykevents.admin.target import AdminTarget
    from tykevents.ingest.http import HttpCounters

logger = logging.getLogger("tykevents.admin")

CONSOLE = Path(__file__).with_name("console.html")
MAX_BODY = 1 << 20
MAX_LIMIT = 10000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def unavailable(why: str = "not available") -> web.Response:
    return json_response({"error": why}, 503)


class AdminRoutes:
    def __init__(self, target: AdminTarget, secret: str, counters: HttpCounters) -> None:
        self.target = target
        self.want = secret.encode()
        self.counters = counters

    # -- plumbing -----------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/") or request.path == "/api":
            refused = refuse(request, self.want, self.counters)
            if refused is not None:
                return refused
        return await handler(request)

    def reveal(self, request: web.Request) -> bool:
        gen = self.target.gen
        allowed = gen is not None and gen.config.tykevents.admin.allow_secrets
        return allowed and request.query.get("reveal") == "1"

    def shown(self, request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return items if self.reveal(request) else [redact_record(i) for i in items]

    def service(self) -> Any:
        return self.target.webhooks

    @staticmethod
    def parse_filter(query: Mapping[str, Any]) -> DeliveryFilter:
        """ValueError on a bad value or an unknown key: a misspelled filter must not widen a
        purge to everything."""
        return DeliveryFilter.from_query(query)

    @staticmethod
    def limit(request: web.Request) -> int:
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ValueError(f"limit: expected 1..{MAX_LIMIT}, got {raw!r}")
        return int(raw)

    # -- routes -------------------------------------------------------------------------------
    async def console(self, request: web.Request) -> web.StreamResponse:
        try:
            page = CONSOLE.read_bytes()
        except OSError:
            return web.Response(status=404, text="no console in this build\n")
        return web.Response(
            body=page,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def status(self, request: web.Request) -> web.StreamResponse:
        return json_response(views.status(self.target))

    async def apis(self, request: web.Request) -> web.StreamResponse:
        body = views.apis(self.target.gen)
        if not self.reveal(request):
            body["apis"] = [
                {**a, "handlers": [redact_record(h) for h in a["handlers"]]} for a in body["apis"]
            ]
            body["problems"] = [redact_record(p) for p in body["problems"]]
        return json_response(body)

    async def reload(self, request: web.Request) -> web.StreamResponse:
        error = await self.target.try_reload()
        gen = self.target.gen
        body: dict[str, Any] = {"ok": error is None, "generation": gen.number if gen else 0}
        if error is not None:
            body["error"] = error
        return json_response(body)

    async def deliveries(self, request: web.Request) -> web.StreamResponse:
        log = getattr(self.service(), "log", None)
        if log is None:
            return unavailable(self._log_why())
        try:
            f, limit = self.parse_filter(request.query), self.limit(request)
        except ValueError as e:
            return json_response({"error": str(e)}, 400)
        return json_response({"deliveries": self.shown(request, await log.query(f, limit))})

    async def delivery(self, request: web.Request) -> web.StreamResponse:
        log = getattr(self.service(), "log", None)
        if log is None:
            return unavailable(self._log_why())
        rec = await log.get(request.match_info["id"])
        if rec is None:
            return json_response({"error": "no such delivery"}, 404)
        return json_response(self.shown(request, [rec])[0])

    def _log_why(self) -> str:
        svc = self.service()
        if svc is not None and hasattr(svc, "log"):
            return "the delivery log is off (tykevents.webhooks.log.enabled)"
        return "not available"

    async def dead_letters(self, request: web.Request) -> web.StreamResponse:
        svc = self.service()
        if svc is None:
            return unavailable()
        try:
            f, limit = self.parse_filter(request.query), self.limit(request)
        except ValueError as e:
            return json_response({"error": str(e)}, 400)
        stores = [s for s in (svc.dead_letters, svc.fallback_letters) if s is not None]
        items = [letter_view(r) for s in stores for r in await s.list()]
        items = [i for i in items if f.match(i)]
        items.sort(key=lambda i: i["created"] or 0, reverse=True)
        return json_response({"dead_letters": self.shown(request, items[:limit])})

    async def _chosen(self, request: web.Request) -> dict[str, Any]:
        """The ids or the filter a replay or purge body names, as keyword arguments of the
        service's replay_dead_letters / purge_dead_letters; ValueError if neither."""
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as e:
            raise ValueError(f"malformed JSON: {e}") from None
        if not isinstance(body, dict):
            raise ValueError('expected {"ids": [...]} or {"filter": {...}}')
        ids, flt = body.get("ids"), body.get("filter")
        if ids is not None and flt is None:
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError("ids: expected a list of strings")
            return {"ids": ids}
        if flt is not None and ids is None:
            if not isinstance(flt, dict):
                raise ValueError("filter: expected an object")
            return {"filter": self.parse_filter(flt)}
        raise ValueError('expected {"ids": [...]} or {"filter": {...}}')

    async def _batch(self, request: web.Request, method: str, key: str) -> web.StreamResponse:
        act = getattr(self.service(), method, None)
        if act is None:
            return unavailable()
        try:
            chosen = await self._chosen(request)
        except ValueError as e:
            return json_response({"error": str(e)}, 400)
        return json_response({key: await act(**chosen)})

    async def replay(self, request: web.Request) -> web.StreamResponse:
        return await self._batch(request, "replay_dead_letters", "replayed")

    async def purge(self, request: web.Request) -> web.StreamResponse:
        return await self._batch(request, "purge_dead_letters", "purged")

    async def endpoints(self, request: web.Request) -> web.StreamResponse:
        health = getattr(self.service(), "endpoints", None)
        if health is None:
            return unavailable()
        return json_response({"endpoints": self.shown(request, list(health.snapshot()))})


def admin_app(target: AdminTarget, secret: str, counters: HttpCounters) -> web.Application:
    """The application the admin listener serves (ingest/listeners.py owns its site)."""
    r = AdminRoutes(target, secret, counters)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[r.middleware])
    app.router.add_get("/", r.console)
    app.router.add_get("/api/status", r.status)
    app.router.add_get("/api/apis", r.apis)
    app.router.add_post("/api/reload", r.reload)
    app.router.add_get("/api/deliveries", r.deliveries)
    app.router.add_get("/api/deliveries/{id}", r.delivery)
    app.router.add_get("/api/deadletters", r.dead_letters)
    app.router.add_post("/api/deadletters/replay", r.replay)
    app.router.add_post("/api/deadletters/purge", r.purge)
    app.router.add_get("/api/endpoints", r.endpoints)
    return app
