"""The chat page against servers that want an API key or limit the request rate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.static.browser import chromium, color_scheme, emulate
from tests.conftest import fixture_server

pytest.importorskip("selenium", reason="selenium is not installed")

from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

from tests.app.static.test_chat_page import ARTIFACTS, ask, document_ids, wait  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.server]

KEY = "test-key-1"
STORED = "return sessionStorage.getItem('ragqa.apiKey')"

# Keeps what the page's own code sent to /api/* and what came back.
RECORD_CALLS = """
window.__calls = [];
const realFetch = window.fetch;
window.fetch = async (url, options = {}) => {
  const response = await realFetch(url, options);
  window.__calls.push({
    url: String(url),
    auth: new Headers(options.headers).get("Authorization"),
    status: response.status,
    retryAfter: response.headers.get("Retry-After"),
  });
  return response;
};
"""


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fixture_server(tmp_path_factory.mktemp("keyed") / "store", api_keys=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # One request, then one more every 100 s: the page's document list takes the only one.
    folder = tmp_path_factory.mktemp("limited") / "store"
    with fixture_server(folder, rate_limit=0.01, rate_burst=1) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with chromium() as driver:
        yield driver


def open_page(driver: Chrome, url: str) -> Chrome:
    """The chat page at desktop size in a session that holds no key yet, calls recorded."""
    emulate(driver, 1280, 900)
    color_scheme(driver, "light")
    driver.get(url + "/healthz")  # same origin: its sessionStorage is the page's
    driver.execute_script("sessionStorage.clear(); localStorage.clear()")
    driver.get(url + "/")
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.execute_script(RECORD_CALLS)
    driver.get_log("browser")
    return driver


@pytest.fixture
def page(browser: Chrome, keyed_server: str) -> Chrome:
    return open_page(browser, keyed_server)


def prompt_shown(driver: Chrome) -> bool:
    return driver.find_element(By.ID, "key-panel").is_displayed()


def focused_id(driver: Chrome) -> str:
    return str(driver.execute_script("return document.activeElement.id"))


def enter_key(driver: Chrome, key: str) -> None:
    driver.find_element(By.ID, "api-key").send_keys(key, Keys.ENTER)


def calls(driver: Chrome, path: str) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = driver.execute_script("return window.__calls")
    return [c for c in recorded if c["url"].startswith(path)]


def refused_reason(url: str, key: str | None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(url + "/api/documents", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return str(response.json()["detail"])


def script_errors(driver: Chrome) -> list[dict[str, Any]]:
    # Chromium logs every 401 and 429 response as an error; those are expected here.
    return [
        e
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]


def answered(turn: WebElement) -> bool:
    answer = turn.find_element(By.CSS_SELECTOR, ".answer")
    return "pending" not in (answer.get_attribute("class") or "")


def test_wrong_then_right_key_answers_the_question_that_waited(
    page: Chrome, keyed_server: str
) -> None:
    # The document list is asked for at load, so the prompt is there before any question.
    wait(page).until(prompt_shown)
    key_input = page.find_element(By.ID, "api-key")
    assert key_input.get_attribute("type") == "password"
    assert key_input.accessible_name == "API key"
    assert focused_id(page) == "api-key"
    assert page.find_element(By.ID, "key-error").text == ""
    assert not page.find_element(By.ID, "forget-key").is_displayed()

    page.find_element(By.ID, "question").send_keys("What is ragqa?", Keys.ENTER)
    wait(page).until(lambda d: calls(d, "api/ask"))
    wait(page).until(lambda d: focused_id(d) == "api-key")  # the refused question sends focus back
    turn = page.find_element(By.CSS_SELECTOR, "#log > .turn")
    assert not answered(turn), "the question gave up instead of waiting for the key"

    enter_key(page, "wrong-key")
    error = page.find_element(By.ID, "key-error")
    wait(page).until(lambda _: error.text)
    assert error.text == refused_reason(keyed_server, "wrong-key")
    assert prompt_shown(page) and focused_id(page) == "api-key"
    assert key_input.get_attribute("value") == ""
    assert key_input.get_attribute("aria-invalid") == "true"
    assert page.execute_script(STORED) is None, "a refused key was kept"
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-key.png"))

    enter_key(page, KEY)
    wait(page).until(lambda _: answered(turn))
    assert not prompt_shown(page)
    assert not turn.find_elements(By.CSS_SELECTOR, ".status.error")
    assert turn.find_element(By.CSS_SELECTOR, ".answer").text.strip()
    assert turn.find_elements(By.CSS_SELECTOR, ".source-card"), "no sources under the answer"
    # The same streaming request, sent again each time a key came in.
    asks = [(c["auth"], c["status"]) for c in calls(page, "api/ask")]
    assert asks == [(None, 401), ("Bearer wrong-key", 401), (f"Bearer {KEY}", 200)]
    wait(page).until(document_ids)
    assert page.execute_script(STORED) == KEY
    assert page.execute_script("return localStorage.length") == 0
    assert page.find_element(By.ID, "forget-key").is_displayed()
    assert script_errors(page) == []


def test_a_reload_in_the_same_session_keeps_the_key(
    page: Chrome, keyed_server: str, tmp_path: Path
) -> None:
    wait(page).until(prompt_shown)
    enter_key(page, KEY)
    wait(page).until(document_ids)

    page.refresh()
    wait(page).until(document_ids)  # listed with the stored key, no prompt in between
    page.execute_script(RECORD_CALLS)
    assert not prompt_shown(page)
    assert page.find_element(By.ID, "forget-key").is_displayed()
    turn = ask(page, "How long does sourdough proof?")
    assert turn.find_elements(By.CSS_SELECTOR, ".source-card")

    name = "keyed-upload.md"
    (tmp_path / name).write_text("# Keyed upload\n\nUploads carry the key too.\n", "utf-8")
    page.find_element(By.ID, "file-input").send_keys(str(tmp_path / name))
    wait(page).until(lambda d: name in document_ids(d))
    assert not prompt_shown(page)
    sent = calls(page, "api/")
    assert sent and all(c["auth"] == f"Bearer {KEY}" and c["status"] < 400 for c in sent), sent
    assert script_errors(page) == []


def test_cancel_shows_the_reason_and_forget_key_asks_again(page: Chrome, keyed_server: str) -> None:
    wait(page).until(prompt_shown)
    page.find_element(By.ID, "api-key").send_keys(Keys.ESCAPE)
    wait(page).until(lambda d: not prompt_shown(d))
    assert focused_id(page) == "question"
    doc_error = page.find_element(By.ID, "doc-error")
    wait(page).until(lambda _: doc_error.is_displayed())
    assert refused_reason(keyed_server, None) in doc_error.text

    page.find_element(By.ID, "question").send_keys("What is ragqa?", Keys.ENTER)
    wait(page).until(prompt_shown)
    wait(page).until(lambda d: focused_id(d) == "api-key")
    enter_key(page, KEY)
    turn = page.find_element(By.CSS_SELECTOR, "#log > .turn")
    wait(page).until(lambda _: answered(turn))
    assert not turn.find_elements(By.CSS_SELECTOR, ".status.error")
    wait(page).until(document_ids)

    forget = page.find_element(By.ID, "forget-key")
    forget.click()
    assert page.execute_script(STORED) is None
    assert not forget.is_displayed()
    wait(page).until(prompt_shown)  # the document list needs the key again
    assert document_ids(page) == []
    assert script_errors(page) == []


def test_rate_limited_question_says_when_to_try_again(browser: Chrome, limited_server: str) -> None:
    page = open_page(browser, limited_server)
    wait(page).until(document_ids)  # the one request the bucket holds

    turn = ask(page, "What is ragqa?", ok=False)
    [refused] = calls(page, "api/ask")
    assert refused["status"] == 429 and refused["retryAfter"], refused
    seconds = int(refused["retryAfter"])
    status = turn.find_element(By.CSS_SELECTOR, ".status.error").text
    assert status == f"Too many requests. Try again in {seconds} seconds."
    assert seconds > 1  # a rate of 0.01/s leaves ~100 s to wait
    assert not prompt_shown(page), "no keys configured, yet the key prompt appeared"
    assert script_errors(page) == []
