"""The web console in a real browser against the real daemon: the secret, the APIs, a delivery
and its attempts, the breaker opening, a dead letter replayed to a real receiver, a purge, a
reload, and a narrow window. Each wait is bounded; the fixtures stop browser and daemon."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import SECRET, Console
from tests.support.daemon import event

pytestmark = pytest.mark.e2e


def wait(
    driver: WebDriver, cond: Callable[[], Any], what: str, timeout: float = 15, poke: bool = False
) -> Any:
    """Until cond() is truthy; `poke` clicks "Refresh now" between tries (the tables refresh
    by themselves only every 5 s). Fails with the page's notices and the daemon's log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = cond()
            if got:
                return got
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        if time.monotonic() > deadline:
            notice = driver.find_element(By.ID, "notice").text
            message = driver.find_element(By.ID, "message").text
            raise AssertionError(f"timed out waiting for {what}; notice={notice!r} message={message!r}")
        if poke:
            button = driver.find_element(By.ID, "refresh-now")
            if button.is_displayed():
                button.click()
        time.sleep(0.3)


def rows(driver: WebDriver, table: str) -> list[str]:
    return [r.text for r in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def sign_in(driver: WebDriver, c: Console, secret: str = SECRET) -> None:
    driver.get(c.url)
    box = wait(driver, lambda: driver.find_element(By.ID, "secret").is_displayed(), "the secret prompt")
    assert box
    driver.find_element(By.ID, "secret").send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def signed_in(driver: WebDriver, c: Console, auto: bool = False) -> None:
    """Signed in, the console shown; `auto` False stops the 5 s table refresh, so rows the test
    clicks are not replaced under it (it refreshes them with "Refresh now")."""
    sign_in(driver, c)
    wait(driver, lambda: driver.find_element(By.ID, "console").is_displayed(), "the console")
    if not auto:
        driver.find_element(By.ID, "auto").click()


def send(c: Console, path: str = "/orders") -> None:
    c.daemon.send_udp([event("AuthFailure", "orders", {"Message": "Auth Failure", "Path": path})])


def no_horizontal_overflow(driver: WebDriver) -> bool:
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_the_page_asks_for_the_secret(browser: WebDriver, console: Callable[..., Console]) -> None:
    c = console()
    browser.get(c.url)
    wait(browser, lambda: browser.find_element(By.ID, "login").is_displayed(), "the secret prompt")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=secret]").text == "Secret"
    assert browser.find_element(By.ID, "secret").get_attribute("type") == "password"
    assert not browser.find_element(By.ID, "console").is_displayed()
    # Nothing but the page itself was fetched: no /api call without a secret, nothing external.
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []


def test_a_wrong_secret_shows_a_refusal(browser: WebDriver, console: Callable[..., Console]) -> None:
    c = console()
    sign_in(browser, c, "not-the-secret")
    notice = wait(browser, lambda: browser.find_element(By.ID, "notice").text, "a refusal")
    assert "Refused" in notice and "403" in notice, notice
    assert browser.find_element(By.ID, "login").is_displayed()
    assert not browser.find_element(By.ID, "console").is_displayed()
    assert browser.execute_script("return sessionStorage.length") == 0  # the wrong secret is not kept
    assert c.daemon.metric("tykevents_admin_auth_failures_total", reason="wrong") >= 1


def test_with_the_secret_it_shows_the_apis_as_text(
    browser: WebDriver, console: Callable[..., Console]
) -> None:
    name = '<img id="injected" src="x" onerror="window.injected=1">Orders & <b>Co</b>'
    c = console(name=name)
    signed_in(browser, c, auto=True)
    wait(browser, lambda: any("orders" in r for r in rows(browser, "apis-table")), "the APIs")
    cells = browser.find_elements(By.CSS_SELECTOR, "#apis-table tbody tr td")
    assert cells[0].text == "orders"
    assert cells[1].text == name  # shown as text, never parsed
    assert browser.find_elements(By.ID, "injected") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#apis-table b") == []
    assert browser.execute_script("return window.injected") is None
    handlers = cells[4].text
    assert "AuthFailure" in handlers and c.receiver.url("/hook") in handlers, handlers
    assert "No problems" in rows(browser, "problems-table")[0]
    # Live counters and the summary, polled every 2 s.
    wait(browser, lambda: "generation 1" in browser.find_element(By.ID, "summary").text, "the summary")
    assert browser.find_elements(By.CSS_SELECTOR, "#counters .counter")
    assert no_horizontal_overflow(browser)
    # The secret lives in this tab's sessionStorage: a reload of the page keeps the console.
    browser.refresh()
    wait(
        browser, lambda: browser.find_element(By.ID, "console").is_displayed(), "the console after a refresh"
    )
    browser.find_element(By.ID, "logout").click()
    assert browser.find_element(By.ID, "login").is_displayed()
    assert browser.execute_script("return sessionStorage.length") == 0


