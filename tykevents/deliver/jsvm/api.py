"""The Python side of the Tyk JS API, called from JS on the VM's own thread
(docs/compatibility.md, JavaScript handlers).

bootstrap.js wraps each of these: it coerces arguments with String() and sends them as JSON
text, and turns a None result into JS undefined. Nothing here may raise into JS (the binding
would turn it into an opaque "Python call failed"), so every function logs its own errors
and returns None, as Tyk's functions log and return undefined. The HTTP helpers run within
what is left of the call's time limit; when it runs out during a request they fire the
interrupt and return False, on which bootstrap.js lets the interrupt end the call. Redis
calls pause the time limit while they wait: they have their own timeout. Every line a script
writes is capped at `max_log_bytes` (logcap.py).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TextIO

import orjson

from tykevents.deliver.jsvm import httpreq, logcap
from tykevents.golang.json import go_marshal
from tykevents.runtime.keys import obfuscate_key
from tykevents.store.sessions import SessionError, SessionStore, validate_session

logger = logging.getLogger("tykevents.jsvm")
_JSVM = {"prefix": "jsvm"}
_LOG_MSG = {"prefix": "jsvm", "type": "log-msg"}
KEY_NOT_FOUND = '{"status":"error","message":"Key not found"}'


def _arg(a: Any) -> str:
    """A JSON-encoded JS string -> str; lone surrogates become U+FFFD as in a Go string."""
    try:
        return orjson.loads(a)
    except orjson.JSONDecodeError:
        s = json.loads(a)  # orjson refuses lone surrogates; json keeps them
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _ret(s: str) -> str:
    return orjson.dumps(s).decode()


def _bytes_to_js(b: bytes) -> str:
    return b.decode("utf-8", "replace")  # Go string(bytes) shown to JS: invalid bytes -> U+FFFD


_STD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def go_b64decode(s: str, padded: bool) -> bytes:
    """base64.StdEncoding (padded) / RawStdEncoding.DecodeString, Go's strictness: \\r and \\n
    are skipped, anything else outside the alphabet, wrong or missing padding is an error."""
    raw = s.encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")
    body = raw
    if padded:
        body = raw.rstrip(b"=")
        if len(raw) % 4 or len(raw) - len(body) > 2:
            raise ValueError("illegal base64 data: bad length or padding")
    elif len(raw) % 4 == 1:
        raise ValueError("illegal base64 data: bad length")
    if any(c not in _STD for c in body):
        raise ValueError("illegal base64 data: bad character")
    return binascii.a2b_base64(body + b"=" * (-len(body) % 4))


class HostAPI:
    """The host functions of one JS runtime, by the names bootstrap.js expects."""

    def __init__(
        self,
        session_store: SessionStore | None,
        http: httpreq.HTTPClient,
        *,
        allow_master_keys: bool = False,
        enable_key_logging: bool = False,
        io_pause: Callable[[], AbstractContextManager[Any]] = nullcontext,
        call_limits: Callable[[], httpreq.CallLimits] = httpreq.CallLimits,
        time_up: Callable[[], bool] = lambda: False,
        raw_stream: TextIO | None = None,
        max_log_bytes: int = logcap.DEFAULT_LIMIT,
    ) -> None:
        """`io_pause` stops the call's clock around Redis calls; `call_limits` gives the
        running call's limits for its requests; `time_up` ends the call now (True if it can)."""
        self.store = session_store
        self.http = http
        self.allow_master_keys = allow_master_keys
        self.enable_key_logging = enable_key_logging
        self.io_pause = io_pause
        self.call_limits = call_limits
        self.time_up = time_up
        self.raw_stream = raw_stream
        self.max_log_bytes = max_log_bytes

    def functions(self) -> dict[str, Callable[..., Any]]:
        fns: dict[str, Callable[..., Any]] = {
            "log": self.log,
            "debug": self.debug,
            "debugEnabled": self.debug_enabled,
            "rawlog": self.rawlog,
            "console": self.console,
            "b64enc": self.b64enc,
            "b64dec": self.b64dec,
            "rawb64enc": self.rawb64enc,
            "rawb64dec": self.rawb64dec,
            "makeHttpRequest": self.make_http_request,
            "batchRequest": self.batch_request,
            "getKeyData": self.get_key_data,
            "setKeyData": self.set_key_data,
        }
        return {name: _never_raise(name, fn) for name, fn in fns.items()}

    # -- logging --------------------------------------------------------------------------
    def _line(self, msg: str) -> str:
        return logcap.cap(_arg(msg), self.max_log_bytes)

    def log(self, msg: str) -> None:
        logger.info(self._line(msg), extra=_LOG_MSG)

    def debug(self, msg: str) -> None:
        logger.debug(self._line(msg), extra=_JSVM)

    def debug_enabled(self) -> bool:
        return logger.isEnabledFor(logging.DEBUG)

    def rawlog(self, msg: str) -> None:
        # Tyk's raw logger: the message and a newline, unformatted, on stderr.
        if logcap.is_muted():
            return
        stream = self.raw_stream or sys.stderr
        stream.write(self._line(msg) + "\n")
        stream.flush()

    def console(self, which: str, text: str) -> None:
        # otto's console: log/info/debug on stdout, warn/error on stderr.
        if logcap.is_muted():
            return
        stream = sys.stdout if which == "out" else sys.stderr
        stream.write(self._line(text) + "\n")
        stream.flush()

    # -- base64 -----------------------------------------------------------------------------
    def b64enc(self, s: str) -> str:
        return _ret(base64.b64encode(_arg(s).encode("utf-8")).decode("ascii"))

    def rawb64enc(self, s: str) -> str:
        return _ret(base64.b64encode(_arg(s).encode("utf-8")).decode("ascii").rstrip("="))

    def b64dec(self, s: str) -> str | None:
        text = _arg(s)
        try:
            return _ret(_bytes_to_js(go_b64decode(text, padded=True)))
        except (ValueError, binascii.Error):
            pass
        return self.rawb64dec(s)

    def rawb64dec(self, s: str) -> str | None:
        try:
            return _ret(_bytes_to_js(go_b64decode(_arg(s), padded=False)))
        except (ValueError, binascii.Error) as e:
            logger.error("Failed to base64 decode: %s", e, extra=_JSVM)
            return None

    # -- HTTP -------------------------------------------------------------------------------
    def make_http_request(self, req: str) -> str | bool | None:
        try:
            out = httpreq.make_http_request(_arg(req), self.http, self.call_limits())
        except httpreq.CallTimeUp:
            return False if self.time_up() else None
        return None if out is None else _ret(out)

    def batch_request(self, req: str) -> str | bool | None:
        text = _arg(req)
        logger.debug("Batch input is: %s", text, extra=_JSVM)
        try:
            out = httpreq.batch_request(text, self.http, self.call_limits())
        except httpreq.CallTimeUp:
            return False if self.time_up() else None
        return None if out is None else _ret(out)

    # -- sessions ---------------------------------------------------------------------------
    def get_key_data(self, key: str, api_id: str) -> str:
        k = _arg(key)
        if self.store is None:
            return _ret(KEY_NOT_FOUND)
        try:
            with self.io_pause():
                session = self.store.get_session_detail(k)
        except Exception as e:  # Redis down: Tyk's SessionDetail fails and says not found
            logger.error(
                "Could not get session detail: %s",
                e,
                extra={**_JSVM, "key": obfuscate_key(k, self.enable_key_logging)},
            )
            return _ret(KEY_NOT_FOUND)
        if session is None:
            return _ret(KEY_NOT_FOUND)
        return _ret(go_marshal(session))

    def set_key_data(self, key: str, encoded: str, suppress_reset: str) -> None:
        k = _arg(key)
        fields = {**_JSVM, "key": obfuscate_key(k, self.enable_key_logging)}
        try:
            session = orjson.loads(_arg(encoded))
            validate_session(session)  # json.Unmarshal into user.SessionState
        except (orjson.JSONDecodeError, SessionError) as e:
            logger.error(
                "Failed to set key data from JS: Failed to decode the sesison data: %s", e, extra=fields
            )
            return
        if not session.get("access_rights") and not self.allow_master_keys:
            logger.error(
                "Failed to set key data from JS: Master keys disallowed in configuration, key not added.",
                extra=fields,
            )
            return
        if self.store is None:
            logger.error("Failed to set key data from JS: no session store", extra=fields)
            return
        try:
            with self.io_pause():
                self.store.set_session(k, session, suppress_reset=_arg(suppress_reset) == "1")
        except Exception as e:
            logger.error("Failed to set key data from JS: Failed to update key data: %s", e, extra=fields)
            return
        logger.info("Key added or updated.", extra=fields)


def _never_raise(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            logger.exception("JS API function %s failed", name, extra=_JSVM)
            return None

    return wrapper
