"""`tykevents deadletter` and `tykevents deliveries`, against a running daemon's admin API
(--admin) and on the host (the store tyk.conf names)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.admin.helpers import SECRET, call, conf, hook, secret_hook_api
from tests.support.daemon import ROOT, DaemonProcess, classic_api, event
from tests.support.threaded import ThreadedReceiver

pytestmark = pytest.mark.e2e


def cli(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tykevents", *args, "-c", str(d.conf_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def lines(out: subprocess.CompletedProcess[str]) -> list[dict]:
    assert out.returncode == 0, out.stdout + out.stderr
    return [json.loads(ln) for ln in out.stdout.splitlines()]


def wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def setup(run_daemon):
    """A daemon with three dead letters (one of API a, two of API b) and a receiver that
    answers 500 until told otherwise."""
    failing = {"on": True}
    r = ThreadedReceiver(lambda req: 500 if failing["on"] else 200)
    apps = {
        "a.json": secret_hook_api("a", r.url("/a")),
        "b.json": classic_api("b", {"AuthFailure": [hook(r.url("/b"))]}),
    }
    d = run_daemon(conf=conf(), apps=apps)
    d.send_udp([event("AuthFailure", "a"), event("AuthFailure", "b"), event("AuthFailure", "b")])
    stored = lambda: call(d, "GET", "/api/status")[1]["counters"]["dead_letters_stored"] == 3  # noqa: E731
    wait(stored, 15, "3 dead letters")
    yield d, r, failing
    r.close()


def test_deadletter_commands_against_the_admin_api(setup, tmp_path):
    d, r, failing = setup
    admin = f"http://127.0.0.1:{d.admin}"
    every = lines(cli(d, "deadletter", "list", "--admin", admin, "--json"))
    assert len(every) == 3 and "pa55word" not in json.dumps(every) and "tok-abc" not in json.dumps(every)
    (a,) = lines(cli(d, "deadletter", "list", "--admin", "--api", "a", "--json"))  # address from tyk.conf
    assert a["api_id"] == "a" and a["url"].startswith("http://****@")
    text = cli(d, "deadletter", "list", "--admin", admin, "--status", "500")
    assert text.returncode == 0 and text.stdout.endswith("3 dead letter(s)\n"), text.stdout
    bad = cli(d, "deadletter", "list", "--admin", admin, "--outcome", "nonsense")
    assert bad.returncode == 2 and "outcome" in bad.stderr
    nothing = cli(d, "deadletter", "purge", "--admin", admin)
    assert nothing.returncode == 2 and "--id ID, --all, or filters" in nothing.stderr
    # a wrong secret from a file is refused; the right one works
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    out = cli(d, "deadletter", "list", "--admin", admin, "--secret-file", str(wrong))
    assert out.returncode == 1 and "403 wrong x-tyk-authorization header" in out.stderr
    right = tmp_path / "right"
    right.write_text(SECRET + "\n")
    assert (
        len(lines(cli(d, "deadletter", "list", "--admin", admin, "--secret-file", str(right), "--json"))) == 3
    )
    # replay by filter through the daemon's retry policy
    failing["on"] = False
    out = cli(d, "deadletter", "replay", "--admin", admin, "--api", "b")
    assert out.returncode == 0 and out.stdout == "replayed 2\n", out.stdout + out.stderr
    wait(lambda: sum(q.target == "/b" for q in r.requests) == 2 * 2 + 2, 10, "the 2 replays")
    (left,) = lines(cli(d, "deadletter", "list", "--admin", admin, "--json"))
    out = cli(d, "deadletter", "purge", "--admin", admin, "--id", left["id"])
    assert out.returncode == 0 and out.stdout == "purged 1\n"
    assert cli(d, "deadletter", "list", "--admin", admin).stdout == "no dead letters\n"
    # the delivery log
    items = lines(cli(d, "deliveries", "list", "--admin", admin, "--json"))
    assert len(items) == 3 and "pa55word" not in json.dumps(items)
    assert {i["outcome"] for i in items} == {"delivered", "dead_lettered"}
    (b,) = lines(cli(d, "deliveries", "list", "--admin", admin, "--api", "b", "--limit", "1", "--json"))
    assert b["outcome"] == "delivered"
    shown = lines(cli(d, "deliveries", "show", b["id"], "--admin", admin, "--json"))[0]
    assert [x["outcome"] for x in shown["attempts"]][-1] == "delivered"
    text = cli(d, "deliveries", "show", b["id"], "--admin", admin)
    assert text.returncode == 0 and f"{b['id']}  delivered" in text.stdout
    missing = cli(d, "deliveries", "show", "nope", "--admin", admin)
    assert missing.returncode == 1 and "404" in missing.stderr


def test_deadletter_commands_on_the_host(setup):
    d, r, failing = setup
    assert len(lines(cli(d, "deadletter", "list", "--json"))) == 3
    (a,) = lines(cli(d, "deadletter", "list", "--api", "a", "--json"))
    assert a["api_id"] == "a" and "pa55word" not in json.dumps(a)  # list redacts as before
    assert len(lines(cli(d, "deadletter", "list", "--status", "500", "--limit", "2", "--json"))) == 2
    out = cli(d, "deadletter", "purge", "--api", "a")
    assert out.returncode == 0 and out.stdout == "purged 1\n"
    failing["on"] = False
    out = cli(d, "deadletter", "replay", "--handler", "nope")
    assert out.returncode == 0 and out.stdout == ""
    out = cli(d, "deadletter", "replay", "--api", "b", "--since", "2000-01-01T00:00:00Z")
    assert out.returncode == 0 and out.stdout.count("delivered (200), removed") == 2, out.stdout
    assert cli(d, "deadletter", "list").stdout == "no dead letters\n"
    # state "memory": the delivery log lives in the daemon only
    out = cli(d, "deliveries", "list")
    assert out.returncode == 2 and "--admin" in out.stderr


@pytest.mark.redis
def test_deliveries_on_the_host_read_the_redis_log(run_daemon, redis_server, redis_url):
    r = ThreadedReceiver()
    try:
        c = conf()
        c["storage"] = {"host": "127.0.0.1", "port": redis_server.port}
        c["tykevents"]["state"] = "redis"
        d = run_daemon(conf=c, apps={"a.json": secret_hook_api("a", r.url("/a"))})
        d.send_udp([event("AuthFailure", "a")])
        r.wait_for(1)

        def logged() -> list[dict]:
            out = cli(d, "deliveries", "list", "--json")
            return lines(out) if out.stdout else []

        wait(lambda: len(logged()) == 1, 10, "the delivery in the Redis log")
        (item,) = logged()
        assert item["outcome"] == "delivered" and item["api_id"] == "a"
        assert "tok-abc" not in json.dumps(item) and "pa55word" not in json.dumps(item)
        shown = lines(cli(d, "deliveries", "show", item["id"], "--json"))[0]
        assert shown["attempts"][0]["status"] == 200
        assert cli(d, "deliveries", "show", "nope").returncode == 1
        assert lines(cli(d, "deliveries", "list", "--api", "zzz", "--json")) == []
    finally:
        r.close()
