"""Where the JS HTTP helpers' requests run: on the event loop given to the runtime (the
daemon's), or on a loop of the runtime's own when that loop cannot serve them."""

from __future__ import annotations

import asyncio
import json

import orjson

from tests.jsvm.conftest import JS
from tests.jsvm.test_jsvm_api import PROBE, js, req
from tests.support.threaded import ThreadedReceiver
from tests.webhook.receiver import Receiver, response
from tykevents.config import Config
from tykevents.deliver.jsvm.runtime import JSRuntime


def build(**kw: object) -> JSRuntime:
    return JSRuntime(
        Config(enable_jsvm=True, base_dir=str(JS)), None, call_time_limit=0.5, http_timeout=2.0, **kw
    )


async def test_requests_run_on_the_given_loop(receiver: Receiver) -> None:
    loop = asyncio.get_running_loop()
    receiver.respond = lambda r: response(200, body=b"ok")
    rt = await asyncio.to_thread(build, http_loop=loop)  # as the daemon builds it
    try:
        await asyncio.to_thread(rt.load_source, PROBE, "probe.js")
        out = await js(rt, f"TykMakeHttpRequest({req(Domain=receiver.url(''), Resource='/x')})")
        assert orjson.loads(out)["Body"] == "ok"
        [(client_loop, _)] = rt._http._clients.items()
        assert client_loop is loop and rt._http._own is None  # no loop thread of its own
    finally:
        await rt.aclose()
    assert rt._http._clients == {}


async def test_a_script_loaded_from_the_loops_thread_does_not_wait_for_it() -> None:
    """Loading blocks the calling loop until the script has run: a request made at load time
    goes to the runtime's own loop instead of timing out."""
    rcv = ThreadedReceiver(lambda r: response(200, body=b"at load"))  # served off this loop
    rt = build(http_loop=asyncio.get_running_loop())
    try:
        src = (
            "var loaded = JSON.parse(TykMakeHttpRequest("
            + req(Domain=rcv.url(""), Resource="/load")
            + ")).Body;"
        )
        rt.load_source(src + PROBE, "loader.js")  # on the loop's own thread
        assert await js(rt, "loaded") == "at load"
        assert rt._http._own is not None
        # Calls from events (the loop is free) use the given loop.
        batch = {"requests": [{"method": "GET", "relative_url": rcv.url(f"/{i}")} for i in range(3)]}
        out = orjson.loads(await js(rt, f"TykBatchRequest({json.dumps(json.dumps(batch))})"))
        assert sorted(u["relative_url"] for u in out) == [rcv.url(f"/{i}") for i in range(3)]
        assert asyncio.get_running_loop() in rt._http._clients
    finally:
        await rt.aclose()
        rcv.close()
    assert rt._http._own is None
