"""`tykevents render` shows the bytes the webhook handler would send, or why it sends none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.daemon import ROOT

QUOTA = {
    "Type": "QuotaExceeded",
    "Meta": {
        "Message": "Key \"Quota\" <Limit> & 'x' +1",
        "Path": "/api/v1/x?a=1&b=2",
        "Origin": "10.0.0.1",
        "Key": "abc+def/=",
    },
    "TimeStamp": "2024-03-05 14:07:09.123456789 +0000 UTC",
}


def render(tmp_path: Path, event: dict, *args: str) -> subprocess.CompletedProcess[bytes]:
    f = tmp_path / "event.json"
    f.write_text(json.dumps(event))
    return subprocess.run(
        [sys.executable, "-m", "tykevents", "render", *args, str(f)],
        capture_output=True,
        cwd=ROOT,
        timeout=30,
    )


def test_default_template_gives_tyks_bytes(tmp_path: Path):
    out = render(tmp_path, QUOTA, "default")
    assert out.returncode == 0, out.stderr
    # Tyk's default template on a QuotaExceeded event, as Go renders it (HTML-escaped)
    assert out.stdout == (
        b'\n{\n    "event": "QuotaExceeded",\n    "message": "Key &#34;Quota&#34; &lt;Limit&gt; '
        b'&amp; &#39;x&#39; &#43;1",\n    "path": "/api/v1/x?a=1&amp;b=2",\n    "origin": '
        b'"10.0.0.1",\n    "key": "abc&#43;def/="\n}\n\n\n'
    )


def test_execution_error_is_explained(tmp_path: Path):
    token = {"Type": "TokenCreated", "Meta": {"Message": "Key generated.", "Org": "o", "Key": "k"}}
    out = render(tmp_path, token, str(ROOT / "tests/data/tyk_default_webhook.json"))
    assert out.returncode == 1
    assert b"can't evaluate field Path in type interface {}" in out.stderr
    ours = render(tmp_path, token, "default")  # our default template renders Token events
    assert ours.returncode == 0 and json.loads(ours.stdout)["event"] == "TokenCreated"


def test_parse_error_names_file_line_and_column(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": "{{.Type"\n}\n')
    out = render(tmp_path, QUOTA, str(bad))
    assert out.returncode == 1
    assert f"{bad}:2:".encode() in out.stderr
