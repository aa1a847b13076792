"""TykMakeHttpRequest and TykBatchRequest (docs/compatibility.md), for the JS thread.

These run inside a JS call, so they block the VM thread; the requests themselves are Go's
client (tykevents.golang.http): URLs parsed with Go's rules, header names canonicalised,
`User-Agent: Go-http-client/1.1` unless set, Go's header order, `Accept-Encoding: gzip`
(then a gzip reply is inflated, as Go's transport does), redirects followed as Go's Client
does (10 at most), proxies from the environment as Go's ProxyFromEnvironment takes them.
Each request is a coroutine on an event loop, the daemon's when the runtime is given it,
else a loop of the runtime's own; the VM thread waits for it, within
`timeout` per request, redirects included (Tyk has no timeout, K4), and never past the JS
call's own time limit (CallLimits): a request cut there raises CallTimeUp, and the call ends.
Replies are the JSON Go writes: keys in struct order, header maps with sorted keys, `<`, `>`,
`&`, U+2028 and U+2029 escaped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from tykevents.golang import url as gourl
from tykevents.golang.http.client import TIMEOUT, GoClient, GoClientError
from tykevents.golang.http.header import Header, canonical_header_key
from tykevents.golang.http.request import GoRequest, NewRequestError
from tykevents.golang.http.request import new_request as go_new_request
from tykevents.golang.json import go_fold, go_marshal, json_kind

logger = logging.getLogger("tykevents.jsvm")

T = TypeVar("T")
BATCH_PARALLEL = 16  # requests of one batch in flight at once
_GRACE = 0.5  # beyond a request's own deadline, for the loop to report it
_TIMEOUT_TEXT = "context deadline exceeded (Client.Timeout exceeded)"


class RequestError(Exception):
    """The request could not be made; the message is what Tyk would log."""


class CallTimeUp(Exception):
    """The JS call's time limit ran out during its requests (or its runtime is closing): the
    message is Go's for a request whose context ended."""


@dataclass
class CallLimits:
    """What bounds the requests of one JS call, besides their own timeout."""

    deadline: float | None = None  # the call's time limit (monotonic); None: none
    cancel: concurrent.futures.Future[None] | None = None  # done when the runtime closes


_NO_LIMITS = CallLimits()
_DEADLINE = "context deadline exceeded"
_CANCELED = "context canceled"


@dataclass
class HTTPSettings:
    timeout: float = 10.0  # per request, redirects included
    ignore_canonical: bool = False  # tyk.conf ignore_canonical_mime_header_key
    insecure_skip_verify: bool = False  # tyk.conf proxy_ssl_insecure_skip_verify
    max_body: int = 16 << 20  # a bigger reply is an error (Go would buffer any size)


@dataclass
class Reply:
    status: int
    header: Header
    body: bytes


# -- Go's encoding/json, as far as these two functions need it -------------------------------


class _Obj(list):
    """A JSON object as its (key, value) pairs in document order."""


def _value(v: Any) -> Any:
    if isinstance(v, _Obj):
        out: dict[str, Any] = {}
        for k, x in v:  # a later duplicate key wins, as in Go
            out[k] = _value(x)
        return out
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def parse_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_Obj)
    except ValueError as e:
        raise RequestError(f"invalid JSON: {e}") from None


def decode_struct(doc: Any, fields: dict[str, str], struct: str) -> dict[str, Any]:
    """json.Unmarshal into a struct of string / bool / map[string]string / list fields.

    Keys match exactly or case-insensitively, in document order (a later key wins), null
    changes nothing, and any type mismatch is an error, as in Go. List items stay raw
    (objects as _Obj) for the caller to decode.
    """
    out: dict[str, Any] = {}
    if doc is None:
        return out
    if not isinstance(doc, _Obj):
        raise RequestError(f"json: cannot unmarshal {json_kind(_value(doc))} into Go value of type {struct}")
    folded = {go_fold(f): f for f in fields}
    for key, raw in doc:
        name = key if key in fields else folded.get(go_fold(key))
        if name is None or raw is None:
            continue
        t = fields[name]
        value = _value(raw)
        ok = {
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "map[string]string": isinstance(raw, _Obj)
            and all(isinstance(v, str) or v is None for v in value.values()),
            "list": isinstance(raw, list) and not isinstance(raw, _Obj),
        }[t]
        if not ok:
            raise RequestError(
                f"json: cannot unmarshal {json_kind(value)} into Go struct field {struct}.{name} of type {t}"
            )
        if t == "map[string]string":
            value = {k: v or "" for k, v in value.items()}
        elif t == "list":
            value = list(raw)
        out[name] = value
    return out


