"""What JS can write is capped in size (logcap.py), and an API definition's script must lie in
the allowed directories (docs/compatibility.md, JavaScript handlers)."""

from __future__ import annotations

import io
import logging
import os

import pytest

from tests.jsvm.conftest import build_context, event
from tykevents.config import Daemon, JSSettings
from tykevents.deliver.base import HandlerConfigError
from tykevents.deliver.jsvm.handler import build_js_handler, js_roots
from tykevents.deliver.jsvm.logcap import MARKER, cap

BIG = 10 << 20


def test_cap_cuts_on_a_character_boundary_and_marks_it():
    assert cap("short", 8192) == "short"
    assert cap("x" * 8192, 8192) == "x" * 8192
    assert cap("x" * 8193, 8192) == "x" * 8192 + MARKER.format(n=8193)
    # "é" is two bytes: the cut never splits one.
    assert cap("é" * 10, 5) == "éé" + MARKER.format(n=20)
    assert MARKER.format(n=1) == "…[truncated: 1 bytes in all]"
    assert cap(cap("x" * 9000, 8192), 8192) == cap("x" * 9000, 8192)  # capped once


async def test_a_10_mib_log_line_is_written_capped(make_runtime, caplog):
    caplog.set_level(logging.DEBUG, logger="tykevents.jsvm")
    raw = io.StringIO()
    rt = make_runtime(raw_stream=raw, memory_limit=128 << 20)
    rt.load_source(
        "function big() { return 'y'.repeat(%d); }\n"
        "function spam() { log(big()); rawlog(big()); }\n"
        "function boom() { throw new Error(big()); }" % BIG,
        "big.js",
    )
    await rt.call("spam")
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("yyy")]
    assert line == "y" * 8192 + MARKER.format(n=BIG)
    assert raw.getvalue() == "y" * 8192 + MARKER.format(n=BIG) + "\n"
    with pytest.raises(Exception, match="Error"):
        await rt.call("boom")
    assert all(len(r.getMessage()) < 9000 for r in caplog.records)


async def test_handler_errors_and_console_are_capped_too(make_runtime, caplog, capsys, tmp_path):
    caplog.set_level(logging.INFO, logger="tykevents.jsvm")
    rt = make_runtime(max_log_bytes=100)
    (tmp_path / "loud.js").write_text(
        "var loudHandler = new TykJS.TykEventHandlers.NewEventHandler({});\n"
        "loudHandler.NewHandler(function () { console.log(new Array(500).join('c'));\n"
        "  log(new Array(500).join('é')); throw new Error(new Array(500).join('e')); });\n"
    )
    h = build_js_handler(
        {"name": "loudHandler", "path": str(tmp_path / "loud.js")}, build_context(rt, base_dir=str(tmp_path))
    )
    await h.handle(event())
    assert capsys.readouterr().out == "c" * 100 + MARKER.format(n=499) + "\n"
    messages = [r.getMessage() for r in caplog.records if r.name == "tykevents.jsvm"]
    assert "é" * 50 + MARKER.format(n=998) in messages
    [err] = [m for m in messages if m.startswith("executing JSVM method loudHandler")]
    assert len(err.split("…")[0].encode()) == 100 and err.endswith(" bytes in all]")


@pytest.fixture
def tree(tmp_path):
    """tyk.conf's directory with apps/, event_handlers/, middleware/, shared/ and a secret."""
    for d in ("apps", "event_handlers", "middleware", "shared", "templates"):
        (tmp_path / d).mkdir()
    script = "var h = new TykJS.TykEventHandlers.NewEventHandler({});\n"
    for d in ("apps", "event_handlers", "middleware", "shared"):
        (tmp_path / d / "h.js").write_text(script)
    (tmp_path / "secret.js").write_text(script)
    os.symlink(tmp_path / "secret.js", tmp_path / "apps" / "link.js")
    return tmp_path


def build(make_runtime, tree, path, **conf):
    ctx = build_context(None, base_dir=str(tree), app_path="apps", **conf)
    ctx.services.jsvm = make_runtime(ctx.config)  # the daemon builds both from one tyk.conf
    return build_js_handler({"name": "h", "path": path}, ctx)


@pytest.mark.parametrize(
    "path", ["apps/h.js", "event_handlers/h.js", "middleware/h.js", "apps/../event_handlers/h.js"]
)
def test_scripts_inside_the_app_and_js_directories_load(make_runtime, tree, path):
    assert build(make_runtime, tree, path).path == str(tree / path)


OUTSIDE = ["secret.js", "../secret.js", "apps/../secret.js", "apps/link.js", "shared/h.js"]


@pytest.mark.parametrize("path", OUTSIDE)
def test_scripts_outside_are_refused_with_the_path(make_runtime, tree, path):
    with pytest.raises(HandlerConfigError, match=r"^handler_meta\.path '.*' is outside the allowed dir"):
        build(make_runtime, tree, path)


def test_more_roots_only_through_settings(make_runtime, tree):
    shared = str(tree / "shared" / "h.js")
    assert build(make_runtime, tree, "shared/h.js", tykevents=Daemon(allowed_paths=["shared"])).path == shared
    js = Daemon(js=JSSettings(paths=["shared"]))
    assert build(make_runtime, tree, "shared/h.js", tykevents=js).path == shared
    # Without the default JS directories, event_handlers/ is outside too.
    with pytest.raises(HandlerConfigError, match="outside"):
        build(make_runtime, tree, "event_handlers/h.js", tykevents=Daemon(js=JSSettings(paths=[])))
    cfg = build_context(None, base_dir=str(tree), app_path="apps", middleware_path="mw").config
    assert js_roots(cfg) == [tree / "templates", tree / "apps", tree / "mw", tree / "event_handlers"]
