"""The process a Python event handler runs in: `python worker.py MODULE BUNDLE_DIR [--probe]`.

It imports nothing of tykevents (it may run under another interpreter, tykevents.python.
interpreter): it installs the `tyk` package beside it (and `gateway`, as Tyk's plugins import
it), puts the bundle directory first on sys.path, as Tyk does for a bundle's own modules, and
imports MODULE. It then answers, on its original stdout, one JSON line per request read from
its original stdin:

    -> {"op": "ready", "events": [names of the @Event functions]}   (or "load_error")
    <- {"op": "call", "id": N, "event": {"message", "handler_name", "spec"}}
    -> {"op": "result", "id": N}  or  {"op": "result", "id": N, "error": "traceback"}
    -> {"op": "log", "level", "message"}   (TykGateway.log, at any time)

The handler's own stdin is /dev/null and its stdout goes to stderr, which tykevents logs.
With --probe it stops after "ready" (how a handler is checked when it is built).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

_HERE = os.path.dirname(os.path.abspath(__file__))
_TRACE_LIMIT = 8000


def _die_with_parent() -> None:
    """A killed daemon must not leave handler processes behind (Linux; best effort)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _channels() -> tuple[BinaryIO, BinaryIO]:
    """Keep stdin/stdout for the protocol; the handler's print() goes to stderr."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return proto_in, proto_out


def _sender(out: BinaryIO) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()  # handlers may log from threads of their own

    def send(msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode() + b"\n"
        with lock:
            out.write(data)
            out.flush()

    return send


def _install_tyk(send: Callable[[dict[str, Any]], None]) -> Any:
    """`tyk` from beside this file (nothing else of this directory becomes importable)."""
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
        del sys.path[0]
    pkg = os.path.join(_HERE, "tyk")
    spec = importlib.util.spec_from_file_location(
        "tyk", os.path.join(pkg, "__init__.py"), submodule_search_locations=[pkg]
    )
    assert spec is not None and spec.loader is not None
    tyk = importlib.util.module_from_spec(spec)
    sys.modules["tyk"] = tyk
    spec.loader.exec_module(tyk)
    for sub in ("decorators", "event", "gateway"):  # found through the package just installed
        importlib.import_module(f"tyk.{sub}")
    gateway = sys.modules["tyk.gateway"]
    gateway.sink = send  # type: ignore[attr-defined]
    sys.modules.setdefault("gateway", gateway)
    return tyk


def _load(module_path: str, bundle_dir: str, tyk: Any) -> dict[str, Any]:
    """Import the bundle's module; its @Event functions by name."""
    sys.path.insert(0, bundle_dir)
    name = os.path.splitext(os.path.basename(module_path))[0]
    spec = importlib.util.spec_from_file_location(name, module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    found = {}
    for attr in dir(module):
        value = getattr(module, attr)
        if isinstance(value, tyk.decorators.Event):
            found[value.name] = value
    return found


def _trace(exc: BaseException) -> str:
    """The traceback from the user's code on (this file, the shim and importlib left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith((_HERE + os.sep, "<frozen")):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return text[-_TRACE_LIMIT:]


def _serve(
    proto_in: BinaryIO, send: Callable[[dict[str, Any]], None], events: dict[str, Any], tyk: Any
) -> None:
    for line in proto_in:
        msg = json.loads(line)
        if msg.get("op") != "call":
            continue
        reply: dict[str, Any] = {"op": "result", "id": msg.get("id")}
        try:
            event = tyk.event.TykEvent(msg["event"])
            handler = events.get(event.handler_name)
            if handler is None:
                raise LookupError(f"no @Event function named {event.handler_name!r}")
            handler(event, event.spec)
        except BaseException as e:  # SystemExit too: one call fails, the process goes on
            reply["error"] = _trace(e)
        send(reply)


def main(argv: list[str]) -> int:
    _die_with_parent()
    sys.dont_write_bytecode = True  # a reload must never run a stale .pyc
    module_path, bundle_dir = argv[1], argv[2]
    proto_in, proto_out = _channels()
    send = _sender(proto_out)
    try:
        tyk = _install_tyk(send)
        events = _load(module_path, bundle_dir, tyk)
    except BaseException as e:
        send({"op": "load_error", "error": _trace(e)})
        return 1
    send({"op": "ready", "events": sorted(events)})
    if "--probe" in argv[3:]:
        return 0
    _serve(proto_in, send, events, tyk)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
