"""Several VMs per generation (docs/compatibility.md, JavaScript handlers): every VM runs every
script, a call that waits holds only its own VM, one API never takes every VM, and closing
is bounded, counting what it abandons."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import random
import threading
import time

import pytest

from tests.jsvm.conftest import build_context, event
from tests.webhook.receiver import Action, Receiver
from tykevents.deliver.jsvm import runtime as runtime_mod
from tykevents.deliver.jsvm.engine import Engine
from tykevents.deliver.jsvm.handler import build_js_handler
from tykevents.deliver.jsvm.httpreq import CallLimits, CallTimeUp, HTTPClient, HTTPSettings
from tykevents.deliver.jsvm.jobs import KEY, OWN, STOP, JobQueue
from tykevents.golang.http.request import GoRequest, new_request

SLOW = """
var slowHandler = new TykJS.TykEventHandlers.NewEventHandler({});
slowHandler.NewHandler(function (event, context) {
    TykMakeHttpRequest(JSON.stringify({Domain: event.Meta.Target, Resource: "/hang"}));
    log("slow handler went on");
});
"""
QUICK = """
var quickHandler = new TykJS.TykEventHandlers.NewEventHandler({});
quickHandler.NewHandler(function (event, context) { log("quick " + context.APIID); });
"""
COUNTING = """
var seen = 0;
var countingHandler = new TykJS.TykEventHandlers.NewEventHandler({});
countingHandler.NewHandler(function (event, context) { seen++; });
log("counting loaded");
"""


def handlers(rt, tmp_path, **scripts: str):
    out = []
    for name, src in scripts.items():
        (tmp_path / f"{name}.js").write_text(src)
        api = "api-slow" if name == "slowHandler" else f"api-{name}"
        ctx = build_context(rt, api_id=api, base_dir=str(tmp_path))
        out.append(build_js_handler({"name": name, "path": str(tmp_path / f"{name}.js")}, ctx))
    return out


async def test_every_vm_runs_every_script_and_logs_once(make_runtime, tmp_path, js_logs):
    rt = make_runtime(vms=3)
    assert rt.vms == 3
    [h] = handlers(rt, tmp_path, countingHandler=COUNTING)
    assert js_logs().count("counting loaded") == 1  # the replicas' lines are muted
    await asyncio.gather(*(h.handle(event()) for _ in range(60)))
    # Globals are per VM: each VM counted the calls it ran; together, every call.
    seen = [f.result() for f in rt._each(Engine.eval_value, "seen")]
    assert sum(seen) == 60 and rt.stats.calls == 60 and rt.stats.failures == 0


async def test_a_waiting_call_does_not_stall_another_apis_handler(make_runtime, tmp_path, receiver: Receiver):
    receiver.respond = lambda r: Action("hang")
    rt = make_runtime(vms=2, call_time_limit=0.5, http_timeout=10.0)
    slow, quick = handlers(rt, tmp_path, slowHandler=SLOW, quickHandler=QUICK)
    target = {"Target": receiver.url("").rstrip("/")}
    t0 = time.monotonic()
    stuck = asyncio.ensure_future(slow.handle(event(meta=target, api_id="api-slow")))
    await asyncio.sleep(0.05)  # the slow call holds one VM, waiting on its request
    more = [asyncio.ensure_future(slow.handle(event(meta=target, api_id="api-slow"))) for _ in range(3)]
    latencies = []
    for _ in range(5):
        t = time.monotonic()
        await quick.handle(event(api_id="api-quick"))
        latencies.append(time.monotonic() - t)
    assert max(latencies) < 0.2, latencies  # one VM is always left to the other API
    await asyncio.gather(stuck, *more)
    # Each slow call was cut at its own limit (its HTTP included), one after the other.
    assert 1.9 <= time.monotonic() - t0 < 3.5
    assert rt.stats.timeouts == 4


async def test_the_error_of_a_call_cut_in_its_request_names_the_scripts_line(
    make_runtime, tmp_path, receiver: Receiver, caplog
):
    receiver.respond = lambda r: Action("hang")
    rt = make_runtime(call_time_limit=0.3)
    [slow] = handlers(rt, tmp_path, slowHandler=SLOW)
    await slow.handle(event(meta={"Target": receiver.url("").rstrip("/")}))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[-1] == (
        f"executing JSVM method slowHandler.DoProcessEvent at {tmp_path}/slowHandler.js:4: "
        "stopped by the time limit (InternalError: interrupted)"
    )
    assert "slow handler went on" not in [r.getMessage() for r in caplog.records]


async def test_close_abandons_what_nobody_waits_for(make_runtime, tmp_path, receiver: Receiver, caplog):
    """The daemon stops its lanes at the end of drain_timeout: the calls their workers were
    waiting for are skipped, or cut if running, and counted; closing takes no longer."""
    receiver.respond = lambda r: Action("hang")
    rt = make_runtime(vms=2, call_time_limit=30.0, http_timeout=30.0)
    slow, quick = handlers(rt, tmp_path, slowHandler=SLOW, quickHandler=QUICK)
    target = {"Target": receiver.url("").rstrip("/")}
    calls = [asyncio.ensure_future(slow.handle(event(meta=target))) for _ in range(5)]
    await asyncio.sleep(0.3)  # one runs (the cap keeps the other VM free), four wait
    await quick.handle(event(api_id="api-quick"))
    for c in calls:
        c.cancel()
    t0 = time.monotonic()
    await rt.aclose()
    assert time.monotonic() - t0 < 0.5
    assert rt.stats.abandoned == 5 and rt.stats.timeouts == 0 and rt.stats.failures == 0
    assert "JS runtime closed: 5 calls abandoned (their callers had stopped waiting)" in [
        r.getMessage() for r in caplog.records
    ]


async def test_close_still_runs_the_calls_that_are_waited_for(make_runtime, tmp_path):
    rt = make_runtime(vms=2)
    [h] = handlers(rt, tmp_path, quickHandler=QUICK)
    pending = [asyncio.ensure_future(h.handle(event())) for _ in range(20)]
    await asyncio.sleep(0)
    await rt.aclose()
    await asyncio.gather(*pending)
    assert rt.stats.calls == 20 and rt.stats.abandoned == 0
    with pytest.raises(RuntimeError, match="closed"):
        await h.handle(event())


async def test_a_vm_stuck_past_the_grace_is_left_behind(make_runtime, monkeypatch, caplog):
    """A cut call that does not end (a host call that ignores the cut) does not hold up the
    close beyond STOP_GRACE."""
    monkeypatch.setattr(runtime_mod, "STOP_GRACE", 0.2)
    rt = make_runtime(call_time_limit=30.0)
    rt._engines[0].cut = lambda: None  # type: ignore[method-assign]  # as if stuck in C
    rt.load_source("function wait() { var t = Date.now(); while (Date.now() - t < 1500) {} }", "w.js")
    call = asyncio.ensure_future(rt.call("wait"))
    await asyncio.sleep(0.1)
    call.cancel()
    t0 = time.monotonic()
    await rt.aclose()
    assert time.monotonic() - t0 < 0.6
    assert rt.stats.abandoned == 1
    assert any("1 VM threads did not stop within 0.2s" in r.getMessage() for r in caplog.records)


async def test_requests_are_not_sent_once_the_limit_has_passed(receiver: Receiver):
    http = HTTPClient(HTTPSettings(timeout=5.0))
    try:
        req = GoRequest(*new_request("GET", receiver.url("/late")), {})
        with pytest.raises(CallTimeUp, match='^Get ".*/late": context deadline exceeded$'):
            await asyncio.to_thread(http.do, req, b"", CallLimits(time.monotonic() - 0.1))
        cancel: concurrent.futures.Future[None] = concurrent.futures.Future()
        cancel.set_result(None)
        with pytest.raises(CallTimeUp, match="context canceled$"):
            await asyncio.to_thread(http.do, req, b"", CallLimits(time.monotonic() + 5, cancel))
        assert receiver.requests == []
        reply = await asyncio.to_thread(http.do, req, b"", CallLimits(time.monotonic() + 5))
        assert reply.status == 200 and len(receiver.requests) == 1
    finally:
        await http.aclose()


def test_the_queue_caps_each_key_and_sets_calls_aside():
    q = JobQueue(workers=3, cap=2)

    def call(key: str, n: int) -> tuple:
        return (None, (), None, None, key, n)

    for i in range(4):
        q.put(call("a", i))
    q.put(call("b", 0))
    assert q.get(0, OWN, block=False)[5] == 0  # a0
    assert q.get(0, OWN, block=False)[5] == 1  # a1: "a" is at its cap now
    assert q.get(0, OWN, block=False)[KEY] == "b"  # a2 and a3 were set aside on the way
    assert q.get(0, "b", block=False) is None
    assert q.get(0, "a", block=False)[5] == 2  # who ends an "a" call takes the next one
    assert q.get(0, "a", block=False)[5] == 3
    # Other threads serve only while some VM is busy with one call (or at a broadcast).
    q.put(call("b", 1))
    assert q.get(1, OWN, block=False) is None
    q.set_busy(True)
    assert q.get(1, "a", block=False)[5] == 1
    q.set_busy(False)
    q.close()  # every thread serves, to its STOP
    assert [q.get(1, "b", block=False), q.get(2, OWN, block=False), q.get(0, "a", block=False)] == [STOP] * 3
    assert q.get(0, OWN, block=False) is None
    # One VM: no cap, no bookkeeping.
    one = JobQueue(workers=1, cap=0)
    for i in range(3):
        one.put(call("a", i))
    assert [one.get(0, OWN, block=False)[5] for _ in range(3)] == [0, 1, 2]


def test_the_queue_under_contention_never_exceeds_a_cap_nor_loses_a_call():
    workers, cap, n = 4, 2, 20000
    q = JobQueue(workers=workers, cap=cap)
    q.set_busy(True)  # every thread serves
    running = dict.fromkeys("abc", 0)
    peak = dict(running)
    ran: list[int] = []
    guard = threading.Lock()

    def work(index: int) -> None:
        finished = OWN
        while True:
            job = q.get(index, finished, block=True)
            if job is STOP:
                return
            finished = job[KEY]
            with guard:
                running[finished] += 1
                peak[finished] = max(peak[finished], running[finished])
            if random.random() < 0.01:
                time.sleep(0.0005)
            with guard:
                running[finished] -= 1
                ran.append(job[5])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for i in range(n):
        q.put((None, (), None, None, "a" if i % 3 else random.choice("bc"), i))
    q.close()
    for t in threads:
        t.join(30)
    assert sorted(ran) == list(range(n))
    assert max(peak.values()) <= cap


def test_js_settings_are_checked():
    import msgspec

    from tykevents.config import JSSettings

    assert JSSettings().vms == 3 and JSSettings().max_log_bytes == 8192
    for bad in ({"vms": 0}, {"vms": 65}, {"max_log_bytes": 10}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, JSSettings)
    assert json.loads(msgspec.json.encode(JSSettings()))["paths"] == ["event_handlers"]
