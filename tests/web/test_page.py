"""The page in a real browser: Debian's headless Chromium, driven through chromedriver.

Every view is checked with axe-core (pinned, from npm: `make test` fetches it) and saved as a
screenshot under artifacts/screenshots/, at desktop and phone width, in both languages.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, ROOT, server_env_for, start_server, stop_server

pytestmark = pytest.mark.slow
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / ".cache" / "axe.min.js"
DESKTOP, PHONE = (1280, 900), (390, 844)
EXITS = "why does my container exit immediately after docker run"
OFF_TOPIC = "how do i make two containers talk to each other without compose"


@dataclass
class Server:
    base: str
    data_dir: Path

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data_dir / "dockfaq.sqlite3") as db:
            return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, real_index_dir: Path) -> Iterator[Server]:
    env = server_env_for(tmp_path_factory.mktemp("page"), CORPUS)
    env["DOCKFAQ_INDEX_DIR"] = str(real_index_dir)
    process, base = start_server(env, Path(env["DOCKFAQ_DATA_DIR"]).parent / "server.log")
    yield Server(base, Path(env["DOCKFAQ_DATA_DIR"]))
    stop_server(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "`make test` installs Debian's chromium and chromium-driver"
    assert AXE.is_file(), "`make test` fetches axe-core into .cache/"
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
    driver.set_window_size(*DESKTOP)
    driver.execute_cdp_cmd("Network.enable", {})
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server: Server):  # type: ignore[no-untyped-def]
    """The page opened fresh: no language, chats or votes remembered, a normal network."""
    _network(browser)
    browser.set_window_size(*DESKTOP)
    browser.get(server.base + "/#/")
    browser.execute_script("localStorage.clear()")
    browser.refresh()  # a new document: nothing left from the previous test
    _wait(browser, lambda d: d.find_element("id", "examples").text)
    browser.get_log("browser")  # start clean
    yield browser
    _network(browser)
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    uncaught = [m for m in errors if "Uncaught" in m]
    assert not uncaught, uncaught


# ---- helpers ----


def _wait(browser, condition, timeout: float = 30):  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def _find(browser, css: str):  # type: ignore[no-untyped-def]
    return browser.find_element("css selector", css)


def _all(browser, css: str):  # type: ignore[no-untyped-def]
    return browser.find_elements("css selector", css)


def _click(browser, element) -> None:  # type: ignore[no-untyped-def]
    """Click as a reader does: with the element in the middle of the window, not under the
    sticky header or composer."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _network(browser, latency: int = 0, throughput: int = -1, offline: bool = False) -> None:  # type: ignore[no-untyped-def]
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {
            "offline": offline,
            "latency": latency,
            "downloadThroughput": throughput,
            "uploadThroughput": throughput,
        },
    )


def _type(browser, question: str) -> None:  # type: ignore[no-untyped-def]
    box = _find(browser, "#question")
    box.clear()
    box.send_keys(question)


def _ask(browser, question: str):  # type: ignore[no-untyped-def]
    """Ask with the Ask button and wait for the finished answer."""
    before = len(_all(browser, '.msg.assistant[aria-busy="false"]'))
    _type(browser, question)
    _click(browser, _find(browser, "#ask-button"))
    _wait(browser, lambda d: len(_all(d, '.msg.assistant[aria-busy="false"]')) > before)
    return _all(browser, ".msg.assistant")[-1]


def _axe(browser, view: str) -> None:  # type: ignore[no-untyped-def]
    """axe-core on the page as it is: no violation of any rule it runs by default."""
    if not browser.execute_script("return !!window.axe"):
        browser.execute_script(AXE.read_text())
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then((r) => done(r.violations.map((v) => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map((n) => n.target.join(' '))}))));"
    )
    assert result == [], f"{view}: {json.dumps(result, indent=1)}"


