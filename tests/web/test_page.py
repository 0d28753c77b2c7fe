"""The page in a real browser: Debian's headless Chromium, driven through chromedriver."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT, server_env_for, start_server, stop_server

pytestmark = pytest.mark.slow
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, real_index_dir: Path) -> Iterator[str]:
    env = server_env_for(tmp_path_factory.mktemp("page"), CORPUS)
    env["DOCKFAQ_INDEX_DIR"] = str(real_index_dir)
    process, base = start_server(env, Path(env["DOCKFAQ_DATA_DIR"]).parent / "server.log")
    yield base
    stop_server(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "`make test` installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-US",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports land there
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_window_size(1280, 900)
    yield driver
    driver.quit()


def _ask(browser, question: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    before = len(browser.find_elements(By.CSS_SELECTOR, ".msg.assistant"))
    box = browser.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question)
    browser.find_element(By.ID, "ask-button").click()
    WebDriverWait(browser, 30).until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, '.msg.assistant[aria-busy="false"]')) > before
        )
    )
    return browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")[-1]


def test_chat_search_and_entries(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(base_url + "/")
    assert browser.find_element(By.ID, "ask-button").text == "Ask"  # follows the browser: en

    zh = _ask(browser, "docker中镜像和容器的区别")
    assert "镜像" in zh.find_element(By.CSS_SELECTOR, ".answer").text
    cards = zh.find_elements(By.CSS_SELECTOR, ".citation summary")
    assert cards and cards[0].text.startswith("[1]")
    cards[0].click()  # expands to the full entry with its source link
    WebDriverWait(browser, 10).until(
        lambda d: zh.find_elements(By.CSS_SELECTOR, ".citation .source a")
    )
    assert (
        zh.find_element(By.CSS_SELECTOR, ".citation .source a")
        .get_attribute("href")
        .startswith("https://docs.docker.com/")
    )

    en = _ask(browser, "why does my container exit immediately after docker run")
    assert "main process" in en.find_element(By.CSS_SELECTOR, ".answer").text
    assert en.find_elements(By.CSS_SELECTOR, "pre .copy")  # copy buttons on command blocks
    thumbs = en.find_elements(By.CSS_SELECTOR, ".feedback button")
    thumbs[0].click()
    WebDriverWait(browser, 10).until(lambda d: thumbs[0].get_attribute("aria-pressed") == "true")
    browser.save_screenshot(str(SCREENSHOTS / "chat-desktop.png"))

    hostile = _ask(browser, "<script>window.hacked = 1</script> <img src=x onerror=alert(1)>")
    user_messages = browser.find_elements(By.CSS_SELECTOR, ".msg.user")
    assert user_messages[-1].text.startswith("<script>window.hacked = 1</script>")
    assert browser.execute_script("return window.hacked === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages script, #messages img")
    assert hostile.text

    refused = _ask(browser, "how do i make two containers talk to each other without compose")
    assert "refused" in refused.get_attribute("class")
    suggestions = refused.find_elements(By.CSS_SELECTOR, ".suggestions button")
    assert suggestions, "the refusal offers the nearest entries"
    suggestions[0].click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "entry-panel").is_displayed())
    assert "#/entry/" in browser.current_url

    browser.get(base_url + "/#/faq")
    search = browser.find_element(By.ID, "faq-search")
    search.send_keys("exit code 137")
    settled = '#faq-results[data-query="exit code 137"] a[href="#/entry/exit-codes"]'
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, settled))
    browser.find_element(By.CSS_SELECTOR, settled).click()
    title = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "entry-title").text and d.find_element(By.ID, "entry-title")
    )
    assert "137" in title.text
    assert browser.switch_to.active_element == title  # focus moves to the opened entry

    browser.get(base_url + "/#/entry/save-vs-export")  # a shareable URL per entry
    WebDriverWait(browser, 10).until(lambda d: "docker save" in d.find_element(By.ID, "entry").text)
    browser.find_element(By.ID, "lang-switch").click()
    WebDriverWait(browser, 10).until(lambda d: "区别" in d.find_element(By.ID, "entry-title").text)
    assert browser.find_element(By.ID, "nav-chat").text == "问答"
    browser.save_screenshot(str(SCREENSHOTS / "entry-desktop-zh.png"))

    browser.set_window_size(390, 844)
    browser.get(base_url + "/#/faq")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#faq-results li"))
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, "no horizontal scrolling on a phone"
    browser.save_screenshot(str(SCREENSHOTS / "faq-phone.png"))
    browser.set_window_size(1280, 900)


def _csp_violations(browser) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
        or "Content-Security-Policy" in entry["message"]
    ]


def test_the_page_and_the_docs_run_under_their_content_security_policy(  # type: ignore[no-untyped-def]
    browser, base_url: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # start clean
    browser.get(f"{base_url}/#/")
    _ask(browser, "docker save vs docker export")
    browser.get(f"{base_url}/#/faq")
    browser.find_element(By.ID, "faq-search").send_keys("docker save")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#faq-results li"))
    assert _csp_violations(browser) == []
    browser.get(f"{base_url}/docs")  # Swagger UI from the installed package, not a CDN
    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#swagger-ui .opblock")
    )
    assert _csp_violations(browser) == []
    assert "/chat" in browser.find_element(By.ID, "swagger-ui").text


def test_the_page_works_with_api_keys_on_through_its_session(  # type: ignore[no-untyped-def]
    browser, tmp_path_factory: pytest.TempPathFactory, real_index_dir: Path
) -> None:
    """DOCKFAQ_PAGE_PUBLIC: the page asks, votes and searches with no key in it; its cookie
    is invisible to scripts and opens nothing but the page's routes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = server_env_for(tmp_path_factory.mktemp("page-keys"), CORPUS)
    env |= {
        "DOCKFAQ_INDEX_DIR": str(real_index_dir),
        "DOCKFAQ_API_KEYS": "page-test-key-0123456789",
        "DOCKFAQ_PAGE_PUBLIC": "true",
    }
    process, base = start_server(env, Path(env["DOCKFAQ_DATA_DIR"]).parent / "server.log")
    try:
        browser.get(base + "/")
        reply = _ask(browser, "why does my container exit immediately after docker run")
        assert "main process" in reply.find_element(By.CSS_SELECTOR, ".answer").text
        thumbs = reply.find_elements(By.CSS_SELECTOR, ".feedback button")
        thumbs[0].click()
        WebDriverWait(browser, 10).until(
            lambda d: thumbs[0].get_attribute("aria-pressed") == "true"
        )
        assert browser.execute_script("return document.cookie") == ""  # HttpOnly
        statuses = browser.execute_async_script(
            """const done = arguments[arguments.length - 1];
            const post = (path) => fetch(path, {method: "POST",
              headers: {"content-type": "application/json"},
              body: JSON.stringify({message: "docker save"})}).then((r) => r.status);
            Promise.all([post("/chat/stream"), post("/chat"),
                         fetch("/v1/models").then((r) => r.status)]).then(done);"""
        )
        assert statuses == [200, 401, 401]
    finally:
        stop_server(process)
