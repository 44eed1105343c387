"""The chat page's quoted and generated answers, in headless Chromium against a real server:
quotes on screen while the model writes, the two told apart, unsupported sentences left
out (and shown on request with the reason) or marked, the quotes-only mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator
from app.main import create_app
from tests.app.static.browser import color_scheme, emulate
from tests.conftest import LiveServer, fixture_store

pytest.importorskip("selenium", reason="selenium is not installed")

from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.app.static.test_chat_page import (  # noqa: E402
    ARTIFACTS,
    RECORD_ASKS,
    ask,
    console_errors,
    wait,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

LIGHTHOUSE = "How does a lighthouse warn ships at night?"
# The first sentence of the lighthouse page: the quote, and what the echo answer repeats.
TRUE_SENTENCE = (
    "A lighthouse marks dangerous coastlines and harbour entrances so that ships can "
    "navigate safely at night."
)
INVENTED = "It was invented by Zorblax Corp in 1987."
EXTRACTED_NOTICE = (
    "Nothing the model wrote both answers the question and is backed by the sources; "
    "showing the quoted sentences instead."
)


class ScriptedGenerator(EchoGenerator):
    """The echo generator's answer (or `replace`) followed by `extra`, written only once
    `gate` is open, so a test can look at the page while the model is still "writing"."""

    def __init__(self) -> None:
        super().__init__(name="scripted")
        self.gate = threading.Event()
        self.reset()

    def reset(self) -> None:
        self.gate.set()
        self.replace: str | None = None
        self.extra = ""
        self.calls = 0

    def answer(self, messages: Sequence[ChatMessage]) -> str:
        base = super().answer(messages) if self.replace is None else self.replace
        return f"{base} {self.extra}".strip()

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.calls += 1
        deadline = time.monotonic() + 60  # a test that fails with the gate shut frees it
        while not self.gate.wait(0.05):
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                return
        yield from super().stream(
            messages, max_new_tokens=max_new_tokens, temperature=temperature, cancel=cancel
        )


@contextmanager
def scripted_server(folder: Path, generator: ScriptedGenerator, **settings: Any) -> Iterator[str]:
    store, emb = fixture_store(folder)
    app = create_app(
        Settings(store=folder, min_relevance=0.2, rate_limit=0, **settings),
        store=store,
        embedder=emb,
        generator=generator,
    )
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def generator() -> ScriptedGenerator:
    return ScriptedGenerator()


@pytest.fixture(scope="module")
def answers_server(
    tmp_path_factory: pytest.TempPathFactory, generator: ScriptedGenerator
) -> Iterator[str]:
    with scripted_server(tmp_path_factory.mktemp("answers") / "store", generator) as url:
        yield url


@pytest.fixture
def scripted(generator: ScriptedGenerator) -> Iterator[ScriptedGenerator]:
    generator.reset()
    try:
        yield generator
    finally:
        generator.reset()  # opens the gate: nothing is left waiting on it


def open_page(driver: Chrome, url: str) -> Chrome:
    """The chat page at desktop size with nothing remembered from earlier tests."""
    emulate(driver, 1280, 900)
    color_scheme(driver, "light")
    driver.get(url + "/healthz")  # same origin: its localStorage is the page's
    driver.execute_script("localStorage.clear(); sessionStorage.clear()")
    driver.get(url + "/")
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.execute_script(RECORD_ASKS)
    driver.get_log("browser")
    return driver


@pytest.fixture
def page(browser: Chrome, answers_server: str, scripted: ScriptedGenerator) -> Chrome:
    return open_page(browser, answers_server)


def block(turn: WebElement, css: str) -> WebElement:
    return turn.find_element(By.CSS_SELECTOR, css)


def squash(text: str) -> str:
    return " ".join(text.split())


def words(element: WebElement) -> str:
    """The element's text as written (`.text` would give the CSS upper-cased labels)."""
    return squash(element.get_attribute("textContent") or "")


def marked_sentence(driver: Chrome, turn: WebElement) -> str:
    marks = turn.find_elements(By.CSS_SELECTOR, ".source-card.highlight .passage mark")
    return squash(marks[0].text) if marks else ""