def test_secrets_are_redacted_unless_revealed(browser: WebDriver, console: Callable[..., Console]) -> None:
    c = console(path="/hook?token=s3cr3t-value", allow_secrets=True)
    signed_in(browser, c)

    def handlers() -> str:
        return browser.find_elements(By.CSS_SELECTOR, "#apis-table tbody tr td")[4].text

    wait(browser, lambda: "token=****" in handlers(), "the redacted URL")
    assert "s3cr3t-value" not in browser.page_source
    browser.find_element(By.ID, "reveal").click()  # asks ?reveal=1, which allow_secrets permits
    wait(browser, lambda: "token=s3cr3t-value" in handlers(), "the revealed URL")


def test_an_event_shows_up_as_a_delivery(browser: WebDriver, console: Callable[..., Console]) -> None:
    c = console()
    signed_in(browser, c)
    send(c)
    c.receiver.wait_for(1, timeout=20)
    delivered = wait(
        browser,
        lambda: [r for r in rows(browser, "deliveries-table") if "delivered" in r and "AuthFailure" in r],
        "the delivery",
        poke=True,
    )
    assert "orders" in delivered[0] and "200" in delivered[0] and "orders-hook" in delivered[0], delivered
    # Its attempts, on click.
    browser.find_element(By.CSS_SELECTOR, "#deliveries-table tbody tr button").click()
    wait(
        browser,
        lambda: browser.find_element(By.ID, "delivery-detail").is_displayed(),
        "the delivery's detail",
    )
    attempts = wait(browser, lambda: rows(browser, "attempts-table"), "its attempts")
    assert len(attempts) == 1 and attempts[0].startswith("1 ") and "200" in attempts[0], attempts
    assert c.receiver.url("/hook") in browser.find_element(By.ID, "detail-fields").text
    # Filters: outcome failed matches nothing; the host matches it.
    Select(browser.find_element(By.ID, "del-outcome")).select_by_value("failed")
    wait(browser, lambda: rows(browser, "deliveries-table") == ["No deliveries match"], "the filtered table")
    Select(browser.find_element(By.ID, "del-outcome")).select_by_value("")
    browser.find_element(By.ID, "del-status").send_keys("2xx")
    browser.find_element(By.CSS_SELECTOR, "#deliveries-filters button[type=submit]").click()
    refused = wait(
        browser, lambda: rows(browser, "deliveries-table")[0].startswith("Bad filter: "), "a refusal"
    )
    assert refused and browser.find_element(By.ID, "console").is_displayed()
    browser.find_element(By.ID, "del-status").clear()
    browser.find_element(By.ID, "del-host").send_keys(f"127.0.0.1:{c.receiver.receiver.port}")
    browser.find_element(By.CSS_SELECTOR, "#deliveries-filters button[type=submit]").click()
    wait(browser, lambda: "delivered" in rows(browser, "deliveries-table")[0], "the host filter")
    # The counters follow.
    wait(
        browser,
        lambda: "webhook_outcomes.delivered\n1" in browser.find_element(By.ID, "counters").text,
        "the delivered counter",
    )


