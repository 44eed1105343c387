"""The chat page at `/`, driven in headless Chromium against a real server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.app.static.browser import color_scheme, emulate

pytest.importorskip("selenium", reason="selenium is not installed")

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.server]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
TIMEOUT = 30  # seconds; the echo generator answers at once, this only bounds a hang

# Keeps a copy of every /api/ask request body so tests can see what the page sent.
RECORD_ASKS = """
window.__asks = [];
const realFetch = window.fetch;
window.fetch = (url, options) => {
  if (String(url).includes("api/ask")) window.__asks.push(JSON.parse(options.body));
  return realFetch(url, options);
};
"""


def wait(driver: Chrome) -> WebDriverWait[Chrome]:
    # Lists re-render after each change; an element read mid-swap is retried, not fatal.
    return WebDriverWait(driver, TIMEOUT, ignored_exceptions=[StaleElementReferenceException])


def ask(driver: Chrome, question: str, *, ok: bool = True) -> WebElement:
    """Type a question, press Enter, and return its turn once the answer is complete
    (and, when `ok`, without an error shown)."""

    def turns(d: Chrome) -> list[WebElement]:
        return d.find_elements(By.CSS_SELECTOR, "#log > .turn")

    before = len(turns(driver))
    driver.find_element(By.ID, "question").send_keys(question, Keys.ENTER)
    wait(driver).until(lambda d: len(turns(d)) > before)
    turn = turns(driver)[-1]
    answer = turn.find_element(By.CSS_SELECTOR, ".answer")
    wait(driver).until(lambda _: "pending" not in (answer.get_attribute("class") or ""))
    wait(driver).until(lambda d: d.find_element(By.ID, "send").is_enabled())
    errors = turn.find_elements(By.CSS_SELECTOR, ".status.error")
    assert not ok or not errors, f"the page showed an error: {errors[0].text}"
    return turn


def in_viewport(driver: Chrome, element: WebElement) -> bool:
    return bool(
        driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return r.top >= 0 && r.bottom <= window.innerHeight;",
            element,
        )
    )


def document_ids(driver: Chrome) -> list[str]:
    # One script call, so a list re-rendered mid-read cannot leave stale elements behind.
    ids: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#doc-list li.doc')].map(li => li.dataset.id)"
    )
    return ids


def delete_button(driver: Chrome, doc_id: str) -> WebElement | None:
    button: WebElement | None = driver.execute_script(
        "const li = [...document.querySelectorAll('#doc-list li.doc')]"
        "  .find(li => li.dataset.id === arguments[0]);"
        "return li ? li.querySelector('button') : null;",
        doc_id,
    )
    return button


def console_errors(driver: Chrome) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_answer_streams_in_with_linked_sources(page: Chrome) -> None:
    turn = ask(page, "What is ragqa?")

    answer = turn.find_element(By.CSS_SELECTOR, ".answer")
    assert answer.text.strip(), "the answer is empty"
    cards = turn.find_elements(By.CSS_SELECTOR, ".source-card")
    assert cards, "no source cards under the answer"
    assert all(card.find_element(By.CSS_SELECTOR, ".source-name").text for card in cards)
    links = [a for a in answer.find_elements(By.CSS_SELECTOR, "a.cite") if a.text == "[1]"]
    assert links, f"no [1] link in the answer: {answer.text!r}"

    target = page.find_element(By.ID, (links[0].get_attribute("href") or "").split("#")[-1])
    # Centre the link first: near the bottom, the sticky question box would take the click.
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", links[0])
    links[0].click()
    wait(page).until(lambda _: "highlight" in (target.get_attribute("class") or ""))
    wait(page).until(lambda d: in_viewport(d, target))

    sent = page.execute_script("return window.__asks")
    assert sent[0]["stream"] is True and sent[0]["question"] == "What is ragqa?"
    assert sent[0]["history"] == []
    # No API keys on this server: no key prompt, nothing to forget.
    assert not page.find_element(By.ID, "key-panel").is_displayed()
    assert not page.find_element(By.ID, "forget-key").is_displayed()
    assert console_errors(page) == []


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\r\ndata: {json.dumps(data, ensure_ascii=False)}\r\n\r\n"


NOT_GROUNDED = {
    "answer": "I could not find the answer to this question in the documents.",
    "sources": [],
    "citations": [],
    "grounded": False,
    "model": "echo",
    "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    "timings": {"retrieve_ms": 1.0, "generate_ms": 0.0},
}


# Canned /api/ask replies: the page's handling of each outcome, independent of what the
# retriever happens to rank. (status, body, what the page must show, CSS class of it)
CANNED = {
    "not-grounded": (
        200,
        sse("sources", {"sources": []})
        + sse("token", {"text": NOT_GROUNDED["answer"]})
        + sse("done", NOT_GROUNDED),
        "Not found in your documents",
        "status notice",
    ),
    "error-event": (
        200,
        sse("sources", {"sources": []})
        + sse("token", {"text": "Half"})
        + sse("error", {"detail": "the model stopped: out of memory"}),
        "the model stopped: out of memory",
        "status error",
    ),
    "http-503": (
        503,
        json.dumps({"detail": "models are still loading"}),
        "still loading",
        "status error",
    ),
}


@pytest.mark.parametrize("case", CANNED)
def test_answer_outcomes_are_shown_plainly(page: Chrome, case: str) -> None:
    status, body, shown, css = CANNED[case]
    page.execute_script(
        "const [status, body] = arguments;"
        "const type = status === 200 ? 'text/event-stream' : 'application/json';"
        "window.fetch = async () =>"
        "  new Response(body, {status, headers: {'Content-Type': type}});",
        status,
        body,
    )
    turn = ask(page, "What is ragqa?", ok=case == "not-grounded")

    message = turn.find_element(By.CSS_SELECTOR, ".status")
    assert message.get_attribute("class") == css
    assert shown.lower() in message.text.lower()
    if case == "not-grounded":
        assert "not-found" in (turn.get_attribute("class") or "")
        assert turn.find_element(By.CSS_SELECTOR, ".answer").text == NOT_GROUNDED["answer"]


def test_shift_enter_adds_a_line_without_sending(page: Chrome) -> None:
    box = page.find_element(By.ID, "question")
    box.send_keys("first line", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "second line")

    assert box.get_attribute("value") == "first line\nsecond line"
    assert not page.find_elements(By.CSS_SELECTOR, "#log > .turn")
    assert page.execute_script("return window.__asks") == []


def test_follow_up_sends_the_conversation_as_history(page: Chrome) -> None:
    ask(page, "What is ragqa?")
    second = ask(page, "ragqa는 어떤 문서를 검색하나요?")

    assert second.find_element(By.CSS_SELECTOR, ".answer").text.strip()
    assert second.find_element(By.CSS_SELECTOR, ".question").get_attribute("lang") == "ko"
    history = page.execute_script("return window.__asks")[1]["history"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "What is ragqa?"
    assert history[1]["content"].strip()


def test_upload_then_delete_a_document(page: Chrome, tmp_path: Path) -> None:
    wait(page).until(document_ids)
    name = f"page-upload-{uuid.uuid4().hex[:8]}.md"
    upload = tmp_path / name
    upload.write_text("# Upload check\n\nThe zebra upload check mentions 얼룩말.\n", "utf-8")

    page.find_element(By.ID, "file-input").send_keys(str(upload))
    status = wait(page).until(
        lambda d: [
            li.text
            for li in d.find_elements(By.CSS_SELECTOR, "#upload-status li.ok")
            if li.text.startswith(name)
        ]
    )
    assert "added" in status[0]
    button = wait(page).until(lambda d: delete_button(d, name))
    assert button is not None  # until() returns only a truthy value

    button.click()
    wait(page).until(ec.alert_is_present()).accept()
    wait(page).until(lambda d: name not in document_ids(d))
    assert document_ids(page), "deleting one upload emptied the whole list"
    assert console_errors(page) == []


def test_screenshots_desktop_phone_and_dark(page: Chrome) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    ask(page, "What is ragqa?")
    ask(page, "ragqa는 한국어 문서도 찾을 수 있나요?")
    page.execute_script("window.scrollTo(0, 0)")
    assert page.save_screenshot(str(ARTIFACTS / "chat-page.png"))

    emulate(page, 390, 844, mobile=True)
    wait(page).until(lambda d: d.execute_script("return window.innerWidth") == 390)
    overflow = page.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways at phone width by {overflow}px"
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-phone.png"))

    emulate(page, 1280, 900)
    color_scheme(page, "dark")
    background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(247, 247, 245)", "prefers-color-scheme: dark is ignored"
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-dark.png"))
    errors = console_errors(page)
    assert errors == [], json.dumps(errors)
