"""JSHandler and its builder with Tyk-style sample scripts (tests/data/js)."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
import pytest

from tests.jsvm.conftest import JS, build_context, event
from tykevents.deliver.base import HandlerConfigError, HandlerDisabled
from tykevents.deliver.jsvm.collisions import find_global_collisions
from tykevents.deliver.jsvm.handler import JSHandler, JSVMConf, build_js_handler
from tykevents.golang.json import scan


def handler(rt, name, path, **ctx_kw) -> JSHandler:
    return build_js_handler({"name": name, "path": path}, build_context(rt, **ctx_kw))


async def test_sample_logging_handler(make_runtime, js_logs):
    rt = make_runtime()
    h = handler(rt, "sampleHandler", "sample_event_handler.js")
    assert h.kind == "js" and h.name == "sampleHandler"
    assert "Loading JS File: sample_event_handler.js" in js_logs()
    assert "Sample JS event handler initialised" in js_logs()
    await h.handle(event())
    assert "Running sample JSVM Handler: AuthFailure on api-1 (org-1) path /get" in js_logs()
    # Tyk's DoProcessEvent trace line is kept, at DEBUG.
    assert "Calling built - in handle" in js_logs()
    assert rt.stats.calls == 1 and rt.stats.failures == 0


async def test_event_and_context_are_tyks_json(make_runtime, js_logs, tmp_path):
    rt = make_runtime()
    rt.load_source(
        """
        var echo = new TykJS.TykEventHandlers.NewEventHandler({});
        echo.NewHandler(function (event, context) {
            log(JSON.stringify(event)); log(JSON.stringify(context)); log(String(this === echo));
        });""",
        "echo.js",
    )
    hid = rt.register_handler("echo", "echo.js")
    h = JSHandler(JSVMConf(name="echo", path="echo.js"), "w", rt, hid, "api-<1>", "org&1")
    ev = event(meta={"Message": "m", "Key": "k", "Nested": {"a": [1, 2.5, None, True]}})
    await h.handle(ev)
    logs = js_logs()
    assert orjson.loads(logs[-3]) == orjson.loads(ev.message_json())
    assert list(orjson.loads(logs[-3])) == ["Type", "Meta", "TimeStamp"]
    assert logs[-2] == '{"APIID":"api-<1>","OrgID":"org&1"}'
    assert h.context_json == '{"APIID":"api-\\u003c1\\u003e","OrgID":"org\\u00261"}'  # Go's Marshal
    assert logs[-1] == "true"  # `this` is the handler object


def test_conf_decoding_as_tyk():
    # api_definitions_test.go:733-752 and event_handler_jsvm_test.go:9-45
    conf = scan(
        {"disabled": True, "id": "1234", "name": "myMethod", "path": "my_script.js"},
        JSVMConf,
        "apidef.JSVMEventHandlerConf",
    )
    assert conf == JSVMConf(disabled=True, id="1234", name="myMethod", path="my_script.js")
    with pytest.raises(
        HandlerDisabled,
        match="skipping disabled jsvm event handler with method name myMethod at path my_script.js",
    ):
        build_js_handler(
            {"disabled": True, "id": "1234", "name": "myMethod", "path": "my_script.js"}, build_context(None)
        )


def test_builder_errors(make_runtime):
    rt = make_runtime()
    # JS handlers among tyk.conf's global handlers: Tyk says "Handler not found".
    with pytest.raises(HandlerConfigError, match="^Handler not found$"):
        handler(rt, "sampleHandler", "sample_event_handler.js", api_id="")
    with pytest.raises(HandlerConfigError, match="Problem getting configuration"):
        build_js_handler({"name": 5, "path": "x.js"}, build_context(rt))
    with pytest.raises(HandlerConfigError, match="enable_jsvm"):
        handler(rt, "sampleHandler", "sample_event_handler.js", enable_jsvm=False)
    with pytest.raises(HandlerConfigError, match="not running"):
        handler(None, "sampleHandler", "sample_event_handler.js")
    with pytest.raises(HandlerConfigError, match="path"):
        build_js_handler({"name": "sampleHandler"}, build_context(rt))
    with pytest.raises(HandlerConfigError, match="Failed to open JS middleware file"):
        handler(rt, "sampleHandler", "missing.js")
    with pytest.raises(HandlerConfigError, match=r"Unsupported extension '\.py' \(handler\.py\)"):
        handler(rt, "sampleHandler", "handler.py")
    with pytest.raises(HandlerConfigError, match="not a JS identifier"):
        handler(rt, "x; y", "sample_event_handler.js")


async def test_keys_match_case_insensitively(make_runtime, js_logs):
    rt = make_runtime()
    h = build_js_handler(
        {"Name": "sampleHandler", "PATH": "sample_event_handler.js", "Extra": 1}, build_context(rt)
    )
    await h.handle(event())
    assert any(line.startswith("Running sample JSVM Handler") for line in js_logs())


async def test_syntax_error_is_reported_with_file_and_line_and_skipped(make_runtime, js_logs):
    rt = make_runtime()
    good = handler(rt, "sampleHandler", "sample_event_handler.js")
    with pytest.raises(HandlerConfigError) as info:
        handler(rt, "brokenHandler", "syntax_error.js")
    assert str(info.value).startswith("syntax_error.js:5: Failed to load JS middleware: SyntaxError:")
    assert rt.stats.load_errors == 1
    await good.handle(event())
    assert any(line.startswith("Running sample JSVM Handler") for line in js_logs())


async def test_exception_at_call_time_is_logged_with_name_file_line(make_runtime, js_logs, caplog):
    rt = make_runtime()
    bad = handler(rt, "throwingHandler", "throws.js")
    good = handler(rt, "sampleHandler", "sample_event_handler.js")
    await bad.handle(event())
    await good.handle(event())
    errors = [r for r in caplog.records if r.name == "tykevents.jsvm" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        "executing JSVM method throwingHandler.DoProcessEvent at throws.js:7: "
        "TypeError: cannot read property 'Field' of undefined"
    )
    assert "about to fail" in js_logs()
    assert any(line.startswith("Running sample JSVM Handler") for line in js_logs())
    assert (rt.stats.calls, rt.stats.failures) == (2, 1)
    # A handler that keeps failing is reported at most once per interval, with a count.
    for _ in range(3):
        await bad.handle(event())
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert rt.stats.failures == 4


async def test_undefined_handler_name_fails_per_event_like_tyk(make_runtime, caplog):
    rt = make_runtime()
    h = handler(rt, "notDefinedAnywhere", "sample_event_handler.js")
    assert any("notDefinedAnywhere is not defined after loading" in r.getMessage() for r in caplog.records)
    await h.handle(event())
    assert any(
        "ReferenceError: 'notDefinedAnywhere' is not defined" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )


async def test_endless_loop_is_stopped_and_others_keep_working(make_runtime, caplog, js_logs):
    rt = make_runtime(call_time_limit=0.3)
    spin = handler(rt, "spinHandler", "endless_loop.js")
    good = handler(rt, "sampleHandler", "sample_event_handler.js")
    loop = asyncio.get_running_loop()
    # The event loop is never blocked while JS spins: this timer fires on time.
    ticks: list[float] = []
    timer = loop.call_later(0.1, lambda: ticks.append(time.monotonic()))
    t0 = time.monotonic()
    await asyncio.gather(spin.handle(event()), good.handle(event()), spin.handle(event()))
    elapsed = time.monotonic() - t0
    timer.cancel()
    assert ticks and ticks[0] - t0 < 0.25
    assert 0.55 <= elapsed < 2.0  # two stopped calls, 0.3 s each
    assert rt.stats.timeouts == 2
    assert any(line.startswith("Running sample JSVM Handler") for line in js_logs())
    err = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR][0]
    assert err.startswith("executing JSVM method spinHandler.DoProcessEvent at endless_loop.js:")
    assert "time limit" in err
    # try/catch in the script cannot swallow the interrupt.
    rt.load_source(
        """var sneaky = new TykJS.TykEventHandlers.NewEventHandler({});
        sneaky.NewHandler(function () { for (;;) { try { for (;;) {} } catch (e) { log("caught"); } } });""",
        "sneaky.js",
    )
    assert await rt.call_handler(rt.register_handler("sneaky", "sneaky.js"), "{}", "{}") is False
    assert "caught" not in js_logs()
    await good.handle(event())
    assert rt.stats.timeouts == 3


async def test_top_level_endless_loop_at_load_is_a_load_error(make_runtime, tmp_path):
    rt = make_runtime(call_time_limit=0.1)
    rt.load_time_limit = 0.3
    path = tmp_path / "spin_at_load.js"
    path.write_text("var x = 0;\nwhile (true) { x++; }\n")
    with pytest.raises(HandlerConfigError, match="time limit"):
        build_js_handler({"name": "x", "path": str(path)}, build_context(rt, base_dir=str(tmp_path)))


async def test_memory_hog_is_stopped_and_others_keep_working(make_runtime, caplog, js_logs):
    rt = make_runtime(memory_limit=8 << 20, call_time_limit=5)
    hog = handler(rt, "hogHandler", "memory_hog.js")
    good = handler(rt, "sampleHandler", "sample_event_handler.js")
    await hog.handle(event())
    await good.handle(event())
    assert rt.stats.out_of_memory == 1
    assert rt.stats.rebuilds == 0  # the hog's memory was local: freed when it unwound
    err = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR][0]
    assert err.startswith("executing JSVM method hogHandler.DoProcessEvent")
    assert "out of memory" in err
    assert any(line.startswith("Running sample JSVM Handler") for line in js_logs())


async def test_memory_held_in_globals_rebuilds_the_vm(make_runtime, js_logs):
    rt = make_runtime(memory_limit=8 << 20, call_time_limit=5)
    rt.load_source(
        """var hoard = [];
        var hoarder = new TykJS.TykEventHandlers.NewEventHandler({});
        hoarder.NewHandler(function () {
            while (true) { hoard.push(new Array(1024).join("y") + hoard.length); }
        });
        """,
        "hoarder.js",
    )
    good = handler(rt, "sampleHandler", "sample_event_handler.js")
    assert await rt.call_handler(rt.register_handler("hoarder", "hoarder.js"), "{}", "{}") is False
    assert rt.stats.rebuilds == 1
    await good.handle(event())  # the rebuilt VM has every script and handler again
    assert js_logs().count("Sample JS event handler initialised") == 2
    assert js_logs()[-1].startswith("Running sample JSVM Handler")


async def test_same_global_in_two_files_last_loaded_wins(make_runtime, js_logs):
    rt = make_runtime()
    a = handler(rt, "notifyHandler", "collide_a.js")
    b = handler(rt, "notifyHandler", "collide_b.js")
    await a.handle(event())
    await b.handle(event())
    assert [line for line in js_logs() if line.startswith("handled by")] == ["handled by collide_b"] * 2
    a_path, b_path = str(JS / "collide_a.js"), str(JS / "collide_b.js")
    assert (a.path, b.path) == (a_path, b_path)  # what `tykevents check` scans
    assert find_global_collisions([a_path, b_path, a_path]) == [
        ("formatEvent", a_path, b_path),
        ("notifyHandler", a_path, b_path),
    ]
    assert find_global_collisions([str(JS / "sample_event_handler.js"), a_path]) == []


async def test_a_file_named_by_two_handlers_runs_twice_like_tyk(make_runtime, js_logs):
    rt = make_runtime()
    handler(rt, "sampleHandler", "sample_event_handler.js")
    handler(rt, "sampleHandler", "sample_event_handler.js")
    assert js_logs().count("Sample JS event handler initialised") == 2


async def test_reload_reloads_every_script(make_runtime, js_logs, tmp_path):
    script = tmp_path / "counter.js"
    script.write_text((JS / "counter.js").read_text())
    gen1 = make_runtime()
    h1 = handler(gen1, "countHandler", str(script), base_dir=str(tmp_path))
    await h1.handle(event())
    await h1.handle(event())
    assert js_logs()[-1] == "counter v1: event 2, load 1"
    # SIGHUP: a new runtime for the new generation; the unchanged API's handler is rebuilt
    # too, so the edited script is what runs (Tyk K1 left the old one unloaded).
    script.write_text(script.read_text().replace("counter v1", "counter v2"))
    gen2 = make_runtime()
    h2 = handler(gen2, "countHandler", str(script), base_dir=str(tmp_path))
    await h2.handle(event())
    assert js_logs()[-1] == "counter v2: event 1, load 1"
    # The old generation finishes what it had queued, then closes.
    pending = [asyncio.ensure_future(h1.handle(event())) for _ in range(3)]
    await asyncio.sleep(0)  # the worker tasks have queued their calls
    await gen1.aclose()
    await asyncio.gather(*pending)
    assert "counter v1: event 5, load 1" in js_logs()
    assert gen1.stats.calls == 5


async def test_underscore_when_installed(make_runtime):
    rt = make_runtime(underscore_path="")
    assert await rt.call("eval", "typeof _") == "undefined"
    path = next(
        (
            p
            for p in (
                "/usr/share/javascript/underscore/underscore.min.js",
                "/usr/share/javascript/underscore/underscore.js",
            )
            if __import__("os").path.exists(p)
        ),
        None,
    )
    if path is None:
        pytest.skip("Debian's libjs-underscore is not installed")
    rt2 = make_runtime(underscore_path=path)
    assert await rt2.call("eval", "_.map([1, 2, 3], function (x) { return x * 2; }).join(',')") == "2,4,6"


async def test_tyk_js_path_is_loaded_after_the_bootstrap(make_runtime, js_logs, tmp_path, caplog):
    (tmp_path / "tyk_extra.js").write_text(
        "function shout(s) { return s.toUpperCase() + '!'; }\nlog('user TykJS loaded');\n"
    )
    (tmp_path / "uses_extra.js").write_text(
        "var handlers = {};\nhandlers.loud = new TykJS.TykEventHandlers.NewEventHandler({});\n"
        "handlers.loud.NewHandler(function (event) { log(shout(event.Type)); });\n"
    )
    rt = make_runtime(build_context(None, base_dir=str(tmp_path), tyk_js_path="tyk_extra.js").config)
    assert rt.files == ["tyk_extra.js"] and "user TykJS loaded" in js_logs()
    # A dotted handler name works, as Tyk pastes the name into `<name>.DoProcessEvent(...)`.
    h = build_js_handler(
        {"name": "handlers.loud", "path": "uses_extra.js"}, build_context(rt, base_dir=str(tmp_path))
    )
    await h.handle(event("KeyExpired"))
    assert js_logs()[-1] == "KEYEXPIRED!"
    # A broken tyk_js_path is reported; the VM still works.
    (tmp_path / "bad_extra.js").write_text("function (\n")
    rt2 = make_runtime(build_context(None, base_dir=str(tmp_path), tyk_js_path="bad_extra.js").config)
    assert any(
        r.getMessage().startswith("Could not load user's TykJS: bad_extra.js:1:")
        for r in caplog.records
        if r.levelno == logging.ERROR
    )
    assert await rt2.call("b64enc", "a") == "YQ=="


async def test_plain_dict_config(make_runtime):
    rt = make_runtime({"tyk_js_path": str(JS / "collide_a.js")})
    assert await rt.call("eval", "onlyInA + formatEvent({Type: 'X'})") == "1A:X"


async def test_check_mode_builds_one_vm_for_all_handlers():
    ctx = build_context(None)
    ctx.services.check_only = True
    a = build_js_handler({"name": "notifyHandler", "path": "collide_a.js"}, ctx)
    b = build_js_handler({"name": "notifyHandler", "path": "collide_b.js"}, ctx)
    assert a.runtime is b.runtime is ctx.services.jsvm
    assert a.runtime.files == ["collide_a.js", "collide_b.js"]
    await a.close()
    await b.close()
    with pytest.raises(RuntimeError, match="closed"):
        await a.handle(event())