def _shot(browser, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _check(browser, view: str) -> None:  # type: ignore[no-untyped-def]
    """Every view: axe-core finds nothing, and a screenshot is kept."""
    _axe(browser, view)
    _shot(browser, view)


def _switch_language(browser, to: str) -> None:  # type: ignore[no-untyped-def]
    if browser.execute_script("return document.documentElement.lang").startswith(to):
        return
    _click(browser, _find(browser, "#lang-switch"))
    _wait(
        browser, lambda d: d.execute_script("return document.documentElement.lang").startswith(to)
    )


def _rect(browser, element) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return browser.execute_script(  # type: ignore[no-any-return]
        "const r = arguments[0].getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,"
        " width: r.width, height: r.height};",
        element,
    )


# ---- the first screen and a chat ----


def test_the_first_screen_says_what_this_is_and_an_example_asks_itself(
    page, server: Server
) -> None:  # type: ignore[no-untyped-def]
    assert page.switch_to.active_element == _find(page, "#question")  # autofocus
    assert "161 entries" in _find(page, "#scope").text and "中文" in _find(page, "#scope").text
    examples = _all(page, "#examples button")
    assert 6 <= len(examples) <= 8
    topics = [a.text for a in _all(page, "#welcome-topics a")]
    assert len(topics) == 6 and all(t.endswith(")") for t in topics), topics
    _check(page, "welcome-desktop-en")

    _click(page, examples[1])  # "Why does my container exit immediately after starting?"
    _wait(page, lambda d: _all(d, '.msg.assistant[aria-busy="false"]'))
    reply = _find(page, ".msg.assistant")
    assert "main process" in reply.find_element("css selector", ".answer").text
    assert "/#/c/" in page.current_url  # the chat has an address: a reload keeps it
    assert not _find(page, "#welcome").is_displayed()
    # The view starts at the new question, below the sticky header.
    header = _rect(page, _find(page, ".bar"))
    asked = _rect(page, _find(page, ".msg.user"))
    assert header["bottom"] - 1 <= asked["top"] < 900 / 2, (header, asked)
    # The [1] marker links to its source.
    marker = reply.find_element("css selector", ".answer .cite-ref")
    assert marker.text == "[1]"
    _click(page, marker)
    _wait(
        page,
        lambda d: reply.find_element("css selector", '.citation[data-n="1"]').get_attribute("open"),
    )
    _wait(page, lambda d: reply.find_elements("css selector", ".citation .source a"))
    link = reply.find_element("css selector", '.citation a[href^="#/entry/"]')
    assert link.text == "Open the full entry"  # not the raw address
    _check(page, "chat-desktop-en")


def test_code_blocks_stay_under_the_header_and_copy_covers_no_code(page) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(page, EXITS)
    block = reply.find_element("css selector", ".code")
    pre, copy = (
        block.find_element("css selector", "pre"),
        block.find_element("css selector", ".copy"),
    )
    assert _rect(page, copy)["bottom"] <= _rect(page, pre)["top"] + 1  # above the code, not on it
    assert pre.get_attribute("tabindex") == "0"  # a scrollable block is reachable by keyboard
    # Scroll the block under the sticky header: the header is what shows there.
    page.execute_script("window.scrollBy(0, arguments[0].getBoundingClientRect().top - 10)", block)
    header = _rect(page, _find(page, ".bar"))
    on_top = page.execute_script(
        "const e = document.elementFromPoint(arguments[0], arguments[1]);"
        "return !!e.closest('.bar');",
        header["left"] + 300,
        header["bottom"] - 5,
    )
    assert on_top


def test_a_chat_survives_a_reload_and_is_listed_in_recent_chats(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    _ask(page, "docker save vs docker export")
    follow = _ask(page, "and how do I load it on the other machine?")
    assert follow.find_elements("css selector", ".citation")
    address = page.current_url
    page.refresh()
    _wait(page, lambda d: len(_all(d, '.msg.assistant[aria-busy="false"]')) == 2)
    assert page.current_url == address
    questions = [m.text for m in _all(page, ".msg.user")]
    assert questions == [
        "docker save vs docker export",
        "and how do I load it on the other machine?",
    ]
    assert _all(page, ".msg.assistant .citation")  # citations come back with the turns
    # localStorage keeps ids and titles only.
    stored = json.loads(page.execute_script("return localStorage.getItem('dockfaq-chats')"))
    assert [set(c) for c in stored] == [{"id", "title"}]
    assert stored[0]["title"] == "docker save vs docker export"
    _click(page, _find(page, "#new-chat"))
    assert page.current_url.endswith("/#/") and not _all(page, ".msg")
    assert _find(page, "#welcome").is_displayed()
    recent = _find(page, "#welcome-recent a")
    assert recent.text == "docker save vs docker export"
    _click(page, recent)
    _wait(page, lambda d: len(_all(d, ".msg.user")) == 2)
    assert page.current_url == address
    # A chat the server no longer has: said so, and a new chat instead of an empty page.
    page.get(server.base + "/#/c/0123456789abcdef0123456789abcdef")
    _wait(page, lambda d: _find(d, "#chat-notice").is_displayed())
    assert "no longer on the server" in _find(page, "#chat-notice").text
    assert _find(page, "#welcome").is_displayed()


def test_on_a_slow_link_enter_and_new_chat_do_not_mix_up_chats(page) -> None:  # type: ignore[no-untyped-def]
    _network(page, latency=2500)
    _type(page, EXITS)
    box = _find(page, "#question")
    box.send_keys("\n")  # Enter asks
    _wait(page, lambda d: _find(d, "#stop-button").is_displayed(), 5)
    assert _find(page, ".msg.assistant .thinking").is_displayed()  # a visible "thinking"
    box.send_keys("docker save vs docker export\n")  # Enter again while it loads: nothing sent
    assert len(_all(page, ".msg.user")) == 1
    assert box.get_attribute("value") == "docker save vs docker export"
    _click(page, _find(page, "#new-chat"))  # while the first answer is still on its way
    time.sleep(4)  # past when the first answer would have arrived
    assert not _all(page, ".msg") and page.current_url.endswith("/#/")
    _network(page)
    reply = _ask(page, "docker save vs docker export")
    assert "docker save" in reply.text
    assert len(_all(page, ".msg.user")) == 1  # the old chat did not come back
    first_chat = page.current_url

    # Markdown while it streams: never raw ``` or ** on screen, then no jump at the end.
    _network(page, latency=300, throughput=3000)
    _type(page, EXITS)
    _click(page, _find(page, "#ask-button"))
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        last = _all(page, ".msg.assistant")[-1]
        seen.append(last.find_element("css selector", ".answer").text)
        if last.get_attribute("aria-busy") == "false":
            break
        time.sleep(0.05)
    assert len({s for s in seen if s}) > 2, "the answer streamed in pieces"
    assert not [s for s in seen if "```" in s or "**" in s]
    assert page.current_url == first_chat  # the same chat continued
    # Where a piece of text ends decides what a frame shows: every cut inside a mark, directly.
    cuts = {
        "A **bo": "A ",
        "A **bold** and `co": "A **bold** and ",
        "one\n``": "one\n",
        "one\n```sh\nrm **": "one\n```sh\nrm **",  # inside code: as it is
    }
    assert {cut: page.execute_script("return settled(arguments[0])", cut) for cut in cuts} == cuts

    # Stop while streaming: said so, with Retry, and the question back in the box.
    _network(page, latency=2500)
    _type(page, "how do I run a container as a non-root user")
    _click(page, _find(page, "#ask-button"))
    _wait(page, lambda d: _find(d, "#stop-button").is_displayed(), 5)
    _click(page, _find(page, "#stop-button"))
    last = _wait(
        page,
        lambda d: (
            _all(d, '.msg.assistant[aria-busy="false"]')[-1:]
            and _all(d, ".msg.assistant")[-1].find_elements("css selector", ".note")
        ),
    )
    assert last[0].text == "Stopped."
    assert (
        _find(page, "#question").get_attribute("value")
        == "how do I run a container as a non-root user"
    )
    _check(page, "stopped-desktop-en")


def test_failures_say_what_happened_and_offer_a_retry(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(page, "docker save vs docker export")
    _network(page, offline=True)
    _wait(page, lambda d: _find(d, "#offline").is_displayed(), 5)
    # A vote that cannot be sent says so (it used to throw).
    _click(page, reply.find_element("css selector", '.feedback button[aria-label="Helpful"]'))
    _wait(
        page,
        lambda d: "not saved" in reply.find_element("css selector", ".feedback [role=status]").text,
    )
    _type(page, EXITS)
    _click(page, _find(page, "#ask-button"))
    failed = _wait(page, lambda d: _all(d, ".msg.failed"))[0]
    assert "Cannot reach dockfaq" in failed.text
    assert _find(page, "#question").get_attribute("value") == EXITS  # the question is kept
    _check(page, "offline-desktop-en")
    _network(page)
    _wait(page, lambda d: not _find(d, "#offline").is_displayed(), 5)
    _click(page, failed.find_element("css selector", ".actions button"))  # Retry
    _wait(
        page,
        lambda d: (
            not _all(d, ".msg.failed") and len(_all(d, '.msg.assistant[aria-busy="false"]')) == 2
        ),
    )
    assert "main process" in _all(page, ".msg.assistant")[-1].text
    assert [m.text for m in _all(page, ".msg.user")] == ["docker save vs docker export", EXITS]


def test_feedback_with_a_reason_and_on_refusals(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(page, EXITS)
    _click(page, reply.find_element("css selector", '.feedback button[aria-label="Not helpful"]'))
    comment = _wait(page, lambda d: reply.find_element("css selector", ".feedback textarea"))
    assert page.switch_to.active_element == comment
    comment.send_keys("I run it with compose")
    _click(page, reply.find_element("css selector", '.feedback button[type="submit"]'))
    _wait(
        page,
        lambda d: "noted" in reply.find_element("css selector", ".feedback [role=status]").text,
    )
    rows = server.rows("SELECT rating, comment FROM feedback ORDER BY seq DESC LIMIT 1")
    assert rows == [("down", "I run it with compose")]

    refused = _ask(page, OFF_TOPIC)
    assert "refused" in refused.get_attribute("class")
    assert refused.find_elements("css selector", ".suggestions button")  # the nearest entries
    _check(page, "refusal-desktop-en")
    _click(
        page, refused.find_element("css selector", ".feedback button")
    )  # "should have been answered"
    _wait(page, lambda d: refused.find_elements("css selector", ".feedback textarea"))
    rows = server.rows(
        "SELECT f.rating FROM feedback f JOIN turns t ON t.message_id = f.message_id "
        f"WHERE t.question = '{OFF_TOPIC}'"
    )
    assert rows == [("down",)]
    thanks = _ask(page, "thanks!")  # small talk: neither a refusal nor rated
    assert not thanks.find_elements("css selector", ".feedback")
    assert "refused" not in thanks.get_attribute("class")


def test_hostile_text_is_shown_as_text(page) -> None:  # type: ignore[no-untyped-def]
    hostile = _ask(page, "<script>window.hacked = 1</script> <img src=x onerror=alert(1)>")
    assert _all(page, ".msg.user")[-1].text.startswith("<script>window.hacked = 1</script>")
    assert page.execute_script("return window.hacked === undefined")
    assert not _all(page, "#messages script, #messages img")
    assert hostile.text


def test_a_long_paste_is_refused_out_loud_not_cut(page) -> None:  # type: ignore[no-untyped-def]
    log = "Error response from daemon: container exited\n" * 60  # 2,700 characters
    page.execute_script(
        "const box = document.getElementById('question'); box.value = arguments[0];"
        "box.dispatchEvent(new Event('input'));",
        log,
    )
    assert len(_find(page, "#question").get_attribute("value")) == len(log)
    help_text = _find(page, "#question-help")
    assert "the limit is 2,000" in help_text.text and "over" in help_text.get_attribute("class")
    assert not _find(page, "#ask-button").is_enabled()


# ---- FAQ search ----


def test_search_opens_from_anywhere_and_moves_with_the_keyboard(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _click(page, _find(page, "body"))
    ActionChains(page).key_down(Keys.CONTROL).send_keys("k").key_up(Keys.CONTROL).perform()
    search = _wait(
        page, lambda d: _find(d, "#faq-search").is_displayed() and _find(d, "#faq-search")
    )
    assert page.switch_to.active_element == search
    search.send_keys("exit code 137")
    settled = '#faq-results[data-query="exit code 137"] a'
    _wait(page, lambda d: _all(d, settled))
    assert "q=exit+code+137" in page.current_url  # the query is in the address
    assert _find(page, "#faq-count").text == "10 entries for “exit code 137”"
    marks = [m.text.lower() for m in _all(page, "#faq-results mark")]
    assert {"exit", "code", "137"} <= set(marks)
    links = _all(page, settled)
    search.send_keys(Keys.ARROW_DOWN)
    assert page.switch_to.active_element == links[0]
    page.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert page.switch_to.active_element == links[1]
    page.switch_to.active_element.send_keys(Keys.ARROW_UP, Keys.ENTER)
    title = _wait(page, lambda d: _find(d, "#entry-title").text and _find(d, "#entry-title"))
    assert "137" in title.text and page.switch_to.active_element == title
    back = _find(page, "#back")
    assert back.text == "← Back to the search"
    _click(page, back)
    _wait(page, lambda d: _find(d, "#faq-search").is_displayed())
    assert _find(page, "#faq-search").get_attribute("value") == "exit code 137"
    _wait(page, lambda d: _all(d, settled))
    _check(page, "search-desktop-en")
    # A topic narrows the search, says so, and is in the address: Back undoes it.
    _click(page, _all(page, "#topics button")[2])  # Containers that exit
    _wait(page, lambda d: "topic=container-exits" in d.current_url)
    _wait(page, lambda d: "“Containers that exit” only" in _find(d, "#faq-count").text)
    page.back()
    _wait(page, lambda d: "topic=" not in d.current_url)
    _wait(page, lambda d: "only" not in _find(d, "#faq-count").text)
    # "/" opens the search too, from an entry page.
    page.get(server.base + "/#/entry/save-vs-export")
    _wait(page, lambda d: _find(d, "#entry-title").text)
    _find(page, "body").send_keys("/")
    _wait(page, lambda d: d.switch_to.active_element == _find(d, "#faq-search"))


def test_search_says_no_results_and_offers_the_chat(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    page.get(server.base + "/#/faq")
    _find(page, "#faq-search").send_keys("asdfghjkl")
    _wait(page, lambda d: _find(d, "#faq-empty").is_displayed())
    assert not _all(page, "#faq-results li")
    assert _find(page, "#faq-count").text == "0 entries for “asdfghjkl”"
    _check(page, "no-results-desktop-en")
    _click(page, _find(page, "#ask-instead"))
    _wait(page, lambda d: _all(d, '.msg.assistant[aria-busy="false"]'))
    assert _find(page, ".msg.user").text == "asdfghjkl"
    # Snippets keep what looks like markup: mem_limit is not "memlimit".
    page.get(server.base + "/#/faq?q=no_new_privs")
    _wait(page, lambda d: _all(d, '#faq-results[data-query="no_new_privs"] li'))
    assert "no_new_privs" in _find(page, "#faq-results").text


# ---- entry pages ----


def test_entry_pages_vote_relate_and_lead_back_to_the_chat(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    for question in (
        "docker save vs docker export",
        EXITS,
        "how do I run a container as a non-root user",
    ):
        _ask(page, question)
    chat = page.current_url
    first = _all(page, ".msg.assistant")[0]
    _click(page, first.find_element("css selector", ".citation summary"))
    link = _wait(
        page, lambda d: first.find_element("css selector", '.citation a[href^="#/entry/"]')
    )
    page.execute_script("window.scrollTo(0, 400)")
    scrolled = page.execute_script("return window.scrollY")
    page.execute_script("arguments[0].click()", link)  # where the reader is, not scrolled to
    _wait(page, lambda d: _find(d, "#entry-title").text)
    back = _find(page, "#back")
    assert back.text == "← Back to the chat"
    related = _all(page, ".related a")
    assert 1 <= len(related) <= 4 and all(
        "save-vs-export" not in r.get_attribute("href") for r in related
    )
    _check(page, "entry-desktop-en")
    # Was this helpful? (stored with the entry id), once per browser.
    _click(
        page, page.find_element("css selector", '#entry .feedback button[aria-label="Not helpful"]')
    )
    page.find_element("css selector", "#entry .feedback textarea").send_keys("needs a diagram")
    _click(page, page.find_element("css selector", '#entry .feedback button[type="submit"]'))
    _wait(page, lambda d: "noted" in _find(d, "#entry .feedback [role=status]").text)
    assert server.rows("SELECT entry_id, rating, comment FROM entry_votes") == [
        ("save-vs-export", "down", "needs a diagram")
    ]
    assert not _find(page, '#entry .feedback button[aria-label="Helpful"]').is_enabled()
    # Copy link says what happened (copied, or the address to copy by hand).
    _click(page, _find(page, "#entry .actions button:nth-of-type(2)"))
    status = _wait(page, lambda d: _find(d, "#entry .actions [role=status]").text)
    assert status == "Link copied" or status.endswith("#/entry/save-vs-export")
    # Back: the same chat, at the same place.
    _click(page, back)
    _wait(page, lambda d: d.current_url == chat and _find(d, "#chat-panel").is_displayed())
    assert abs(page.execute_script("return window.scrollY") - scrolled) <= 2
    assert len(_all(page, ".msg.user")) == 3
    # "Ask about this in chat": back in the chat with the entry named in the box.
    page.get(server.base + "/#/entry/exit-codes")
    _wait(page, lambda d: _find(d, "#entry-title").text)
    _click(page, _find(page, "#entry .actions button"))
    _wait(page, lambda d: _find(d, "#chat-panel").is_displayed())
    box = _find(page, "#question")
    assert box.get_attribute("value").startswith("About “What Docker container exit codes mean")
    assert page.switch_to.active_element == box


def test_unknown_addresses_say_so(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    page.get(server.base + "/#/something")
    _wait(page, lambda d: _find(d, "#missing-panel").is_displayed())
    assert "There is no page at “/something”" in _find(page, "#missing-text").text
    _check(page, "missing-desktop-en")
    page.get(server.base + "/#/entry/no-such-entry")
    _wait(page, lambda d: _find(d, "#missing-panel").is_displayed())
    assert "no FAQ entry “no-such-entry”" in _find(page, "#missing-text").text
    page.get(server.base + "/#faq")
    _wait(page, lambda d: _find(d, "#faq-panel").is_displayed())
    assert page.current_url.endswith("/#/faq")
    page.get(server.base + "/#/entry/Image_vs_Container")
    _wait(page, lambda d: _find(d, "#entry-title").text)
    assert page.current_url.endswith("/#/entry/image-vs-container")


# ---- languages, phones, themes ----


def test_switching_to_chinese_changes_every_label_on_screen(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(page, EXITS)
    refusal = _ask(page, OFF_TOPIC)
    _switch_language(page, "zh")
    assert page.title == "dockfaq — Docker 问答"
    assert reply.find_element("css selector", ".copy").text == "复制"
    assert reply.find_element("css selector", ".copy").get_attribute("aria-label") == "复制代码"
    feedback = reply.find_element("css selector", ".feedback")
    assert feedback.get_attribute("aria-label") == "这个回答有帮助吗？"
    assert "这个回答有帮助吗？" in feedback.text
    labels = [
        b.get_attribute("aria-label") for b in feedback.find_elements("css selector", "button")
    ]
    assert labels == ["有帮助", "没帮助"]
    assert refusal.find_element("css selector", ".note").text == "FAQ 里没有找到答案。"
    assert refusal.find_element("css selector", ".feedback button").text == "这个问题应该能回答"
    assert _find(page, "nav").get_attribute("aria-label") == "栏目"
    assert _find(page, "#lang-switch").get_attribute("aria-label") == "切换到英文"
    assert _find(page, "#lang-switch").text == "English"
    assert _find(page, "#new-chat").text == "新对话"
    _check(page, "chat-desktop-zh")
    # Errors in the page's language too.
    _network(page, offline=True)
    _type(page, "docker 镜像和容器的区别")
    _click(page, _find(page, "#ask-button"))
    failed = _wait(page, lambda d: _all(d, ".msg.failed"))[0]
    assert "连不上 dockfaq" in failed.text and "Failed to fetch" not in failed.text
    assert failed.find_element("css selector", ".actions button").text == "重试"
    _network(page)
    page.get(server.base + "/#/faq")
    _wait(page, lambda d: _all(d, "#faq-results li"))
    assert _find(page, "#topics").get_attribute("aria-label") == "主题"
    assert _find(page, "#faq-heading").text == "搜索 FAQ"
    _check(page, "faq-desktop-zh")
    page.get(server.base + "/#/entry/save-vs-export")
    _wait(page, lambda d: "区别" in _find(d, "#entry-title").text)
    assert page.title.endswith("— dockfaq") and "区别" in page.title
    assert _find(page, "#back").text == "← 返回搜索"
    _check(page, "entry-desktop-zh")
    page.get(server.base + "/#/")
    _wait(page, lambda d: "镜像和容器有什么区别？" in _find(d, "#examples").text)
    _check(page, "welcome-desktop-zh")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_on_a_phone(page, server: Server, language: str) -> None:  # type: ignore[no-untyped-def]
    page.set_window_size(*PHONE)
    _switch_language(page, language)
    _check(page, f"welcome-phone-{language}")
    # A touch screen: Enter is a new line (a phone keyboard has no Shift), the button sends.
    page.execute_cdp_cmd(
        "Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5}
    )
    try:
        page.refresh()
        _wait(page, lambda d: d.execute_script("return matchMedia('(pointer: coarse)').matches"))
        _wait(page, lambda d: _find(d, "#examples").text)
        hint = {"en": "Use the Ask button to send.", "zh": "点“提问”发送。"}[language]
        assert _find(page, "#question-help").text == hint
        box = _find(page, "#question")
        box.send_keys("docker save\nvs docker export")
        assert box.get_attribute("value") == "docker save\nvs docker export" and not _all(
            page, ".msg"
        )
        box.clear()
    finally:
        page.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
    question = EXITS if language == "en" else "容器启动后马上就退出了，为什么？"
    _ask(page, "docker save vs docker export")
    _ask(page, question)
    height = page.execute_script("return window.innerHeight")
    header = _rect(page, _find(page, ".bar"))
    asked = _rect(page, _all(page, ".msg.user")[-1])
    assert header["bottom"] - 1 <= asked["top"] < height, (header, asked)  # not under the header
    composer = _rect(page, _find(page, "#question"))
    assert composer["top"] > 0 and composer["bottom"] <= height  # the input is on screen
    assert page.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    small = page.execute_script(
        "return [...document.querySelectorAll('button, .bar nav a')]"
        ".filter((b) => b.offsetParent && !b.classList.contains('cite-ref'))"
        ".map((b) => b.getBoundingClientRect())"
        ".filter((r) => r.width < 44 || r.height < 44).length"
    )
    assert small == 0, "touch targets of at least 44 px"
    _check(page, f"chat-phone-{language}")
    page.get(server.base + "/#/faq?q=" + ("exit code 137" if language == "en" else "退出码"))
    _wait(page, lambda d: _all(d, "#faq-results li"))
    assert page.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    _check(page, f"faq-phone-{language}")
    page.get(server.base + "/#/entry/exit-codes")
    _wait(page, lambda d: _find(d, "#entry-title").text)
    assert page.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    _check(page, f"entry-phone-{language}")


def test_dark_mode_favicon_and_skip_link(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        page.refresh()
        _wait(page, lambda d: d.find_element("id", "examples").text)
        background = page.execute_script(
            "return getComputedStyle(document.documentElement).backgroundColor"
        )
        assert background == "rgb(18, 21, 27)"
        _check(page, "welcome-desktop-dark")
        _ask(page, EXITS)
        _ask(page, OFF_TOPIC)
        _check(page, "chat-desktop-dark")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    icon = _find(page, 'link[rel="icon"]').get_attribute("href")
    assert (
        page.execute_async_script("fetch(arguments[0]).then((r) => arguments[1](r.status))", icon)
        == 200
    )
    page.get(server.base + "/#/faq")
    page.refresh()  # a fresh load: the first Tab reaches the skip link
    _wait(page, lambda d: _all(d, "#faq-results li"))
    ActionChains(page).send_keys(Keys.TAB).perform()
    skip = page.switch_to.active_element
    assert skip.get_attribute("id") == "skip" and skip.is_displayed()
    skip.send_keys(Keys.ENTER)
    assert page.switch_to.active_element.get_attribute("id") == "main"


# ---- security ----


def _csp_violations(browser) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
        or "Content-Security-Policy" in entry["message"]
    ]


def test_the_page_and_the_docs_run_under_their_content_security_policy(  # type: ignore[no-untyped-def]
    page, server: Server
) -> None:
    _ask(page, "docker save vs docker export")
    page.get(f"{server.base}/#/faq")
    _find(page, "#faq-search").send_keys("docker save")
    _wait(page, lambda d: _all(d, "#faq-results li"))
    page.get(f"{server.base}/#/entry/exit-codes")
    _wait(page, lambda d: _find(d, "#entry-title").text)
    assert _csp_violations(page) == []
    page.get(f"{server.base}/docs")  # Swagger UI from the installed package, not a CDN
    _wait(page, lambda d: _all(d, "#swagger-ui .opblock"))
    assert _csp_violations(page) == []
    assert "/chat" in _find(page, "#swagger-ui").text


def test_the_page_works_with_api_keys_on_through_its_session(  # type: ignore[no-untyped-def]
    browser, tmp_path_factory: pytest.TempPathFactory, real_index_dir: Path
) -> None:
    """DOCKFAQ_PAGE_PUBLIC: the page asks, votes, reloads a chat and searches with no key in it;
    its cookie is invisible to scripts and opens nothing but the page's routes."""
    env = server_env_for(tmp_path_factory.mktemp("page-keys"), CORPUS)
    env |= {
        "DOCKFAQ_INDEX_DIR": str(real_index_dir),
        "DOCKFAQ_API_KEYS": "page-test-key-0123456789",
        "DOCKFAQ_PAGE_PUBLIC": "true",
    }
    process, base = start_server(env, Path(env["DOCKFAQ_DATA_DIR"]).parent / "server.log")
    try:
        browser.get(base + "/")
        reply = _ask(browser, EXITS)
        assert "main process" in reply.find_element("css selector", ".answer").text
        thumbs = reply.find_elements("css selector", ".feedback button")
        _click(browser, thumbs[0])
        _wait(browser, lambda d: thumbs[0].get_attribute("aria-pressed") == "true")
        browser.refresh()  # the chat comes back through GET /conversations/{id}
        _wait(browser, lambda d: _all(d, '.msg.assistant[aria-busy="false"] .citation'))
        browser.get(base + "/#/entry/exit-codes")
        _wait(browser, lambda d: _find(d, "#entry-title").text)
        _click(browser, _find(browser, '#entry .feedback button[aria-label="Helpful"]'))
        _wait(browser, lambda d: _find(d, "#entry .feedback [role=status]").text == "Thanks!")
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
