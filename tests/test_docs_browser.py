"""GET /docs in a real browser: Swagger UI loads offline, takes the token through Authorize, and
runs GET /device-information, and a PUT with its pre-filled example, against the gateway and its
simulated device."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from tests.conftest import login

# A browser of its own per test: seconds each, tens of seconds on a loaded machine.
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless, and nothing of its own on the network: the page and the API are all on loopback.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1280,2000"]


def try_it_out(docs_url: str, token: str, method: str, path: str) -> tuple[str, str]:
    """Authorize with the token in Swagger UI, then Try it out on one operation, its pre-filled
    request unchanged; the answer's status and body."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # Both paths given: Selenium Manager has nothing to look up or download.
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            wait = WebDriverWait(driver, 20)
            driver.get(docs_url)
            wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "button.authorize"))).click()
            field = wait.until(seen.visibility_of_element_located(
                (By.CSS_SELECTOR, ".modal-ux input")))
            field.send_keys(token)
            driver.find_element(By.CSS_SELECTOR,
                                ".modal-ux .auth-btn-wrapper button.authorize").click()
            driver.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
            block = wait.until(seen.presence_of_element_located((By.XPATH, (
                f"//div[contains(@class, 'opblock-{method}')][.//*[@data-path='{path}']]"))))
            block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
            wait.until(lambda _: block.find_element(By.CSS_SELECTOR, "button.try-out__btn")).click()
            wait.until(lambda _: block.find_element(By.CSS_SELECTOR, "button.execute")).click()
            answer = wait.until(lambda _: block.find_element(
                By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"))
            body = block.find_element(By.CSS_SELECTOR,
                                      ".live-responses-table .response-col_description pre")
            return answer.text.strip(), body.text
        finally:
            driver.quit()


@pytest.fixture
def browser_available():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs Debian's chromium and chromium-driver (bash .ci/run installs them)")


async def test_swagger_ui_runs_a_request_with_the_token(browser_available, gateway):
    token = await login(gateway)
    docs_url = str(gateway.make_url("/docs"))
    status, body = await asyncio.wait_for(
        asyncio.to_thread(try_it_out, docs_url, token, "get", "/device-information"),
        timeout=90)
    assert status == "200"
    assert '"manufacturer": "RidgeRun"' in body
    assert '"serial_number": "123"' in body


async def test_try_it_out_runs_a_put_with_its_example_unchanged(browser_available, gateway):
    token = await login(gateway)
    docs_url = str(gateway.make_url("/docs"))
    status, body = await asyncio.wait_for(
        asyncio.to_thread(try_it_out, docs_url, token, "put", "/sources/video"), timeout=90)
    # the example (from sources-video.toml) switches video3 off; the answer is the state read back
    assert status == "200", body
    assert '"name": "video3",\n      "enabled": 0' in body


def try_snapshot(docs_url: str, token: str) -> tuple[str, int, str]:
    """Authorize, run GET /profiles/{token}/snapshot with the example token; the status shown,
    the width of the picture Swagger UI rendered (0: none) and the response's content type."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            wait = WebDriverWait(driver, 20)
            driver.get(docs_url)
            wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "button.authorize"))).click()
            wait.until(seen.visibility_of_element_located(
                (By.CSS_SELECTOR, ".modal-ux input"))).send_keys(token)
            driver.find_element(By.CSS_SELECTOR,
                                ".modal-ux .auth-btn-wrapper button.authorize").click()
            driver.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
            block = wait.until(seen.presence_of_element_located((By.XPATH, (
                "//div[contains(@class, 'opblock-get')]"
                "[.//*[@data-path='/profiles/{token}/snapshot']]"))))
            driver.execute_script("arguments[0].scrollIntoView()", block)
            block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
            wait.until(lambda _: block.find_element(By.CSS_SELECTOR, "button.try-out__btn")).click()
            # the parameter's example (profile_1) fills the field; say it anyway
            field = wait.until(lambda _: block.find_element(
                By.CSS_SELECTOR, "tr[data-param-name='token'] input"))
            field.clear()
            field.send_keys("profile_1")
            wait.until(lambda _: block.find_element(By.CSS_SELECTOR, "button.execute")).click()
            status = wait.until(lambda _: block.find_element(
                By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"))
            picture = wait.until(lambda _: block.find_element(
                By.CSS_SELECTOR, ".live-responses-table .response-col_description img"))
            width = wait.until(lambda _: driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", picture))
            headers = block.find_element(By.CSS_SELECTOR, ".live-responses-table").text
            return status.text.strip(), int(width), headers
        finally:
            driver.quit()


async def test_swagger_ui_shows_a_snapshot(browser_available, gateway):
    token = await login(gateway)
    docs_url = str(gateway.make_url("/docs"))
    status, width, shown = await asyncio.wait_for(
        asyncio.to_thread(try_snapshot, docs_url, token), timeout=90)
    assert status == "200"
    assert width == 320  # the simulated camera's picture, decoded and drawn by the browser
    assert "image/jpeg" in shown
