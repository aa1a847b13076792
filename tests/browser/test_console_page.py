"""The console page as a file: self-contained, its script pinned by the page's own
Content-Security-Policy, and no API that parses data as markup."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import tykevents.admin

PAGE = Path(tykevents.admin.__file__).with_name("console.html")


def script_hash(page: str) -> str:
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1, "one inline script"
    return "sha256-" + base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()


def test_the_policy_pins_the_script() -> None:
    page = PAGE.read_text()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = dict(d.strip().split(" ", 1) for d in csp.group(1).split(";"))
    # The browser runs only the script whose digest this is: injected markup runs nothing,
    # and the page talks only to the daemon that served it.
    assert policy["script-src"] == f"'{script_hash(page)}'", (
        f"after editing the script, set script-src to '{script_hash(page)}'"
    )
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"


def test_self_contained_and_text_only() -> None:
    page = PAGE.read_text()
    assert not re.search(r"https?:|@import|url\(", page)
    assert not re.search(r"(src|href|action)=\"(?!#|data:)", page)
    script = page.split("<script>")[1]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in script, sink
