"""systemd as shipped (docs/operations.md, "Under systemd"): the unit's hardening score and
validity, the sysusers.d file, STATE_DIRECTORY / RUNTIME_DIRECTORY, and journald priority
prefixes, the last two with the real daemon."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event, log_handler
from tests.support.servers import free_port
from tykevents.config import load_config

UNIT = ROOT / "deploy" / "tykevents.service"
SYSUSERS = ROOT / "deploy" / "tykevents.sysusers"
MAX_EXPOSURE = 2.5


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: the shipped unit cannot be analysed here")
    return path


def _unit_directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", "[")):
            out.setdefault(key.strip(), []).append(value.strip())
    return out


# --- the unit and sysusers.d file ---------------------------------------------------------------


def test_unit_exposure_is_at_most_2_5(tmp_path: Path):
    tool = _tool("systemd-analyze")
    unit = tmp_path / "tykevents.service"
    shutil.copy(UNIT, unit)
    run = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for tykevents\.service: (\d+\.\d+)", run.stdout)
    assert m, run.stdout + run.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE, run.stdout


def test_unit_verifies(tmp_path: Path):
    """`systemd-analyze verify` checks every directive is known and well formed; offline it also
    wants ExecStart's binary to exist, so the copy points at this checkout's."""
    tool = _tool("systemd-analyze")
    exe = ROOT / ".venv" / "bin" / "tykevents"
    if not exe.exists():
        pytest.skip(f"{exe} is absent: verify needs an existing ExecStart binary")
    unit = tmp_path / "tykevents.service"
    unit.write_text(UNIT.read_text().replace("/opt/tykevents/.venv/bin/tykevents", str(exe)))
    run = subprocess.run([tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr


def test_unit_keeps_what_the_daemon_needs():
    d = _unit_directives()
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] and d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["StateDirectory"] == ["tykevents"] and d["RuntimeDirectory"] == ["tykevents"]
    assert d["User"] == d["Group"] == ["tykevents"]
    families = " ".join(d["RestrictAddressFamilies"]).split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert d["ProtectSystem"] == ["strict"] and "PrivateNetwork" not in d  # outbound HTTP
    assert "@chown" in d["SystemCallFilter"]  # tykevents.listen.unix_group


def test_sysusers_creates_the_user(tmp_path: Path):
    tool = _tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    run = subprocess.run(
        [tool, "--dry-run", f"--root={tmp_path}", "-"],
        input=SYSUSERS.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Creating group 'tykevents'" in out and "Creating user 'tykevents'" in out, out
    assert not list((tmp_path / "etc").iterdir())  # a dry run writes nothing


# --- STATE_DIRECTORY / RUNTIME_DIRECTORY ---------------------------------------------------------


def test_config_paths_follow_systemd_directories(tmp_path: Path):
    conf = tmp_path / "tyk.conf"
    conf.write_text("{}")
    plain = load_config(conf, env={})
    assert plain.state_path("var/dl.jsonl") == tmp_path / "var/dl.jsonl"
    assert plain.runtime_path("in.sock") == tmp_path / "in.sock"
    env = {"STATE_DIRECTORY": "/var/lib/tykevents:/var/lib/other", "RUNTIME_DIRECTORY": "/run/tykevents"}
    cfg = load_config(conf, env=env)
    assert cfg.state_path("var/dl.jsonl") == Path("/var/lib/tykevents/var/dl.jsonl")
    assert cfg.runtime_path("in.sock") == Path("/run/tykevents/in.sock")
    assert cfg.state_path("/srv/dl.jsonl") == Path("/srv/dl.jsonl")  # absolute paths stay
    assert cfg.runtime_path("/srv/in.sock") == Path("/srv/in.sock")
    assert cfg.path("apps") == tmp_path / "apps"  # everything else: tyk.conf's directory


def _send_dgram(path: Path, records: list[dict]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        for r in records:
            s.sendto(json.dumps(r).encode(), str(path))


def _send_stream(path: Path, records: list[dict]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in records))


def test_daemon_puts_state_and_sockets_in_systemd_directories(run_daemon, tmp_path: Path):
    state, runtime = tmp_path / "state", tmp_path / "runtime"
    state.mkdir()
    runtime.mkdir()
    dead_target = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: refused at once
    hook = {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": dead_target},
    }
    d: DaemonProcess = run_daemon(
        conf={
            "tykevents": {
                "listen": {"unix_dgram": ["ingest.sock"], "unix_stream": ["ingest-stream.sock"]},
                "webhooks": {"dead_letter_path": "var/dead-letter.jsonl", "max_attempts": 1},
            }
        },
        apps={"a.json": classic_api("a", {"QuotaExceeded": [hook], "AuthFailure": [log_handler("p")]})},
        env={"STATE_DIRECTORY": str(state), "RUNTIME_DIRECTORY": str(runtime)},
    )
    assert (runtime / "ingest.sock").is_socket() and (runtime / "ingest-stream.sock").is_socket()
    assert not (tmp_path / "ingest.sock").exists() and not (tmp_path / "ingest-stream.sock").exists()
    _send_dgram(runtime / "ingest.sock", [event("AuthFailure", "a")])
    _send_stream(runtime / "ingest-stream.sock", [event("QuotaExceeded", "a")])
    d.wait_log(r"message=p:AuthFailure")
    dead = state / "var" / "dead-letter.jsonl"
    d.wait_until(lambda: dead.exists() and dead.read_text().strip(), 15, f"a dead letter in {dead}")
    assert json.loads(dead.read_text().splitlines()[0])  # one JSON record per line
    assert not (tmp_path / "var").exists()  # not next to tyk.conf
    assert d.stop() == 0


# --- journald priority prefixes -------------------------------------------------------------------

PRIORITY = {"error": "3", "warning": "4", "info": "6", "debug": "7"}


def _journal_env(tmp_path: Path) -> dict[str, str]:
    """JOURNAL_STREAM naming the daemon's stderr (its log file), as systemd names its socket."""
    log = tmp_path / "daemon.log"
    log.touch()
    st = log.stat()
    return {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}


def _levels_by_prefix(text: str, fmt: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        m = re.fullmatch(r"<(\d)>(.*)", line)
        assert m, f"line without a priority prefix: {line!r}"
        level = json.loads(m.group(2))["level"] if fmt == "json" else re.search(r"level=(\w+)", line).group(1)
        out.append((m.group(1), level))
    return out


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_journald_lines_carry_their_priority(run_daemon, tmp_path: Path, fmt: str):
    # A webhook URL without a scheme logs errors (at load and when sent); the log handler warns.
    bad_hook = {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": "/rel"},
    }
    d: DaemonProcess = run_daemon(
        conf={"tykevents": {"logging": {"format": fmt}}},
        apps={"a.json": classic_api("a", {"AuthFailure": [log_handler("p"), bad_hook]})},
        env=_journal_env(tmp_path),
    )
    d.send_udp([event("AuthFailure", "a")])
    d.wait_log("p:AuthFailure")
    assert d.stop() == 0
    pairs = _levels_by_prefix(d.log(), fmt)
    assert {level for _, level in pairs} >= {"error", "warning", "info"}, pairs
    assert all(prio == PRIORITY[level] for prio, level in pairs), pairs


def test_no_prefixes_when_stderr_is_not_the_journal(run_daemon, tmp_path: Path):
    # Inherited from a parent whose stderr was the journal, but ours is a file: no prefixes.
    d: DaemonProcess = run_daemon(env={"JOURNAL_STREAM": "1:2"})
    assert d.stop() == 0
    lines = d.log().splitlines()
    assert lines and all(ln.startswith("level=") for ln in lines), lines
