"""TykMakeHttpRequest and TykBatchRequest (spec 5.4), blocking, for the JS thread.

These run inside a JS call, so they are synchronous: http.client with a deadline per
request (Tyk has no timeout, K4). Requests are what Go's client would send for Tyk's code:
URLs parsed with Go's rules (tykevents.golang.url), header names canonicalised,
`User-Agent: Go-http-client/1.1` unless set, Host / User-Agent / Connection / Content-Length
first and the other headers sorted, `Accept-Encoding: gzip` (then a gzip reply is inflated,
as Go's transport does), redirects followed as Go's Client does (10 at most). Replies are the
JSON Go writes: keys in struct order, header maps with sorted keys, `<`, `>`, `&`, U+2028 and
U+2029 escaped.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import http.client
import json
import logging
import ssl
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tykevents.deliver.webhook.request import (
    GO_USER_AGENT,
    canonical_header_key,
    header_get,
    host_header,
    redirect_header,
    url_error_op,
    valid_header_name,
    valid_header_value,
)
from tykevents.golang import url as gourl
from tykevents.golang.json import go_fold, go_marshal, json_kind

logger = logging.getLogger("tykevents.jsvm")

Header = dict[str, list[str]]
_WRITE_EXCLUDED = frozenset(("Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
MAX_REDIRECTS = 10


class RequestError(Exception):
    """The request could not be made; the message is what Tyk would log."""


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


# -- one request, as Go's http.Client sends it -------------------------------------------------


def set_header(h: Header, key: str, value: str, ignore_canonical: bool) -> None:
    """Tyk's setCustomHeader: Header.Set, or the raw key with ignore_canonical."""
    h[key if ignore_canonical else canonical_header_key(key)] = [value]


def new_request(method: str, url: str) -> tuple[str, gourl.GoURL]:
    """http.NewRequest's checks: "" means GET, the method must be a token, the URL parse."""
    method = method or "GET"
    if not all(c in _TOKEN for c in method):
        raise RequestError(f"net/http: invalid method {gourl._go_quote(method)}")
    try:
        return method, gourl.new_request_url(url)
    except gourl.GoURLError as e:
        raise RequestError(str(e)) from None


def _wire(
    method: str, u: gourl.GoURL, h: Header, body_len: int, close: bool
) -> tuple[list[tuple[str, str]], bool]:
    """Header lines in Go's order, and whether the transport asked for gzip."""
    lines = [("Host", host_header(u))]
    if "User-Agent" in h:
        if header_get(h, "User-Agent"):
            lines.append(("User-Agent", header_get(h, "User-Agent")))
    else:
        lines.append(("User-Agent", GO_USER_AGENT))
    if close and "close" not in [t.strip().lower() for t in header_get(h, "Connection").split(",")]:
        lines.append(("Connection", "close"))
    if body_len > 0 or method in _BODY_METHODS:
        lines.append(("Content-Length", str(body_len)))
    for k in sorted(h, key=lambda k: k.encode("utf-8", "surrogateescape")):
        if k not in _WRITE_EXCLUDED:
            lines.extend((k, v.replace("\r", " ").replace("\n", " ").strip(" \t")) for v in h[k])
    gz = method != "HEAD" and not header_get(h, "Accept-Encoding") and not header_get(h, "Range")
    if gz:
        lines.append(("Accept-Encoding", "gzip"))
    return lines, gz


def _check(method: str, u: gourl.GoURL, h: Header) -> None:
    op = f'{url_error_op(method)} "{u.safe()}"'
    if u.scheme not in ("http", "https"):
        raise RequestError(f"{op}: unsupported protocol scheme {gourl._go_quote(u.scheme)}")
    if not u.host:
        raise RequestError(f"{op}: http: no Host in request URL")
    for name, values in h.items():
        if not valid_header_name(name):
            raise RequestError(f"{op}: net/http: invalid header field name {gourl._go_quote(name)}")
        if not all(valid_header_value(v) for v in values):
            raise RequestError(f"{op}: net/http: invalid header field value for {gourl._go_quote(name)}")


