"""Webhook URLs may carry `user:password@` and `?api_key=...`: neither may reach a log line at
INFO or above, an error text, or `tykevents deadletter list` (without --full)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port
from tests.webhook.test_deadletter import run_cli
from tests.webhook.test_handler import TEMPLATES, event, key_meta, settle
from tests.webhook.test_service import dead_letters, delivery
from tykevents.config import Config
from tykevents.deliver.base import APIInfo, HandlerContext, HandlerServices
from tykevents.deliver.webhook.handler import build_webhook_handler
from tykevents.golang import url as gourl

PW, KEY = "secret", "topsecret"  # "secret" is in both: one check covers both


@pytest.mark.parametrize(
    "url, want",
    [
        ("http://u:secret@127.0.0.1:1/x?api_key=topsecret", "http://u:***@127.0.0.1:1/x?***"),
        ("http://u:secret@[::1/x?api_key=topsecret", "http://u:***@[::1/x?***"),  # Go refuses it
        ("http:u:secret@h/x", "http:***@h/x"),  # opaque: no `//`, the userinfo is hidden anyway
        ("u:secret@h", "u:***@h"),
        ("http://u@h/p", "http://u@h/p"),  # no password: nothing to hide
        ("http://us@er:pa@ss@h/x", "http://us@er:***@h/x"),  # the last @ ends the userinfo, as in Go
        ("http://h/a/b@c?k=v#frag", "http://h/a/b@c?***#***"),  # an @ in the path is not userinfo
        ("http://h/p?", "http://h/p?"),
        ("http://[::1", "http://[::1"),
        ("", ""),
    ],
)
def test_redact(url: str, want: str) -> None:
    assert gourl.redact(url) == want


def test_parse_errors_carry_no_secret() -> None:
    raw = f"http://u:{PW}@[::1/x?api_key={KEY}"
    with pytest.raises(gourl.GoURLError) as info:
        gourl.parse(raw)
    assert str(info.value) == "parse \"http://u:***@[::1/x?***\": missing ']' in host"
    assert info.value.url == raw and info.value.reason == "missing ']' in host"
    with pytest.raises(gourl.GoURLError) as info:
        gourl.parse_request_uri(f"-u:{PW}@h/?k={KEY}")
    assert str(info.value) == 'parse "-u:***@h/?***": invalid URI for request'


def test_scrub_library_texts() -> None:
    url = f"http://u:{PW}@h:1/x?api_key={KEY}#f"
    text = f"InvalidURL: http://h:1/x?api_key={KEY}#f (proxy http://u:{PW}@h:1)"
    assert gourl.scrub(text, url) == "InvalidURL: http://h:1/x?***#*** (proxy http://u:***@h:1)"
    assert gourl.scrub("nothing to hide", "http://h/x") == "nothing to hide"


def _ctx(svc: Any, tmp_path: Path, where: str) -> HandlerContext:
    # A `where` of its own: the handler's rate-limited log lines are keyed by it, so lines of
    # other tests cannot suppress the ones checked here.
    config = Config(base_dir=str(tmp_path), template_path=str(TEMPLATES))
    return HandlerContext(
        config=config,
        api=APIInfo("api1", "org1", "API", "apps/api1.json"),
        where=where,
        services=HandlerServices(webhooks=svc),
    )


def _shown(caplog: Any) -> str:
    fmt = logging.Formatter("%(levelname)s %(message)s")  # tracebacks included
    return "\n".join(fmt.format(r) for r in caplog.records if r.levelno >= logging.INFO)


async def test_no_credentials_in_logs_errors_or_listing(services: Any, tmp_path: Path, caplog: Any) -> None:
    port = free_port()  # nothing listens: refused, retried, dead-lettered
    refused = f"http://u:{PW}@127.0.0.1:{port}/x?api_key={KEY}"
    invalid = f"http://u:{PW}@[::1/x?api_key={KEY}"
    no_host = f"http:u:{PW}@127.0.0.1/x?api_key={KEY}"  # parses (opaque); Go will not send it
    svc = await services(max_attempts=2)
    with caplog.at_level(logging.DEBUG):
        for i, url in enumerate((refused, invalid, no_host)):
            h = build_webhook_handler(
                {"target_path": url, "name": f"h{i}", "method": "POST", "event_timeout": 0},
                _ctx(svc, tmp_path, f"{tmp_path}:hook[{i}]"),
            )
            await h.handle(event("AuthFailure", key_meta()))
        svc.submit(delivery(invalid))  # a delivery Go cannot build becomes a dead letter too
        await settle(svc)
        await asyncio.sleep(0.05)  # the dead-letter writer
    shown = _shown(caplog)
    # The lines are there, with the URLs redacted ...
    assert (
        "Failed to parse URL! parse \"http://u:***@[::1/x?***\": missing ']' in host"
        "http://u:***@[::1/x?***" in shown
    )
    assert 'Failed to create request object: parse "http://u:***@[::1/x?***"' in shown
    assert 'Post "http:***@127.0.0.1/x?***": http: no Host in request URL' in shown
    assert f'Post "http://u:***@127.0.0.1:{port}/x?***": dial tcp' in shown  # retried
    assert "kept as a dead letter" in shown
    # ... and nothing secret anywhere at INFO and above.
    assert PW not in shown, shown
    records = dead_letters(svc)
    assert len(records) == 2 and all(PW not in r["error"] for r in records)
    assert {r["url"] for r in records} == {refused, invalid}  # the store keeps the real request

    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"tykevents": {"webhooks": {"dead_letter_path": "dl.jsonl"}}}))
    code, out = await run_cli("list", "-c", str(conf), cwd=tmp_path)
    assert code == 0 and "2 dead letter(s)" in out and "u:***@" in out and "?***" in out, out
    assert PW not in out
    code, out = await run_cli("list", "--json", "-c", str(conf), cwd=tmp_path)
    assert code == 0 and len(out.splitlines()) == 2 and PW not in out
    code, full = await run_cli("list", "--full", "-c", str(conf), cwd=tmp_path)
    assert code == 0 and KEY in full  # --full is the operator asking for everything


async def test_old_records_are_scrubbed_when_listed(tmp_path: Path) -> None:
    from tykevents.cli.deadletter import summary

    d = delivery(f"http://u:{PW}@h:1/x?api_key={KEY}")
    rec = d.to_record()
    rec["error"] = f'Post "http://u:***@h:1/x?api_key={KEY}": EOF'  # written before redaction
    row = summary(rec)
    assert row["url"] == "http://u:***@h:1/x?***" and row["error"] == 'Post "http://u:***@h:1/x?***": EOF'
