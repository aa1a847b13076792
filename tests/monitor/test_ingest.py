"""Quota records over a real UDP socket, through the real Pipeline, to the monitor webhook.

The daemon wires this in tykevents.services (docs/monitor.md, "Wiring"); here the same parts
are put together in-process: Pipeline + Lanes + MonitorService + WebhookService."""

from __future__ import annotations

import asyncio
import socket
import time

import orjson

from tests.core.handlers import Recorder
from tykevents.ingest import datagram
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable

from .conftest import monitor_conf, session
from .test_service import MONITOR_TEMPLATE_BODY, limits_sent


async def wired(make_rig, receiver, **conf):
    rig = await make_rig(monitor_conf(receiver.url(), **conf))
    api_hook, global_hook = Recorder("api", kind="webhook"), Recorder("global", kind="webhook")
    # Handlers registered for TriggerExceeded on an API and globally: Tyk never calls them
    # for the monitor's event (docs/monitor.md#the-event), and neither do we.
    routes = RouteTable(
        by_api={"api1": {"TriggerExceeded": (api_hook,)}, "": {"TriggerExceeded": (global_hook,)}}
    )
    pipeline = Pipeline(routes, rig.lanes, rig.lanes["monitor"].stats, 1 << 16)
    pipeline.quota_sink = rig.svc.sink
    sock = datagram.udp_socket("127.0.0.1:0", 1 << 20)
    port = sock.getsockname()[1]
    transport = await datagram.open_datagram(pipeline, sock, "udp")
    return rig, pipeline, port, transport, (api_hook, global_hook)


async def wait_records(pipeline: Pipeline, n: int) -> None:
    deadline = time.monotonic() + 5
    while pipeline.stats.records < n and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert pipeline.stats.records == n


def send(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))


async def test_quota_records_over_udp(make_rig, receiver) -> None:
    rig, pipeline, port, transport, hooks = await wired(make_rig, receiver, limit=80)
    try:
        q = lambda rem, key="key1": orjson.dumps(  # noqa: E731
            {"Kind": "quota", "Key": key, "APIID": "api1", "Session": session(rem, limits=[50])}
        )
        # One per datagram, then several in one (newline-separated), with a broken one between.
        send(
            port,
            q(6),
            q(5),
            b"\n".join(
                [q(4), b'{"Kind":"quota","Key":"key1","Session":{"quota_max":"x"}}', q(2), q(1, "key2")]
            ),
        )
        await wait_records(pipeline, 6)
        await rig.settle()
    finally:
        transport.close()
    assert limits_sent(receiver) == ["50", "80", "80"]
    assert receiver.requests[1].body == MONITOR_TEMPLATE_BODY
    assert all(h.events == [] for h in hooks)
    assert pipeline.stats.quota_records == 6 and rig.svc.stats.rejected == {"bad_session": 1}
    assert rig.lanes["monitor"].stats.handled["monitor"] == 3  # only fires used the lane


async def test_org_quota_records_over_udp(make_rig, receiver) -> None:
    # Needs Pipeline._other_kind to pass Kind "org_quota" to the quota sink (see the report).
    rig, pipeline, port, transport, hooks = await wired(make_rig, receiver, limit=80)
    try:
        send(port, orjson.dumps({"Kind": "org_quota", "OrgID": "org1", "Session": session(2, org="org1")}))
        await wait_records(pipeline, 1)
        await rig.settle()
    finally:
        transport.close()
    assert [r.body for r in receiver.requests] == [MONITOR_TEMPLATE_BODY.replace(b'"key1"', b'""')]
    assert dict(pipeline.stats.rejected) == {}