def _remaining(deadline: float, op: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RequestError(f"{op}: context deadline exceeded (Client.Timeout exceeded)")
    return left


def _once(
    method: str, u: gourl.GoURL, h: Header, body: bytes, close: bool, s: HTTPSettings, deadline: float
) -> Reply:
    _check(method, u, h)
    op = f'{url_error_op(method)} "{u.safe()}"'
    auth = u.basic_auth()
    if auth is not None and not header_get(h, "Authorization"):
        h = {**h, "Authorization": [auth]}
    lines, gz = _wire(method, u, h, len(body), close)
    host, port = u.hostname(), u.port()
    try:
        if u.scheme == "https":
            ctx = ssl.create_default_context()
            if s.insecure_skip_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, int(port or 443), timeout=_remaining(deadline, op), context=ctx
            )
        else:
            conn = http.client.HTTPConnection(host, int(port or 80), timeout=_remaining(deadline, op))
    except ValueError as e:
        raise RequestError(f"{op}: {e}") from None
    try:
        conn.putrequest(method, u.request_uri(), skip_host=True, skip_accept_encoding=True)
        for k, v in lines:
            conn.putheader(k, v.encode("utf-8", "surrogateescape"))  # Go writes the bytes as they are
        conn.endheaders(body or None)
        conn.sock.settimeout(_remaining(deadline, op))
        resp = conn.getresponse()
        header: Header = {}
        for k, v in resp.getheaders():
            header.setdefault(canonical_header_key(k), []).append(v)
        chunks, size = [], 0
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(_remaining(deadline, op))
            chunk = resp.read1(65536) if method != "HEAD" else b""
            if not chunk:
                break
            size += len(chunk)
            if size > s.max_body:
                raise RequestError(f"{op}: response body larger than {s.max_body} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
    except (OSError, http.client.HTTPException, ValueError) as e:
        if isinstance(e, TimeoutError) or "timed out" in str(e):
            raise RequestError(f"{op}: context deadline exceeded (Client.Timeout exceeded)") from None
        raise RequestError(f"{op}: {type(e).__name__}: {e}") from None
    finally:
        conn.close()
    # Go moves Transfer-Encoding out of the header map, and drops Content-Length if chunked.
    if header.pop("Transfer-Encoding", None) is not None:
        header.pop("Content-Length", None)
    if gz and header_get(header, "Content-Encoding").lower() == "gzip":
        try:
            data = gzip.decompress(data) if data else data
        except (OSError, EOFError, zlib.error) as e:
            raise RequestError(f"{op}: gzip: {e}") from None
        header.pop("Content-Encoding", None)
        header.pop("Content-Length", None)
    return Reply(resp.status, header, data)


def do(method: str, u: gourl.GoURL, h: Header, body: bytes, close: bool, s: HTTPSettings) -> Reply:
    """Client.Do: the request and its redirects, within one deadline."""
    deadline = time.monotonic() + s.timeout
    first, first_h, strip = u, h, False
    for _hop in range(MAX_REDIRECTS + 1):
        reply = _once(method, u, h, body, close, s, deadline)
        location = header_get(reply.header, "Location")
        if reply.status not in (301, 302, 303, 307, 308) or not location:
            return reply
        if _hop == MAX_REDIRECTS:
            break
        try:
            dest = gourl.resolve(u, location)
        except gourl.GoURLError as e:
            raise RequestError(
                f'{url_error_op(method)} "{u.safe()}": failed to parse Location '
                f"header {gourl._go_quote(location)}: {e}"
            ) from None
        if reply.status in (301, 302, 303):
            body = b""
            if method not in ("GET", "HEAD"):
                method = "GET"
        referer = "" if (u.scheme == "https" and dest.scheme == "http") else u.string(userinfo=False)
        h, strip = redirect_header(first_h, first, dest, referer, strip)
        u = dest
    raise RequestError(f'{url_error_op(method)} "{u.safe()}": stopped after 10 redirects')


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


def make_http_request(arg: str, s: HTTPSettings) -> str | None:
    """TykMakeHttpRequest: the reply JSON, or None (JS undefined) on any error (logged)."""
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
        reply = do(method, target, h, body.encode("utf-8", "surrogatepass"), True, s)
    except RequestError as e:
        logger.error("Request failed: %s", e, extra={"prefix": "jsvm"})
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


def batch_request(
    arg: str, s: HTTPSettings, pool: Callable[[], concurrent.futures.Executor] | None = None
) -> str | None:
    """TykBatchRequest ("unsafe" mode: relative_url is the absolute URL). None on error."""
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
    plans = []
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
        plans.append(
            (
                method,
                target,
                h,
                unit.get("body", "").encode("utf-8", "surrogatepass"),
                unit.get("relative_url", ""),
            )
        )

    def run(plan: tuple[Any, ...]) -> dict[str, Any]:
        method, target, h, body, rel = plan
        try:
            reply = do(method, target, h, body, False, s)
        except RequestError as e:
            logger.error("Webhook request failed: %s", e, extra={"prefix": "jsvm"})
            return dict(_ZERO)
        return {
            "relative_url": rel,
            "code": reply.status,
            "headers": _sorted(reply.header),
            "body": reply.body.decode("utf-8", "replace"),
        }

    if batch.get("suppress_parallel_execution") or pool is None or len(plans) < 2:
        replies = [run(p) for p in plans]
    else:
        # Go answers in completion order; so do we.
        futures = [pool().submit(run, p) for p in plans]
        replies = [f.result() for f in concurrent.futures.as_completed(futures)]
    return go_marshal(replies)
