"""Lifecycle edges: a start that fails, reloads under load, and HTTP ingest while draining."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event
from tests.support.servers import free_port
from tykevents.config import Lanes as LaneSettings
from tykevents.ingest.http import ingest_app
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime.metrics import Stats
from tykevents.work import Lanes

pytestmark = pytest.mark.e2e

COUNTER_JS = """
var countHandler = new TykJS.TykEventHandlers.NewEventHandler({});
countHandler.NewHandler(function(event, context) { log("counted " + event.Meta.Path); });
"""


def test_a_failed_start_says_why_in_one_line_and_exits_1(tmp_path: Path):
    conf = tmp_path / "tyk.conf"
    (tmp_path / "apps").mkdir()
    conf.write_text(
        json.dumps(
            {
                "app_path": "apps",
                "storage": {"host": "127.0.0.1", "port": free_port(), "timeout": 1},
                "tykevents": {
                    "state": "redis",
                    "listen": {"udp": [f"127.0.0.1:{free_port()}"]},
                    "metrics": f"127.0.0.1:{free_port()}",
                },
            }
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "tykevents", "run", "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 1
    assert "cannot start: ConnectionError" in out.stderr
    assert "Traceback" not in out.stderr


def test_reload_under_load_loses_no_js_call(tmp_path: Path):
    (tmp_path / "apps").mkdir(exist_ok=True)
    (tmp_path / "apps" / "count.js").write_text(COUNTER_JS)
    apps = {
        "a.json": classic_api(
            "a",
            {
                "AuthFailure": [
                    {
                        "handler_name": "eh_dynamic_handler",
                        "handler_meta": {"name": "countHandler", "path": "apps/count.js"},
                    }
                ]
            },
        )
    }
    d = DaemonProcess(
        tmp_path, apps=apps, conf={"enable_jsvm": True, "tykevents": {"logging": {"file": "daemon-file.log"}}}
    ).start()
    try:
        n = 3000
        batch = [event("AuthFailure", "a", {"Path": f"/p{i}"}) for i in range(n)]
        d.send_tcp(batch[: n // 2])
        d.reload(expect_generation=2)  # retires generation 1 while its calls may still be queued
        d.send_tcp(batch[n // 2 :])
        d.wait_until(lambda: d.stats()["handled"].get("js", 0) >= n, 60, "every JS call")
        assert d.metric("tykevents_js_total", what="failures") == 0
        assert d.metric("tykevents_js_total", what="calls") == n
        assert d.stats()["failed"].get("js", 0) == 0
    finally:
        assert d.stop() == 0
    assert (tmp_path / "daemon-file.log").read_text().count("counted /p") == n


async def test_http_ingest_refuses_while_draining():
    stats = Stats()
    pipeline = Pipeline(RouteTable(by_api={"a": {}}), Lanes(LaneSettings(), stats), stats, 1 << 20)
    accepting = [True]
    app: web.Application = ingest_app(lambda: pipeline, 1 << 20, accepting=lambda: accepting[0])
    async with TestClient(TestServer(app)) as client:
        body = "\n".join(json.dumps(event("AuthFailure", "a", {})) for _ in range(3))
        r = await client.post("/events", data=body)
        assert r.status == 202 and await r.json() == {"records": 3, "rejected": 0}
        accepting[0] = False
        r = await client.post("/events", data=body)
        assert r.status == 503
        assert stats.records == 3  # nothing of the refused batch was taken


async def test_http_big_batch_is_fed_in_slices_and_counted_once():
    stats = Stats()
    pipeline = Pipeline(RouteTable(by_api={"a": {}}), Lanes(LaneSettings(), stats), stats, 1 << 20)
    app = ingest_app(lambda: pipeline, 64 << 20)
    lines = [json.dumps(event("AuthFailure", "a", {"Path": "/" + "x" * 200})) for _ in range(5000)]
    lines[2500] = "{broken"
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/events", data=io.BytesIO("\n".join(lines).encode()))
        assert r.status == 202 and await r.json() == {"records": 4999, "rejected": 1}
    assert stats.datagrams["http"] == 1
