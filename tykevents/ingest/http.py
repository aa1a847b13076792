"""HTTP: two listeners, each with its own aiohttp application.

- The events listener (`tykevents.listen.http`) takes POST /events: a batch of newline-delimited
  records or a JSON array of them. Batches are lossless: the response is sent once every
  handler call of the batch is queued, so a client that gets 202 lost nothing. With
  `listen.http_auth` it wants tyk.conf's `secret` in x-tyk-authorization, as Tyk's Gateway API.
- The metrics listener (`tykevents.metrics`) is read-only: GET /metrics and one GET route per
  probe (/health, and whatever else the daemon hands in).

Limits (`tykevents.http`, docs/operations.md), aiohttp's own where it has them: its
keepalive_timeout closes a connection idle between requests or silent before its first one;
it has no body deadline (read() waits for ever) nor connection cap, written here.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from tykevents.decode import array_lines
from tykevents.ingest.balance import BalancedServer, Balancer, tcp_sockets
from tykevents.ingest.forwarded import is_forwarded, unwrap
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.runtime.workers import exposition

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")
_ratelog = RateLimitedLog(logger)

SLICE_BYTES = 256 << 10  # bodies above this are fed in slices of SLICE_LINES records
SLICE_LINES = 1000
AUTH_HEADER = "x-tyk-authorization"  # Tyk Gateway API's header for tyk.conf `secret`
# After an early answer (401, 403, 503) an unread body is drained this long at most, so that
# the client reads the answer rather than a reset; a slow sender gets no more.
LINGER = 2.0

Probe = Callable[[], tuple[bool, dict[str, Any]]]  # -> (ok: 200 or 503, JSON detail)


class HttpCounters:
    """One listener's counters (the daemon's metrics style: tykevents.runtime.metrics)."""

    def __init__(self) -> None:
        self.open = 0  # connections open now
        self.refused = 0  # over max_connections: answered 503 and closed
        self.idle_closed = 0  # closed by idle_timeout
        self.body_timeouts = 0  # a body not received within body_timeout: 408
        self.auth_failures: defaultdict[str, int] = defaultdict(int)  # missing | wrong


def ingest_app(
    get_pipeline: Callable[[], Pipeline],
    max_body: int,
    accepting: Callable[[], bool] = lambda: True,
    *,
    body_timeout: float = 30.0,
    secret: str = "",
    counters: HttpCounters | None = None,
) -> web.Application:
    """The events listener's application: POST /events. An empty `secret` means no auth."""
    app = web.Application(client_max_size=max_body)
    counts = counters or HttpCounters()
    want = secret.encode()

    async def post_events(request: web.Request) -> web.StreamResponse:
        if want:
            refused = refuse_unauthorised(request, want, counts)
            if refused is not None:
                return refused
        if not accepting():  # draining: a 202 must mean the records will be handled
            return web.json_response({"error": "not accepting events (starting or draining)"}, status=503)
        pipeline = get_pipeline()
        try:
            async with asyncio.timeout(body_timeout):
                body = await request.read()
        except TimeoutError:
            counts.body_timeouts += 1
            return await _body_timeout(request, body_timeout)
        stats = pipeline.stats
        rejected_before = sum(stats.rejected.values())
        if is_forwarded(body):  # a stock gateway's webhook (templates/tykevents_forward.json)
            body = unwrap(body, pipeline.reject)
        if body[:1] == b"[":  # a JSON array of records (or NDJSON whose first record is one)
            try:
                items = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                if b"\n" not in body:
                    pipeline.reject("malformed_json", f"HTTP batch: {e}")
                    return web.json_response({"error": f"malformed JSON array: {e}"}, status=400)
                items = None  # newline-delimited records: each line is judged alone
            if items is not None:
                if not isinstance(items, list):
                    return web.json_response({"error": "expected a JSON array of records"}, status=400)
                # Re-framed as lines; an element too deep to write back is rejected alone.
                body = b"\n".join(array_lines(items, pipeline.reject))
        stats.datagrams["http"] += 1
        stats.bytes_in["http"] += len(body)
        records = 0
        rejected = sum(stats.rejected.values()) - rejected_before
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

    app.router.add_post("/events", post_events)
    return app


def refuse_unauthorised(
    request: web.Request, want: bytes, counts: HttpCounters, what: str = "POST /events"
) -> web.Response | None:
    """401 without the header, 403 with a wrong one (compared in constant time); None if
    it is right. Only the header counts: a secret in the query string is ignored. An empty
    `want` refuses everything. The value is never logged; `what` names the listener's route
    (the admin API passes its method and path, never the query string)."""
    given = request.headers.get(AUTH_HEADER)
    if given is None:
        reason, status = "missing", 401
    elif want and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), want):
        return None
    else:
        reason, status = "wrong", 403
    counts.auth_failures[reason] += 1
    _ratelog.log(
        logging.WARNING,
        f"{what}:{reason}",
        "%s from %s refused: %s %s header",
        what,
        request.remote,
        reason,
        AUTH_HEADER,
    )
    return web.json_response({"error": f"{reason} {AUTH_HEADER} header"}, status=status)