def click(driver: Chrome, element: WebElement) -> None:
    # Centred first: near the bottom, the sticky question box would take the click.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_quotes_show_while_the_model_is_still_writing(
    page: Chrome, scripted: ScriptedGenerator
) -> None:
    scripted.gate.clear()  # the model "writes" nothing until the test says so
    page.find_element(By.ID, "question").send_keys(LIGHTHOUSE, Keys.ENTER)
    turn = wait(page).until(lambda d: d.find_element(By.CSS_SELECTOR, "#log > .turn"))
    quote = wait(page).until(lambda _: turn.find_elements(By.CSS_SELECTOR, ".quotes .quote"))[0]

    # Quoted while the answer is still being written.
    answer = block(turn, ".generated .answer")
    assert "pending" in (answer.get_attribute("class") or ""), "the answer finished first"
    assert block(turn, ".generated .writing").is_displayed()
    assert answer.text in ("", "…")
    assert squash(block(quote, ".quote-text").text).strip('“”"') == TRUE_SENTENCE

    # Two blocks, two labels, and only the quotes look like a quotation.
    quotes = block(turn, ".quotes")
    assert words(block(quotes, ".block-title")) == "From your documents · quoted word for word"
    assert (
        words(block(turn, ".generated .block-title"))
        == "Generated answer — checked against the sources"
    )
    assert block(quotes, ".quote-block").tag_name == "blockquote"
    assert not turn.find_elements(By.CSS_SELECTOR, ".generated blockquote, .generated q")
    rule = page.execute_script(
        "const w = (el) => parseFloat(getComputedStyle(el).borderLeftWidth);"
        "return [w(arguments[0]), w(arguments[1])];",
        block(quotes, ".quote-block"),
        answer,
    )
    assert rule[0] >= 3 and rule[1] <= 1, rule

    # The quote's [n] marks the sentence inside its source passage.
    click(page, block(quote, "a.cite"))
    wait(page).until(lambda d: marked_sentence(d, turn) == TRUE_SENTENCE)

    scripted.gate.set()
    wait(page).until(lambda _: "pending" not in (answer.get_attribute("class") or ""))
    assert not block(turn, ".generated .writing").is_displayed()
    assert TRUE_SENTENCE[:-1] in squash(answer.text)
    assert quotes.is_displayed(), "the quotes went away when the answer came"
    assert block(turn, ".support-line").text == "1 of 1 sentence supported by the sources"
    sent = page.execute_script("return window.__asks")
    assert sent[0]["answer_mode"] == "generate"
    assert console_errors(page) == []


def test_answer_citation_marks_the_supporting_sentence(page: Chrome) -> None:
    turn = ask(page, LIGHTHOUSE)

    links = block(turn, ".generated .answer").find_elements(By.CSS_SELECTOR, "a.cite")
    assert links, "no [n] link in the answer"
    click(page, links[0])
    wait(page).until(lambda d: marked_sentence(d, turn) == TRUE_SENTENCE)


def test_an_invented_sentence_is_left_out_and_shown_with_its_reason(
    page: Chrome, scripted: ScriptedGenerator
) -> None:
    scripted.extra = INVENTED
    turn = ask(page, LIGHTHOUSE)

    answer = block(turn, ".generated .answer")
    assert TRUE_SENTENCE[:-1] in squash(answer.text)
    assert "Zorblax" not in turn.text, "an unsupported sentence is shown as fact"
    assert block(turn, ".support-line").text == "1 of 2 sentences supported by the sources"
    toggle = block(turn, ".left-out-toggle")
    assert toggle.text == "1 sentence left out, with why — show"
    assert toggle.get_attribute("aria-expanded") == "false"
    left_out = block(turn, ".left-out")
    assert not left_out.is_displayed()

    click(page, toggle)
    wait(page).until(lambda _: left_out.is_displayed())
    assert toggle.text.endswith("— hide") and toggle.get_attribute("aria-expanded") == "true"
    items = left_out.find_elements(By.CSS_SELECTOR, ".left-out-item")
    assert len(items) == 1
    struck = block(items[0], "s.left-out-text")
    assert squash(struck.text) == INVENTED
    assert "line-through" in struck.value_of_css_property("text-decoration-line")
    assert block(items[0], ".reason").text.strip(), "no reason given"
    assert "Zorblax" not in answer.text

    ARTIFACTS.mkdir(exist_ok=True)
    page.execute_script("arguments[0].scrollIntoView({block: 'start'})", turn)
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-answers.png"))
    color_scheme(page, "dark")
    assert page.save_screenshot(str(ARTIFACTS / "chat-page-answers-dark.png"))
    assert console_errors(page) == []


