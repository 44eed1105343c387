"""The chat page's conversation and controls, in headless Chromium against a real server:
follow-ups, search mode and top-k, timings, copy, stop, dark mode, keyboard-only use."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.app.static.browser import color_scheme

pytest.importorskip("selenium", reason="selenium is not installed")

from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.app.static.test_chat_page import (  # noqa: E402
    ARTIFACTS,
    ask,
    console_errors,
    wait,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

FIRST = "How do I keep a sourdough starter alive?"
FOLLOW_UP = "How often should it be fed?"  # "it" is the starter, named only in FIRST

# An /api/ask that sends sources and one token, then waits until the request is aborted.
ENDLESS_ASK = """
const frames = arguments[0];
window.__aborted = false;
const realFetch = window.fetch;
window.fetch = (url, options = {}) => {
  if (!String(url).includes("api/ask")) return realFetch(url, options);
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(frames));
      if (options.signal) {
        options.signal.addEventListener("abort", () => {
          window.__aborted = true;
          controller.error(new DOMException("The user aborted a request.", "AbortError"));
        });
      }
    },
  });
  const headers = { "Content-Type": "text/event-stream" };
  return Promise.resolve(new Response(body, { status: 200, headers }));
};
"""


def source_paths(turn: WebElement) -> list[str]:
    return [
        head.get_attribute("title") or ""
        for head in turn.find_elements(By.CSS_SELECTOR, ".source-card .source-head")
    ]


def press(driver: Chrome, *keys: str, shift: bool = False) -> None:
    """Key presses sent to whatever has focus, Shift held down through them if asked."""
    chain = ActionChains(driver)
    if shift:
        chain.key_down(Keys.SHIFT)
    chain.send_keys(*keys)
    if shift:
        chain.key_up(Keys.SHIFT)
    chain.perform()


def focused_id(driver: Chrome) -> str:
    return str(driver.execute_script("return document.activeElement.id"))


def luminance(css: str) -> float:
    """Relative luminance (WCAG) of an `rgb(...)`/`rgba(...)` colour."""
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def test_follow_up_finds_sources_through_the_earlier_question(
    page: Chrome, live_server: str
) -> None:
    # Alone, the follow-up names nothing the sourdough notes hold: it must need the history.
    alone = httpx.post(f"{live_server}/api/search", json={"query": FOLLOW_UP}, timeout=10)
    assert not alone.json()["results"][0]["source"].endswith("sourdough.md")

    ask(page, FIRST)
    second = ask(page, FOLLOW_UP)

    # The passages come through the earlier question. (Whether they answer is the answer
    # check's business: the echo model quotes a code block, which is not an answer.)
    paths = source_paths(second)
    assert paths and paths[0].endswith("sourdough.md"), paths
    sent = page.execute_script("return window.__asks")[1]
    assert [m["role"] for m in sent["history"]] == ["user", "assistant"]
    assert sent["history"][0]["content"] == FIRST


@pytest.mark.parametrize(("mode", "top_k"), [("lexical", 2), ("dense", 3)])
def test_mode_and_top_k_go_with_the_question(page: Chrome, mode: str, top_k: int) -> None:
    Select(page.find_element(By.ID, "mode")).select_by_value(mode)
    box = page.find_element(By.ID, "top-k")
    box.clear()
    box.send_keys(str(top_k))

    turn = ask(page, "How does a lighthouse warn ships at night?")

    sent = page.execute_script("return window.__asks")[0]
    assert (sent["mode"], sent["top_k"]) == (mode, top_k)
    assert len(turn.find_elements(By.CSS_SELECTOR, ".source-card")) == top_k


def test_timings_shown_and_copy_puts_the_answer_on_the_clipboard(
    page: Chrome, live_server: str
) -> None:
    page.execute_cdp_cmd(
        "Browser.grantPermissions",
        {
            "origin": live_server,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        },
    )
    turn = ask(page, "What is ragqa?")

    meta = turn.find_element(By.CSS_SELECTOR, ".meta .timings").text
    assert re.match(r"echo · retrieve \d+(\.\d)? m?s", meta), meta
    answer = turn.find_element(By.CSS_SELECTOR, ".answer").get_attribute("textContent")
    copy = turn.find_element(By.CSS_SELECTOR, "button.copy")
    copy.click()
    wait(page).until(lambda _: copy.text == "Copied")
    pasted = page.execute_async_script(
        "const done = arguments[0];"
        "navigator.clipboard.readText().then(done, (e) => done('failed: ' + e));"
    )
    # The copy is the answer as the server gave it; the page shows the same text.
    assert pasted and pasted == answer


def test_answer_is_shown_with_timings_from_the_done_event(page: Chrome) -> None:
    done = {
        "answer": "Canned [1].",
        "sources": [],
        "citations": [],
        "grounded": True,
        "model": "canned-model",
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        "timings": {"retrieve_ms": 42.4, "generate_ms": 2345.0},
    }
    frames = f"event: done\ndata: {json.dumps(done)}\n\n"
    page.execute_script(
        "const body = arguments[0];"
        "window.fetch = async () =>"
        "  new Response(body, {headers: {'Content-Type': 'text/event-stream'}});",
        frames,
    )
    turn = ask(page, "What is ragqa?")

    meta = turn.find_element(By.CSS_SELECTOR, ".meta .timings").text
    assert meta == "canned-model · retrieve 42 ms · generate 2.3 s"


@pytest.mark.parametrize("how", ["button", "escape"])
def test_stop_ends_the_stream_and_keeps_what_came(page: Chrome, how: str) -> None:
    frames = (
        'event: sources\ndata: {"sources": []}\n\n'
        'event: token\ndata: {"text": "Half an answer"}\n\n'
    )
    page.execute_script(ENDLESS_ASK, frames)
    stop = page.find_element(By.ID, "stop")
    assert not stop.is_displayed(), "a Stop button with nothing to stop"

    page.find_element(By.ID, "question").send_keys("What is ragqa?", Keys.ENTER)
    turn = wait(page).until(lambda d: d.find_element(By.CSS_SELECTOR, "#log > .turn"))
    answer = turn.find_element(By.CSS_SELECTOR, ".answer")
    wait(page).until(lambda _: answer.text == "Half an answer")
    assert stop.is_displayed() and not page.find_element(By.ID, "send").is_enabled()
    if how == "button":
        stop.click()
    else:
        press(page, Keys.ESCAPE)

    wait(page).until(lambda _: "pending" not in (answer.get_attribute("class") or ""))
    assert page.execute_script("return window.__aborted") is True, "the fetch was not aborted"
    assert turn.find_element(By.CSS_SELECTOR, ".status").text == "Stopped."
    assert answer.text == "Half an answer"
    assert not stop.is_displayed() and page.find_element(By.ID, "send").is_enabled()
    assert focused_id(page) == "question"
    assert console_errors(page) == []


def test_dark_mode_follows_the_system(page: Chrome) -> None:
    ask(page, "What is ragqa?")
    color_scheme(page, "dark")
    colours = page.execute_script(
        "const style = (sel) => getComputedStyle(document.querySelector(sel));"
        "return {"
        "  body: style('body').backgroundColor, text: style('body').color,"
        "  answer: style('.answer').backgroundColor, box: style('#question').backgroundColor,"
        "  select: style('#mode').backgroundColor, selectText: style('#mode').color,"
        "};"
    )
    for surface in ("body", "answer", "box", "select"):
        assert luminance(colours[surface]) < 0.05, (surface, colours)
    for text in ("text", "selectText"):
        assert luminance(colours[text]) > 0.6, (text, colours)
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-dark-controls.png"))

    color_scheme(page, "light")
    assert (
        luminance(page.execute_script("return getComputedStyle(document.body).backgroundColor"))
        > 0.8
    )


def test_keyboard_only_question_with_settings(page: Chrome) -> None:
    assert focused_id(page) == "question", "the page does not start in the question box"
    press(page, Keys.TAB, shift=True)
    order = [focused_id(page)]
    for _ in range(5):
        press(page, Keys.TAB)
        order.append(focused_id(page))
        outline = page.execute_script(
            "const s = getComputedStyle(document.activeElement);"
            "return [s.outlineStyle, parseFloat(s.outlineWidth)];"
        )
        assert outline[0] != "none" and outline[1] >= 1, (order[-1], outline)
    assert order == ["new-chat", "question", "mode", "top-k", "send", "file-input"]

    # Back to the question box, type, pick "dense" and 3 sources, send: keys only.
    press(page, Keys.TAB * 4, shift=True)
    assert focused_id(page) == "question"
    press(page, "How do honeybees find food?", Keys.TAB, Keys.ARROW_DOWN, Keys.TAB)
    press(page, Keys.BACKSPACE, "3")
    press(page, Keys.TAB * 2, shift=True)
    assert focused_id(page) == "question"
    press(page, Keys.ENTER)

    turn = wait(page).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#log > .turn"))[0]
    wait(page).until(lambda _: turn.find_elements(By.CSS_SELECTOR, ".meta .copy"))
    sent = page.execute_script("return window.__asks")
    assert len(sent) == 1
    assert (sent[0]["question"], sent[0]["mode"], sent[0]["top_k"]) == (
        "How do honeybees find food?",
        "dense",
        3,
    )
    wait(page).until(lambda d: focused_id(d) == "question")  # ready for the next question
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-controls.png"))
    assert console_errors(page) == []