async def _body_timeout(request: web.Request, timeout: float) -> web.StreamResponse:
    """408, then close without draining the rest: the sender is too slow by definition."""
    _ratelog.log(
        logging.WARNING,
        "body_timeout",
        "POST /events from %s: body not received in %gs",
        request.remote,
        timeout,
    )
    resp = web.json_response({"error": f"request body not received within {timeout:g}s"}, status=408)
    resp.force_close()
    await resp.prepare(request)
    await resp.write_eof()
    if request.transport is not None:
        request.transport.close()  # written data is flushed first
    return resp


def ops_app(registry: CollectorRegistry, probes: Mapping[str, Probe]) -> web.Application:
    """The metrics listener's application, read-only: GET /metrics and GET <path> for each
    probe ({"/health": ...}); any other method or path is refused by the router."""
    app = web.Application()

    async def get_metrics(request: web.Request) -> web.Response:
        body = await exposition(registry)  # with workers: every worker's, summed
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def probe_route(probe: Probe) -> Callable[[web.Request], Any]:
        async def get_probe(request: web.Request) -> web.Response:
            ok, detail = probe()
            return web.json_response(detail, status=200 if ok else 503)

        return get_probe

    app.router.add_get("/metrics", get_metrics)
    for path, probe in probes.items():
        app.router.add_get(path, probe_route(probe))
    return app


REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 20\r\n\r\ntoo many connections"
)


class ConnectionCap:
    """The protocol factory of a listener: aiohttp's per-connection handler, behind a count.
    A connection over `limit` is answered 503 and closed before aiohttp sees it."""

    def __init__(self, server: web.Server, limit: int, counters: HttpCounters) -> None:
        self.server = server
        self.limit = limit
        self.counters = counters
        self.closing = False  # set at stop: closes from then on are not idle closes
        self.on_change: Callable[[], None] | None = None  # the open count moved (ingest/balance.py)

    def __call__(self) -> asyncio.Protocol:
        return _Connection(self)


class _Connection(asyncio.Protocol):
    """Forwards a connection's events to aiohttp's RequestHandler, once admitted."""

    def __init__(self, cap: ConnectionCap) -> None:
        self.cap = cap
        self.handler: web.RequestHandler | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cap = self.cap
        if cap.counters.open >= cap.limit:
            cap.counters.refused += 1
            _ratelog.log(
                logging.WARNING,
                "cap",
                "HTTP connection refused: %d open (tykevents.http.max_connections)",
                cap.limit,
            )
            tcp = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
            tcp.write(REFUSAL)
            tcp.close()
            return
        cap.counters.open += 1
        if cap.on_change is not None:
            cap.on_change()
        self.handler = cap.server()
        self.handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        handler, self.handler = self.handler, None
        if handler is None:
            return
        self.cap.counters.open -= 1
        if self.cap.on_change is not None:
            self.cap.on_change()
        # aiohttp's force_close (its idle timer; stop) drops the handler's transport before the
        # loop reports the loss; a client's close or a finished request leaves it set.
        if handler.transport is None and not self.cap.closing:
            self.cap.counters.idle_closed += 1
        handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.handler is not None:
            self.handler.data_received(data)

    def eof_received(self) -> None:  # None: the transport closes, as aiohttp's handler wants
        if self.handler is not None:
            self.handler.eof_received()

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()


class CappedSite(web.BaseSite):
    """aiohttp's TCPSite, with its connections made by a ConnectionCap."""

    __slots__ = ("_host", "_port", "_cap", "_reuse_port", "_balancer")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        cap: ConnectionCap,
        reuse_port: bool = False,
        balancer: Balancer | None = None,
    ) -> None:
        super().__init__(runner)
        self._host, self._port, self._cap, self._reuse_port = host, port, cap, reuse_port
        self._balancer = balancer  # under a supervisor: connections go to the least-loaded worker

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        if self._balancer is not None:
            key = f"http {self._host}:{self._port}"
            self._balancer.factories[key] = self._cap
            servers = [BalancedServer(s, key, self._balancer) for s in tcp_sockets(self._host, self._port)]
            for server in servers:
                server.start(loop)
            self._server = _Servers(servers)  # type: ignore[assignment]
            return
        self._server = await loop.create_server(
            self._cap,
            self._host,
            self._port,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
            backlog=self._backlog,
        )


class _Servers:
    """The balanced sockets of one site, closed together (BaseSite.stop calls close())."""

    def __init__(self, servers: list[BalancedServer]) -> None:
        self.servers = servers

    def close(self) -> None:
        for server in self.servers:
            server.close()
