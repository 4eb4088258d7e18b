"""The web chat in a real browser (Debian chromium, headless, via chromedriver)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serving import RunningServer

from edgekit.runtime.serve.auth import add_key

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path: Path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail(
            "chromium and chromedriver are required: apt-get install chromium "
            "chromium-driver (make test installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def test_type_a_question_see_streamed_answer_and_citation(tiny_project, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _, result = tiny_project
    bundle = tmp_path / result.bundle.name
    shutil.copytree(result.bundle, bundle)
    _, key = add_key(bundle, "user", "browser")
    server = RunningServer(bundle, "--slots", "1")
    try:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 60)
        # without a key: the error is shown, the page does not hang
        browser.find_element(By.ID, "q").send_keys("hello")
        browser.find_element(By.ID, "send").click()
        err = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg.error")))
        assert "API key" in err.text
        key_box = browser.find_element(By.ID, "key")
        key_box.send_keys(key)
        browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
        wait.until(
            lambda d: (
                d.find_element(By.ID, "model").get_attribute("value") == "site"
                or d.find_element(By.ID, "model").get_attribute("value").endswith("0.1.0")
            )
        )
        browser.find_element(By.ID, "q").send_keys("What do I do when I hear a continuous siren?")
        browser.find_element(By.ID, "send").click()
        done = wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".msg.answer[data-done='1']"))
        )
        assert done.text.strip()
        cite = done.find_element(By.CSS_SELECTOR, ".citation summary")
        assert cite.text.startswith("[1] docs/faq.md")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cite)
        cite.click()  # opens the cited text
        excerpt = done.find_element(By.CSS_SELECTOR, ".citation .excerpt")
        assert "muster point" in excerpt.text
        browser.save_screenshot(str(tmp_path / "chat.png"))
    finally:
        server.stop()