# -- Go's client, from the VM thread ---------------------------------------------------------


class HTTPClient:
    """The JS helpers' client: a GoClient on each event loop it runs on, called from the VM
    thread, which waits for the answer.

    `loop` is the daemon's event loop. While that loop is itself blocked waiting for the VM
    thread (`blocking`: a script loaded from the loop's thread), or when none is given or it
    has stopped, requests run on a loop thread of this client's own, started on first use.
    """

    def __init__(self, settings: HTTPSettings, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.settings = settings
        self.loop = loop
        self._blocked: set[asyncio.AbstractEventLoop] = set()
        self._clients: dict[asyncio.AbstractEventLoop, GoClient] = {}
        self._own: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
        self._lock = threading.Lock()
        self._closing: set[asyncio.Future[Any]] = set()

    @contextmanager
    def blocking(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """`loop` waits for the VM thread meanwhile: it cannot run our requests."""
        self._blocked.add(loop)
        try:
            yield
        finally:
            self._blocked.discard(loop)

    def do(self, req: GoRequest, body: bytes, limits: CallLimits = _NO_LIMITS) -> Reply:
        """Client.Do within the request timeout and the call's limits; raises RequestError with
        Go's text, or CallTimeUp if the call's limit cut it."""
        deadline, by_call = self._deadline(self.settings.timeout, limits)
        try:
            return self._wait(self._do(req, body, deadline), deadline, limits)
        except GoClientError as e:
            if e.kind == TIMEOUT and by_call:
                raise CallTimeUp(f"{e.req.op}: {_DEADLINE}") from None
            raise RequestError(str(e)) from None
        except TimeoutError:  # the loop did not get to it in time
            if by_call:
                raise CallTimeUp(f"{req.op}: {_DEADLINE}") from None
            raise RequestError(f"{req.op}: {_TIMEOUT_TEXT}") from None
        except concurrent.futures.CancelledError:
            raise CallTimeUp(f"{req.op}: {_CANCELED}") from None

    def do_all(
        self, units: list[tuple[GoRequest, bytes]], parallel: bool, limits: CallLimits = _NO_LIMITS
    ) -> list[tuple[int, Reply | RequestError]]:
        """Every request, one after the other or up to BATCH_PARALLEL at once, each within
        its own timeout: (index, reply or error) in the order they finished. CallTimeUp if
        the call's limit comes first."""
        done: list[tuple[int, Reply | RequestError]] = []
        if not units:
            return done
        rounds = -(-len(units) // BATCH_PARALLEL) if parallel else len(units)
        deadline, by_call = self._deadline(rounds * self.settings.timeout, limits)
        try:
            self._wait(self._do_all(units, parallel, done, deadline if by_call else None), deadline, limits)
        except TimeoutError:  # the loop did not get to them all: the rest timed out
            done = list(done)  # the cancelled coroutine may still append to the original
            if by_call:
                raise CallTimeUp(f"{len(units) - len(done)} batch requests: {_DEADLINE}") from None
            finished = {i for i, _ in done}
            done += [
                (i, RequestError(f"{req.op}: {_TIMEOUT_TEXT}"))
                for i, (req, _) in enumerate(units)
                if i not in finished
            ]
        except concurrent.futures.CancelledError:
            raise CallTimeUp(f"batch requests: {_CANCELED}") from None
        return done

    @staticmethod
    def _deadline(timeout: float, limits: CallLimits) -> tuple[float, bool]:
        """The deadline of a request (or batch) and whether it is the call's own."""
        own = time.monotonic() + timeout
        call = limits.deadline
        if call is not None and call <= own:
            return call, True
        return own, False

    async def _client(self) -> GoClient:
        loop = asyncio.get_running_loop()
        c = self._clients.get(loop)
        if c is None:
            s = self.settings
            c = self._clients[loop] = GoClient(
                timeout=s.timeout,
                read_limit=s.max_body,
                over_limit_fails=True,
                # HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as Tyk's proxyFromAPI without an API
                # proxy; external_services is not Tyk's for these (docs/compatibility.md).
                proxies=None,
                verify_tls=not s.insecure_skip_verify,
            )
            await c.start()
        return c

    async def _do(self, req: GoRequest, body: bytes, deadline: float) -> Reply:
        client = await self._client()
        resp = await client.do(req, body, timeout=max(0.0, deadline - time.monotonic()))
        return Reply(resp.status, resp.header, resp.body)

    async def _do_all(
        self,
        units: list[tuple[GoRequest, bytes]],
        parallel: bool,
        done: list[tuple[int, Reply | RequestError]],
        deadline: float | None,
    ) -> None:
        """The batch; TimeoutError at `deadline` (the call's), if given."""
        if deadline is not None:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._do_all(units, parallel, done, None)
            return
        client = await self._client()
        room = asyncio.Semaphore(BATCH_PARALLEL if parallel else 1)

        async def one(i: int, req: GoRequest, body: bytes) -> None:
            async with room:
                try:
                    resp = await client.do(req, body)
                except GoClientError as e:
                    done.append((i, RequestError(str(e))))
                    return
                done.append((i, Reply(resp.status, resp.header, resp.body)))

        if parallel:
            await asyncio.gather(*(one(i, req, body) for i, (req, body) in enumerate(units)))
        else:
            for i, (req, body) in enumerate(units):
                await one(i, req, body)

    def _wait(self, coro: Coroutine[Any, Any, T], deadline: float, limits: CallLimits) -> T:
        """The coroutine's result; TimeoutError past the deadline, CancelledError once
        `limits.cancel` is done (the coroutine is cancelled either way)."""
        left = deadline - time.monotonic()
        cancel = limits.cancel
        if left <= 0 or (cancel is not None and cancel.done()):
            coro.close()  # never started: nothing is sent
            if left <= 0:
                raise TimeoutError
            raise concurrent.futures.CancelledError
        loop = self.loop
        if loop is None or loop in self._blocked or not loop.is_running():
            loop = self._own_loop()
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
        if cancel is None:
            try:
                return fut.result(left + _GRACE)
            except concurrent.futures.TimeoutError:
                fut.cancel()
                raise TimeoutError from None
        both: list[concurrent.futures.Future[Any]] = [fut, cancel]
        concurrent.futures.wait(both, left + _GRACE, concurrent.futures.FIRST_COMPLETED)
        if fut.done():
            return fut.result()
        fut.cancel()
        if cancel.done():
            raise concurrent.futures.CancelledError
        raise TimeoutError

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._own is None:
                loop = asyncio.new_event_loop()
                t = threading.Thread(target=loop.run_forever, name="tykevents-js-http", daemon=True)
                t.start()
                self._own = (loop, t)
            return self._own[0]

    async def aclose(self) -> None:
        """Close the clients and the own loop; from a coroutine (on any loop)."""
        running = asyncio.get_running_loop()
        for loop, c in list(self._clients.items()):
            if loop is running:
                await c.close()
            elif loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(c.close(), loop))
        self._clients.clear()
        if self._own is not None:
            await asyncio.to_thread(self._stop_own)

    def close(self) -> None:
        """Blocking twin of aclose (from a loop's own thread, its client closes later)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, c in list(self._clients.items()):
            if loop is running:
                task = loop.create_task(c.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(c.close(), loop).result(5.0)
        self._clients.clear()
        self._stop_own()

    def _stop_own(self) -> None:
        with self._lock:
            own, self._own = self._own, None
        if own is not None:
            loop, thread = own
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()


# -- one request, as Go's http.Client sends it -------------------------------------------------


def set_header(h: Header, key: str, value: str, ignore_canonical: bool) -> None:
    """Tyk's setCustomHeader: Header.Set, or the raw key with ignore_canonical."""
    h[key if ignore_canonical else canonical_header_key(key)] = [value]


def new_request(method: str, url: str) -> tuple[str, gourl.GoURL]:
    """http.NewRequest's checks: "" means GET, the method must be a token, the URL parse."""
    try:
        return go_new_request(method, url)
    except NewRequestError as e:
        raise RequestError(str(e)) from None


# -- the two JS functions --------------------------------------------------------------------

_HRO = {
    "Method": "string",
    "Body": "string",
    "Headers": "map[string]string",
    "Domain": "string",
    "Resource": "string",
    "FormData": "map[string]string",
}


def _sorted(h: Header) -> Header:
    return {k: h[k] for k in sorted(h, key=lambda k: k.encode("utf-8", "surrogateescape"))}


def make_http_request(arg: str, http: HTTPClient, limits: CallLimits = _NO_LIMITS) -> str | None:
    """TykMakeHttpRequest: the reply JSON, or None (JS undefined) on any error (logged);
    CallTimeUp (logged) if the call's time limit cut the request."""
    s = http.settings
    if arg == "undefined":
        return None
    try:
        hro = decode_struct(parse_json(arg), _HRO, "gateway.TykJSHttpRequest")
    except RequestError as e:
        logger.error("JSVM: Failed to deserialise HTTP Request object: %s", e, extra={"prefix": "jsvm"})
        return None
    raw = hro.get("Domain", "") + hro.get("Resource", "")
    try:
        u = gourl.parse_request_uri(raw)
    except gourl.GoURLError as e:
        logger.error("JSVM: Failed to parse request URI: %s", e, extra={"prefix": "jsvm"})
        return None
    form = hro.get("FormData") or {}
    body = hro.get("Body", "")
    if not body and form:
        # url.Values.Encode: keys sorted, QueryEscape'd.
        body = "&".join(
            f"{urllib.parse.quote_plus(k, safe='')}={urllib.parse.quote_plus(v, safe='')}"
            for k, v in sorted(form.items(), key=lambda kv: kv[0].encode())
        )
    h: Header = {}
    for k, v in (hro.get("Headers") or {}).items():
        set_header(h, k, v, s.ignore_canonical)
    try:
        method, target = new_request(hro.get("Method", ""), u.string())
        reply = http.do(
            GoRequest(method, target, h, close=True), body.encode("utf-8", "surrogatepass"), limits
        )
    except (RequestError, CallTimeUp) as e:
        logger.error("Request failed: %s", e, extra={"prefix": "jsvm"})
        if isinstance(e, CallTimeUp):
            raise
        return None
    text = reply.body.decode("utf-8", "replace")
    headers = _sorted(reply.header)
    return go_marshal(
        {
            "Code": reply.status,
            "Body": text,
            "Headers": headers,
            "code": reply.status,
            "body": text,
            "headers": headers,
        }
    )


_BATCH = {"requests": "list", "suppress_parallel_execution": "bool"}
_UNIT = {"method": "string", "headers": "map[string]string", "body": "string", "relative_url": "string"}
_ZERO = {"relative_url": "", "code": 0, "headers": None, "body": ""}


def batch_request(arg: str, http: HTTPClient, limits: CallLimits = _NO_LIMITS) -> str | None:
    """TykBatchRequest ("unsafe" mode: relative_url is the absolute URL). None on error,
    CallTimeUp (logged) if the call's time limit cut the batch."""
    s = http.settings
    try:
        batch = decode_struct(parse_json(arg), _BATCH, "gateway.BatchRequestStructure")
        units = [
            decode_struct(item, _UNIT, "gateway.RequestDefinition") for item in batch.get("requests") or []
        ]
    except RequestError as e:
        logger.error(
            "Batch request error: could not decode batch request, decoding failed: %s",
            e,
            extra={"prefix": "jsvm"},
        )
        return None
    plans: list[tuple[GoRequest, bytes]] = []
    rels: list[str] = []
    for i, unit in enumerate(units):
        h: Header = {}
        for k, v in (unit.get("headers") or {}).items():
            set_header(h, k, v, s.ignore_canonical)
        try:
            method, target = new_request(unit.get("method", ""), unit.get("relative_url", ""))
        except RequestError as e:
            logger.error(
                "Failure generating batch request for request spec index: %d", i, extra={"prefix": "jsvm"}
            )
            logger.error(
                "Batch request error: batch request creation failed , request structure malformed: %s",
                e,
                extra={"prefix": "jsvm"},
            )
            return None
        plans.append((GoRequest(method, target, h), unit.get("body", "").encode("utf-8", "surrogatepass")))
        rels.append(unit.get("relative_url", ""))

    replies: list[dict[str, Any]] = []
    parallel = not batch.get("suppress_parallel_execution") and len(plans) > 1
    try:
        finished = http.do_all(plans, parallel, limits)
    except CallTimeUp as e:
        logger.error("Batch request error: %s", e, extra={"prefix": "jsvm"})
        raise
    for i, reply in finished:  # Go answers in completion order; so do we
        if isinstance(reply, RequestError):
            logger.error("Webhook request failed: %s", reply, extra={"prefix": "jsvm"})
            replies.append(dict(_ZERO))
            continue
        replies.append(
            {
                "relative_url": rels[i],
                "code": reply.status,
                "headers": _sorted(reply.header),
                "body": reply.body.decode("utf-8", "replace"),
            }
        )
    return go_marshal(replies)