def test_an_answer_with_nothing_supported_gives_way_to_the_quotes(
    page: Chrome, scripted: ScriptedGenerator
) -> None:
    scripted.replace = INVENTED
    turn = ask(page, LIGHTHOUSE)

    assert block(turn, ".answer-notice").text == EXTRACTED_NOTICE
    assert not block(turn, ".generated .answer").is_displayed(), "the quotes shown twice"
    quotes = turn.find_elements(By.CSS_SELECTOR, ".quotes .quote-text")
    assert [squash(q.text).strip('“”"') for q in quotes] == [TRUE_SENTENCE]
    assert "Zorblax" not in turn.text
    toggle = block(turn, ".left-out-toggle")
    assert toggle.text.startswith("1 sentence left out")
    click(page, toggle)
    wait(page).until(lambda _: "Zorblax" in block(turn, ".left-out").text)


def test_quotes_only_mode_sends_extract_and_is_remembered(
    page: Chrome, scripted: ScriptedGenerator
) -> None:
    Select(page.find_element(By.ID, "answer-mode")).select_by_visible_text("Quotes only")
    turn = ask(page, "Who designed the Fresnel lens?")

    assert page.execute_script("return window.__asks")[0]["answer_mode"] == "extract"
    assert scripted.calls == 0, "the model was asked in quotes-only mode"
    quotes = turn.find_elements(By.CSS_SELECTOR, ".quotes .quote-text")
    assert quotes and "Augustin Fresnel" in quotes[0].text
    assert not block(turn, ".generated").is_displayed()
    assert block(turn, ".generated .answer").text == ""
    assert block(turn, ".meta .timings").text.startswith("quoted from the sources · retrieve")

    # A new chat: as a follow-up, the question would be searched with the Fresnel one.
    page.find_element(By.ID, "new-chat").click()
    korean = ask(page, "배추는 얼마나 절이나요?")
    first = block(korean, ".quotes .quote-text")
    assert first.get_attribute("lang") == "ko" and "배추" in first.text

    page.refresh()  # a reload keeps the choice
    wait(page).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert Select(page.find_element(By.ID, "answer-mode")).first_selected_option.text == (
        "Quotes only"
    )
    assert page.execute_script("return localStorage.getItem('ragqa.answerMode')") == "extract"


def test_not_found_says_no_sentence_answers(page: Chrome) -> None:
    turn = ask(page, "What is LoRA?")

    assert block(turn, ".status").text == "Not found in your documents."
    assert not turn.find_elements(By.CSS_SELECTOR, ".quotes .quote")
    assert block(turn, ".quotes .no-quotes").text == "No sentence in the sources answers this."
    assert not block(turn, ".generated .block-title").is_displayed()


@pytest.fixture(scope="module")
def marking_server(
    tmp_path_factory: pytest.TempPathFactory, generator: ScriptedGenerator
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("marking") / "store"
    with scripted_server(folder, generator, answer_check="mark") as url:
        yield url


def test_policy_mark_shows_an_unsupported_sentence_as_a_warning(
    browser: Chrome, marking_server: str, scripted: ScriptedGenerator
) -> None:
    page = open_page(browser, marking_server)
    scripted.extra = INVENTED
    turn = ask(page, LIGHTHOUSE)

    marked = block(turn, ".generated .answer .unsupported")
    assert squash(marked.text).startswith("It was invented by Zorblax Corp in 1987")
    assert (marked.get_attribute("title") or "").startswith("Not supported by the sources: ")
    assert block(turn, ".support-line").text == (
        "1 of 2 sentences supported by the sources · 1 marked as not supported"
    )
    assert not turn.find_elements(By.CSS_SELECTOR, ".left-out-toggle")
    assert console_errors(page) == []
