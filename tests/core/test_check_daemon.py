"""What `check` reports, as the real daemon lives it: a handler name Tyk does not know is
skipped with a warning while the API's other handlers work, two definitions of one api_id
run the one Tyk's registry keeps, and a tyk.conf key Tyk would ignore is logged once per
generation (at start and at each reload)."""

from __future__ import annotations

import pytest

from tests.support.daemon import classic_api, event, log_handler

pytestmark = pytest.mark.e2e

META = {"Message": "Auth Failure", "Path": "/p", "Origin": "127.0.0.1", "Key": "abcdefgh1234"}


def with_path(doc: dict, listen_path: str) -> dict:
    return {**doc, "proxy": {"listen_path": listen_path}}


def test_daemon_runs_what_check_reports(run_daemon):
    apps = {
        # first by name, but the longer listen path: Tyk's registry keeps b.json
        "a.json": with_path(classic_api("dup", {"AuthFailure": [log_handler("from-a")]}), "/long-path/"),
        "b.json": with_path(classic_api("dup", {"AuthFailure": [log_handler("from-b")]}), "/b/"),
        "c.json": classic_api(
            "c",
            {"AuthFailure": [{"handler_name": "eh_log_handlr", "handler_meta": {}}, log_handler("from-c")]},
        ),
    }
    d = run_daemon(apps=apps, conf={"monitor": {"enable_trigger_monitor": True}})
    unknown = r"level=warning .*tyk\.conf:\$\.monitor\.enable_trigger_monitor: unknown key .*did you mean"
    d.wait_log(unknown)
    d.wait_log(r"level=warning .*a\.json:\$\.api_id: API id 'dup' is also defined in .*b\.json")
    d.wait_log(r"level=warning .*c\.json:\$\.event_handlers\.events\.AuthFailure\[0\]: Handler not found: "
               r"'eh_log_handlr': skipped \(did you mean 'eh_log_handler'\?\)")  # fmt: skip
    d.send_udp([event("AuthFailure", "dup", META), event("AuthFailure", "c", META)])
    d.wait_log(r"from-b:AuthFailure")
    d.wait_log(r"from-c:AuthFailure")
    d.reload(expect_generation=2)
    d.send_udp([event("AuthFailure", "dup", {**META, "Path": "/after-reload"})])
    d.wait_log(r"from-b:AuthFailure:.*/after-reload")
    assert len(d.wait_log(unknown)) == 2  # once per generation
    assert "from-a" not in d.log()