def test_a_failing_endpoint_shows_its_breaker_opening(
    browser: WebDriver, console: Callable[..., Console]
) -> None:
    c = console(
        respond=lambda req: 500,
        webhooks={"max_attempts": 5, "breaker": {"enabled": True, "failures": 2, "cool_off": 60}},
    )
    signed_in(browser, c)
    send(c)
    c.receiver.wait_for(2, timeout=20)
    host = f"127.0.0.1:{c.receiver.receiver.port}"
    row = wait(
        browser,
        lambda: [r for r in rows(browser, "endpoints-table") if r.startswith(host) and " open " in f" {r} "],
        "the breaker to show open",
        poke=True,
    )
    assert "0.0 %" in row[0], row
    badge = browser.find_element(By.CSS_SELECTOR, "#endpoints-table tbody tr td.breaker .badge")
    assert badge.text == "open" and "b-bad" in (badge.get_attribute("class") or "")
    time.sleep(0.5)
    assert len(c.receiver.requests) == 2  # while open, the delivery waits: no third attempt


def test_a_dead_letter_replayed_from_the_page_is_delivered(
    browser: WebDriver, console: Callable[..., Console]
) -> None:
    answer = {"status": 500}
    c = console(respond=lambda req: answer["status"], webhooks={"max_attempts": 2})
    signed_in(browser, c)
    send(c)
    c.receiver.wait_for(2, timeout=20)
    wait(
        browser,
        lambda: [r for r in rows(browser, "deadletters-table") if "AuthFailure" in r and "500" in r],
        "the dead letter",
        poke=True,
    )
    answer["status"] = 200
    browser.find_element(By.CSS_SELECTOR, "#deadletters-table tbody input[type=checkbox]").click()
    browser.find_element(By.ID, "dl-replay-selected").click()
    wait(
        browser, lambda: "Replayed 1 dead letter" in browser.find_element(By.ID, "message").text, "the replay"
    )
    third = c.receiver.wait_for(3, timeout=20)[2]
    assert third.target == "/hook" and b"AuthFailure" in third.body
    wait(
        browser,
        lambda: rows(browser, "deadletters-table") == ["No dead letters match"],
        "an empty store",
        poke=True,
    )
    wait(
        browser,
        lambda: [r for r in rows(browser, "deliveries-table") if "delivered" in r],
        "the replayed delivery delivered",
        poke=True,
    )


def test_purge_by_filter(browser: WebDriver, console: Callable[..., Console]) -> None:
    c = console(respond=lambda req: 500, webhooks={"max_attempts": 1})
    signed_in(browser, c)
    send(c, "/a")
    send(c, "/b")
    c.receiver.wait_for(2, timeout=20)
    wait(browser, lambda: len(rows(browser, "deadletters-table")) == 2, "two dead letters", poke=True)
    browser.find_element(By.ID, "dl-event").send_keys("AuthFailure")
    browser.find_element(By.CSS_SELECTOR, "#deadletters-filters button[type=submit]").click()
    browser.find_element(By.ID, "dl-purge-filter").click()
    alert = browser.switch_to.alert
    assert "every dead letter matching the filter" in alert.text
    alert.accept()
    wait(browser, lambda: "Purged 2 dead letter" in browser.find_element(By.ID, "message").text, "the purge")
    wait(browser, lambda: rows(browser, "deadletters-table") == ["No dead letters match"], "an empty store")
    assert len(c.receiver.requests) == 2  # purged, not replayed


def test_the_reload_button(browser: WebDriver, console: Callable[..., Console]) -> None:
    c = console()
    signed_in(browser, c)
    browser.find_element(By.ID, "reload").click()
    wait(browser, lambda: "generation 2" in browser.find_element(By.ID, "message").text, "the reload")
    wait(browser, lambda: "generation 2" in browser.find_element(By.ID, "summary").text, "the new generation")


def test_a_narrow_window(browser: WebDriver, console: Callable[..., Console]) -> None:
    browser.set_window_size(390, 844)
    c = console()
    sign_in(browser, c)
    wait(browser, lambda: browser.find_element(By.ID, "console").is_displayed(), "the console")
    wait(browser, lambda: any("orders" in r for r in rows(browser, "apis-table")), "the APIs")
    # Wide tables scroll inside their own boxes; the page itself does not scroll sideways.
    assert no_horizontal_overflow(browser)
    assert browser.find_element(By.ID, "reload").is_displayed()
    assert browser.find_element(By.ID, "del-api").size["width"] <= 390
