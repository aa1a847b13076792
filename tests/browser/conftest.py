"""Real-browser tests of the web console (tykevents/admin/console.html): headless Debian
chromium driven by its chromedriver through selenium, against the real daemon's admin listener.
The README's test command installs both (scripts/setup.sh --test)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.daemon import DaemonProcess, classic_api
from tests.support.servers import free_port
from tests.support.threaded import ThreadedReceiver, threaded_receivers

SECRET = "console-test-secret"
FAST = {"timeout": 2.0, "backoff_base": 0.05, "backoff_max": 0.2, "max_attempts": 3}


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError(
        f"{names[0]} is not installed: run the README's test command (scripts/setup.sh --test)"
    )


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless chromium at 1280x900; chromedriver (and with it the browser) stopped after the test."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = _binary("chromium", "chromium-browser")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        opts.add_argument(arg)
    # Both paths given: selenium never looks for (or downloads) a driver of its own.
    service = Service(executable_path=_binary("chromedriver"))
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(10)
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            proc = service.process
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


class Console:
    """A daemon with its admin listener, and the receivers its webhooks go to."""

    def __init__(self, daemon: DaemonProcess, admin: int, receiver: ThreadedReceiver) -> None:
        self.daemon = daemon
        self.admin = admin
        self.receiver = receiver

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.admin}/"


def hook(url: str) -> dict[str, Any]:
    return {
        "handler_name": "eh_web_hook_handler",
        "handler_meta": {"method": "POST", "target_path": url, "event_timeout": 10, "name": "orders-hook"},
    }


@pytest.fixture
def console(
    receivers: Callable[..., ThreadedReceiver], run_daemon: Callable[..., DaemonProcess]
) -> Callable[..., Console]:
    """`console(respond=..., webhooks={...}, name=..., path=..., allow_secrets=...)`: a receiver
    answering `respond`, and a daemon whose API "orders" sends AuthFailure events to it as
    webhooks (to `path`). The daemons stop
    before the receivers close (fixtures end in reverse order)."""

    def make(
        respond: Any = None,
        webhooks: dict[str, Any] | None = None,
        name: str = "Orders API",
        path: str = "/hook",
        allow_secrets: bool = False,
    ) -> Console:
        r = receivers(respond)
        admin = free_port()
        api = classic_api("orders", {"AuthFailure": [hook(r.url(path))]})
        api["name"] = name
        d = run_daemon(
            conf={
                "secret": SECRET,
                "tykevents": {
                    "drain_timeout": 1,  # what is still retrying at the end is not the test's
                    "admin": {"listen": f"127.0.0.1:{admin}", "allow_secrets": allow_secrets},
                    "webhooks": {**FAST, **(webhooks or {})},
                },
            },
            apps={"orders.json": api},
        )
        return Console(d, admin, r)

    return make


@pytest.fixture
def receivers() -> Iterator[Callable[..., ThreadedReceiver]]:
    yield from threaded_receivers()
