"""`tykevents gateway-defs`: the gateway's API definitions from tykevents' own (Classic, Tyk OAS
pairs and standalone OAS files; with and without handlers and drivers), and idempotence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tykevents.cli.gateway import FORWARDER_NAME, grpc_target, tyk_conf_lines
from tykevents.cli.main import main

APPS = Path(__file__).resolve().parents[1] / "data" / "gateway" / "apps"
FWD = {"handler_name": "cp_dynamic_handler", "handler_meta": {"name": FORWARDER_NAME}}


def run(apps: Path, out: Path, *extra: str, capsys=None) -> str:
    assert main(["gateway-defs", str(apps), str(out), *extra]) == 0
    return capsys.readouterr().out if capsys is not None else ""


def load(path: Path):
    return json.loads(path.read_bytes())


def events(doc: dict, key: str = "event_handlers") -> dict:
    return doc[key]["events" if key == "event_handlers" else "Events"]


@pytest.fixture
def out(tmp_path: Path, capsys) -> tuple[Path, str]:
    o = tmp_path / "gw"
    return o, run(APPS, o, capsys=capsys)


def test_classic_events_with_handlers_get_one_forwarder_and_the_grpc_driver(out):
    o, _ = out
    src, doc = load(APPS / "classic.json"), load(o / "classic.json")
    ev = events(doc)
    assert ev["AuthFailure"] == [FWD]  # the webhook and log handler now run in tykevents
    assert ev["KeyExpired"] == [events(src)["KeyExpired"][1], FWD]  # an unknown handler stays
    assert ev["QuotaExceeded"] == events(src)["QuotaExceeded"]  # only disabled handlers: nothing to do
    assert ev["TokenCreated"] == events(src)["TokenCreated"]  # a system event: never fired to an API
    assert doc["custom_middleware"]["driver"] == "grpc"
    # Everything else is untouched, in the same key order (values, unicode and floats included).
    assert list(doc) == list(src)
    assert list(doc["custom_middleware"]) == list(src["custom_middleware"])
    for k in src:
        if k not in ("event_handlers", "custom_middleware"):
            assert doc[k] == src[k] and type(doc[k]) is type(src[k])
    text = (o / "classic.json").read_text()
    assert '"ratio": 1.0' in text and '"unicode": "é 世界 <&>"' in text
    assert text.startswith('{\n  "name"')  # the file's own indentation


def test_keys_are_found_case_insensitively_as_go_reads_them(out):
    o, report = out
    doc = load(o / "mixed_case.json")
    assert list(doc) == ["API_ID", "Org_Id", "Event_Handlers", "Custom_Middleware"]
    assert events(doc, "Event_Handlers") == {"RatelimitExceeded": [FWD]}
    assert doc["Custom_Middleware"] == {"Driver": "grpc"}  # no second "driver" key
    assert "custom_middleware.driver 'otto' had no hooks: set to grpc" in report
    assert (o / "mixed_case.json").read_text().startswith('{\n    "API_ID"')


def test_apis_whose_driver_is_in_use_are_copied_unchanged_and_said_so(out):
    o, report = out
    for name in ("python_bundle.json", "grpc_hooks.json", "no_handlers.json", "webhooks_list.json"):
        assert (o / name).read_bytes() == (APPS / name).read_bytes(), name
    py = next(ln for ln in report.splitlines() if ln.startswith("python_bundle.json"))
    assert "not forwarded (AuthFailure)" in py and "python driver" in py
    assert "custom_middleware_bundle" in py and "cp_dynamic_handler entries of its own" in py
    own = next(ln for ln in report.splitlines() if ln.startswith("grpc_hooks.json"))
    assert "its own gRPC plugin server" in own and "docs/protocol.md" in own
    assert "no_handlers.json" not in report  # nothing to forward: nothing to say


def test_an_api_already_on_grpc_without_hooks_keeps_one_forwarder(out):
    o, _ = out
    doc = load(o / "grpc_forwarded.json")
    assert events(doc) == {"HostDown": [FWD], "HostUp": [FWD]}  # duplicates collapse to one
    assert doc["custom_middleware"] == load(APPS / "grpc_forwarded.json")["custom_middleware"]


def test_oas_pair_gets_forwarders_in_its_classic_twin_and_the_driver_in_both(out):
    o, report = out
    classic, oas = load(o / "pair.json"), load(o / "pair-oas.json")
    assert events(classic)["AuthFailure"] == [FWD]
    assert events(classic)["KeyExpired"] == events(load(APPS / "pair.json"))["KeyExpired"]
    assert classic["custom_middleware"]["driver"] == "grpc"
    x = oas["x-tyk-api-gateway"]
    assert x["middleware"] == {"global": {"pluginConfig": {"driver": "grpc"}}}
    # The OAS twin drops the handler tykevents now runs, so that Tyk's ExtractTo agrees.
    assert [h["trigger"] for h in x["server"]["eventHandlers"]] == ["KeyExpired"]
    assert list(x) == [*load(APPS / "pair-oas.json")["x-tyk-api-gateway"], "middleware"]
    assert "pair.json: API pair1 (Tyk OAS, classic + OAS files): forwards AuthFailure" in report


def test_a_standalone_oas_definition_cannot_carry_a_forwarder_and_says_what_to_do(out):
    o, report = out
    assert (o / "oas_only.json").read_bytes() == (APPS / "oas_only.json").read_bytes()
    line = next(ln for ln in report.splitlines() if ln.startswith("oas_only.json"))
    assert "not forwarded (QuotaExceeded)" in line and "cannot hold a cp_dynamic_handler" in line
    assert "POST /tyk/apis/oas" in line and "Classic definition" in line


def test_running_it_on_its_own_output_changes_nothing(out, tmp_path, capsys):
    o, _ = out
    again = tmp_path / "gw2"
    report = run(o, again, capsys=capsys)
    for p in sorted(o.iterdir()):
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    assert f"wrote {len(list(o.iterdir()))} file(s) to {again} ({len(list(o.iterdir()))} unchanged)" in report


def test_keep_handlers_adds_the_forwarder_beside_them_idempotently(tmp_path, capsys):
    run(APPS, tmp_path / "k1", "--keep-handlers", capsys=capsys)
    doc = load(tmp_path / "k1" / "classic.json")
    assert events(doc)["AuthFailure"] == [*events(load(APPS / "classic.json"))["AuthFailure"], FWD]
    oas = load(tmp_path / "k1" / "pair-oas.json")["x-tyk-api-gateway"]
    assert len(oas["server"]["eventHandlers"]) == 2
    run(tmp_path / "k1", tmp_path / "k2", "--keep-handlers", capsys=capsys)
    for p in (tmp_path / "k1").iterdir():
        assert (tmp_path / "k2" / p.name).read_bytes() == p.read_bytes()


def test_tyk_conf_lines_point_at_tykevents_listeners(tmp_path, capsys):
    conf = tmp_path / "tyk.conf"
    conf.write_text(
        json.dumps(
            {
                "event_handlers": {"events": {"TokenCreated": [], "TokenDeleted": [], "AuthFailure": []}},
                "tykevents": {
                    "listen": {"grpc": ["10.0.0.5:9904"], "http": ["0.0.0.0:9903"], "http_auth": True}
                },
            }
        )
    )
    report = run(APPS, tmp_path / "o", "-c", str(conf), capsys=capsys)
    assert '"enable_coprocess": true,' in report
    assert '"coprocess_grpc_server": "tcp://10.0.0.5:9904"' in report
    tail = report[report.index('"event_handlers"') :]
    assert '"TokenCreated"' in tail and '"TokenDeleted"' in tail and "AuthFailure" not in tail
    assert "http://<tykevents host>:9903/events" in tail and "tykevents_forward.json" in tail
    assert "x-tyk-authorization" in tail and '"event_timeout": 1' in tail
    snippet = "{" + tail[: tail.rindex("}}") + 2] + "}"
    assert set(json.loads(snippet)["event_handlers"]["events"]) == {"TokenCreated", "TokenDeleted"}


def test_grpc_targets_in_tyks_coprocess_grpc_server_form():
    assert grpc_target("127.0.0.1:9904") == "tcp://127.0.0.1:9904"
    assert grpc_target("0.0.0.0:9904") == "tcp://<tykevents host>:9904"
    assert grpc_target("unix:/run/tykevents/grpc.sock") == "unix:///run/tykevents/grpc.sock"
    assert grpc_target("/run/g.sock") == "unix:///run/g.sock"
    assert grpc_target("tcp://h:1") == "tcp://h:1"
    lines = tyk_conf_lines(None)
    assert any("tykevents.listen.grpc is not set" in ln for ln in lines)
    tls = {"tykevents": {"listen": {"grpc": ["10.0.0.5:9905", "unix:/run/g.sock"], "grpc_cert_file": "c"}}}
    assert '"coprocess_grpc_server": "unix:///run/g.sock"' in "\n".join(tyk_conf_lines(tls))
    tls["tykevents"]["listen"]["grpc"] = ["10.0.0.5:9905"]
    assert any("Tyk's gRPC client does not speak" in ln for ln in tyk_conf_lines(tls))


def test_refuses_to_write_over_its_input(tmp_path, capsys):
    shutil.copytree(APPS, tmp_path / "apps")
    assert main(["gateway-defs", str(tmp_path / "apps"), str(tmp_path / "apps")]) == 2
    assert "OUT_DIR must not be APPS_DIR" in capsys.readouterr().err
    assert main(["gateway-defs", str(tmp_path / "missing"), str(tmp_path / "o")]) == 2


def test_the_output_loads_in_tykevents_as_the_same_apis(out):
    from tykevents.apps import load_apps

    o, _ = out
    before, _ = load_apps(APPS)
    after, _ = load_apps(o)
    assert [a.api_id for a in before] == [a.api_id for a in after]
    fwd = [(a.api_id, h.event) for a in after for h in a.handlers if h.meta == {"name": FORWARDER_NAME}]
    assert sorted(fwd) == sorted(
        [
            ("already", "HostDown"),
            ("already", "HostUp"),
            ("mixed", "RatelimitExceeded"),
            ("orders", "AuthFailure"),
            ("orders", "KeyExpired"),
            ("pair1", "AuthFailure"),
        ]
    )
