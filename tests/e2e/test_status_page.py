"""The operator's status page in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, driven
by selenium) signs in against the running gateway, checks the page's figures against the API, watches the
syncs-per-minute counter move without a reload, presses resend, and saves a screenshot to ./artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import CLIENTS
from tests.integration.gateway.conftest import sf, sf_server, sync_env  # noqa: F401 - fixtures
from tests.integration.sync.conftest import Stack, eventually, stack  # noqa: F401 - fixtures
from tests.support import ROOT

SCREENSHOT = ROOT / "artifacts" / "status-page.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1500",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("the browser test needs Debian's chromium and chromium-driver: run scripts/bootstrap --browser")
    options = Options()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(executable_path=driver, log_output=str(tmp_path / "chromedriver.log"))
    session = webdriver.Chrome(options=options, service=service)
    session.set_page_load_timeout(20)
    try:
        yield session
    finally:
        session.quit()


def _field(browser: WebDriver, path: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-field="{path}"]').text)


def _shown(value: Any) -> str:
    if value is None:
        return "\u2013"  # the en dash the page shows for "not known yet"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _wait(browser: WebDriver, predicate: Any, what: str, timeout: float = 10) -> Any:
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(predicate, message=what)


def test_an_operator_signs_in_sees_the_api_s_figures_and_resends_a_failure(
    stack: Stack,  # noqa: F811 - pytest fixture injection
    browser: WebDriver,
) -> None:
    failed_record = stack.sf_create("Contact", {"LastName": "Typo", "MobilePhone": "555", "Mobile_Subscriber__c": True})
    stack.sf_create("Contact", {"LastName": "Fine", "MobilePhone": "+14155552690", "Mobile_Subscriber__c": True})
    (failure,) = eventually(lambda: stack.sync_results(failed_record), "the failed Sync_Result__c")
    eventually(lambda: [r for r in stack.sync_results() if r["Status__c"] == "Success"], "the successful sync")
    # The page is served as http://localhost: Chromium keeps Secure cookies there (a potentially trustworthy origin).
    origin = stack.gateway_url.replace("127.0.0.1", "localhost")

    browser.get(f"{origin}/")
    assert browser.find_element(By.ID, "sign-in-form").is_displayed()
    assert "invalid-phone" not in browser.page_source  # no figure before signing in
    browser.find_element(By.ID, "client_id").send_keys("admin-console")
    browser.find_element(By.ID, "client_secret").send_keys("not-the-secret")
    browser.find_element(By.ID, "sign-in").click()
    assert "not the credentials" in _wait(browser, lambda b: b.find_element(By.ID, "sign-in-error"), "refusal").text
    browser.find_element(By.ID, "client_id").clear()
    browser.find_element(By.ID, "client_id").send_keys("admin-console")
    browser.find_element(By.ID, "client_secret").send_keys(CLIENTS["admin-console"][0])
    browser.find_element(By.ID, "sign-in").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "syncs-per-minute"), "the status page")
    cookie = browser.get_cookie("gateway_session")
    assert cookie is not None
    assert cookie["secure"] is True and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

    api = requests.get(
        f"{stack.gateway_url}/api/v1/status", headers={"Authorization": f"Bearer {stack.admin_token()}"}, timeout=10
    ).json()
    for path in (
        "queues.realtime",
        "queues.sync",
        "queues.bulk",
        "failures24h.invalid-phone",
        "syncsPerMinute",
        "platform.name",
        "platform.reachable",
        "salesforceApi.budget",
        "directions.toPlatform.lastSuccessAt",
        "version",
    ):
        value: Any = api
        for part in path.split(".", 1) if path.startswith("failures24h") else path.split("."):
            value = value[part]
        assert _field(browser, path) == _shown(value), path
    assert api["failures24h"] == {"invalid-phone": 1}
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-result-id="{failure["Id"]}"]')
    assert row.find_element(By.CSS_SELECTOR, ".error-code").text == "invalid-phone"

    # Nothing on the page comes from anywhere but the gateway.
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(str(r).startswith(origin) for r in resources), resources

    # The counter follows new syncs by itself (no reload: the marker set on this document survives).
    browser.execute_script("window.__sameDocument = true")
    before = int(browser.find_element(By.ID, "syncs-per-minute").text)
    stack.sf_create("Contact", {"LastName": "Later", "MobilePhone": "+14155552691", "Mobile_Subscriber__c": True})
    _wait(browser, lambda b: int(b.find_element(By.ID, "syncs-per-minute").text) > before, "the live counter")
    assert browser.execute_script("return window.__sameDocument === true")

    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-result-id="{failure["Id"]}"]')
    row.find_element(By.CSS_SELECTOR, "button.resend").click()
    notice = _wait(browser, lambda b: b.find_elements(By.ID, "notice"), "the resend notice")[0].text
    assert f"Resend of {failure['Id']} queued" in notice
    results = eventually(lambda: len(r := stack.sync_results(failed_record)) == 2 and r, "the replayed sync")
    assert results[0]["Resent_At__c"]

    browser.refresh()  # show the replay: the failure stamped resent, and the counts moved
    _wait(browser, lambda b: _field(b, "failures24h.invalid-phone") == "2", "the replayed failure counted")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    print(f"status page screenshot: {SCREENSHOT}")
