"""A question whose search finds nothing to quote is searched again in the other language."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import pytest

from app.generators.base import Generator
from app.generators.echo import EchoGenerator
from app.rag.service import RagService
from app.rag.translation import GeneratorTranslator, asks
from tests.conftest import Scripted, fixture_store
from vectorstore import Retriever, Store
from vectorstore.embedders.hashing import HashEmbedder

KOREAN = "사워도우 스타터는 하루에 몇 번 먹이를 줘야 하나요?"
ENGLISH = "How often should you feed the starter each day?"


class Dictionary:
    """A translator that knows one question, and counts what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def translate(self, text: str, cancel: threading.Event | None = None) -> str:
        self.asked.append(text)
        return ENGLISH if text == KOREAN else ""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    built, _ = fixture_store(tmp_path_factory.mktemp("translation") / "store")
    return built


def service(store: Store, translator: Dictionary | None) -> RagService:
    retriever = Retriever(store, HashEmbedder(max_tokens=64))
    return RagService(retriever, EchoGenerator(), min_relevance=0.2, translator=translator)


def test_a_question_with_nothing_to_quote_is_searched_again_translated(store: Store) -> None:
    words = Dictionary()
    rag = service(store, words)
    alone = service(store, None).find(KOREAN, 5, "hybrid")
    assert not any("Feed the starter" in h.text for h in alone.hits)

    found = rag.find(KOREAN, 5, "hybrid")

    assert words.asked == [KOREAN]
    assert found.translation == ENGLISH
    assert any("Feed the starter" in h.text for h in found.hits[:2])
    assert found.focus(KOREAN) == f"{KOREAN}\n{ENGLISH}"


def test_the_answer_quotes_the_page_the_translation_found(store: Store) -> None:
    answer = service(store, Dictionary()).answer(KOREAN)

    assert answer.grounded
    assert any("once a day" in q.text for q in answer.quotes)
    assert any(s.source.endswith("sourdough.md") for s in answer.sources)
    assert answer.timings.translate_ms is not None


def test_a_question_the_first_search_answers_is_not_translated(store: Store) -> None:
    words = Dictionary()
    found = service(store, words).find(ENGLISH, 5, "hybrid")

    assert words.asked == []
    assert found.translation == ""
    assert any("Feed the starter" in h.text for h in found.hits)


def test_extract_mode_makes_no_model_call(store: Store) -> None:
    words = Dictionary()
    answer = service(store, words).answer(KOREAN, answer_mode="extract")

    assert words.asked == []
    assert not any("once a day" in q.text for q in answer.quotes)
    assert answer.timings.translate_ms is None


def test_no_translation_keeps_the_first_search(store: Store) -> None:
    words = Dictionary()
    rag = service(store, words)
    first = service(store, None).find("김장은 언제 하나요? 사워도우", 5, "hybrid")

    found = rag.find("김장은 언제 하나요? 사워도우", 5, "hybrid")

    assert [h.chunk_id for h in found.hits] == [h.chunk_id for h in first.hits]
    assert found.translation == ""


def test_the_generator_is_asked_for_the_other_language() -> None:
    model = Scripted("How often is the starter fed?\nIt is fed once a day.")
    translator = GeneratorTranslator(model, threading.Lock())

    assert translator.translate(KOREAN) == "How often is the starter fed?"
    assert "English" in model.sent[0][0]["content"]
    assert translator.translate(KOREAN) == "How often is the starter fed?"
    assert len(model.sent) == 1  # remembered

    to_korean = GeneratorTranslator(Scripted("스타터는 하루에 한 번"), threading.Lock())
    assert to_korean.translate(ENGLISH) == "스타터는 하루에 한 번"


def test_a_reply_in_the_same_language_is_no_translation() -> None:
    model = Scripted("사워도우 스타터는 하루에 한 번 먹이를 줍니다.")
    translator = GeneratorTranslator(model, threading.Lock())

    assert translator.translate(KOREAN) == ""


def test_a_cancelled_reply_is_not_remembered() -> None:
    model = Scripted("How often")
    translator = GeneratorTranslator(model, threading.Lock())
    cancel = threading.Event()
    cancel.set()

    translator.translate(KOREAN, cancel)
    translator.translate(KOREAN)

    assert len(model.sent) == 2


class Model:
    """A generator that is not the echo one: the service translates with it."""

    def __init__(self) -> None:
        self._inner = Scripted("x")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_services_translate_with_a_real_generator_only(tmp_path: Path) -> None:
    from app.config import Settings
    from app.services import build_services

    emb = HashEmbedder(max_tokens=64)
    settings = Settings(store=tmp_path / "store")
    real = cast(Generator, Model())
    assert build_services(settings, embedder=emb, generator=EchoGenerator()).rag.translator is None
    assert isinstance(
        build_services(settings, embedder=emb, generator=real).rag.translator, GeneratorTranslator
    )
    off = Settings(store=tmp_path / "store", translate_questions="off")
    assert build_services(off, embedder=emb, generator=real).rag.translator is None


def test_a_translation_that_answers_finds_pages_but_picks_no_quotes(store: Store) -> None:
    class Answers(Dictionary):
        def translate(self, text: str, cancel: threading.Event | None = None) -> str:
            return "You feed the starter every day."

    rag = service(store, Answers())
    found = rag.find(KOREAN, 5, "hybrid")
    assert any("Feed the starter" in h.text for h in found.hits)

    answer = rag.answer(KOREAN)

    assert answer.quotes == []
    assert not asks(KOREAN, "You feed the starter every day.")
    assert asks(KOREAN, ENGLISH)
    assert asks("스타터 먹이 주기 설명", "Explain feeding the starter")


def test_a_follow_up_is_translated_a_line_each() -> None:
    model = Scripted("What is a starter?\nHow often is it fed?\nIt is fed daily.")
    translator = GeneratorTranslator(model, threading.Lock())

    assert translator.translate("스타터가 뭐예요?\n얼마나 자주 먹이나요?") == (
        "What is a starter?\nHow often is it fed?"
    )


def test_a_translation_that_finds_nothing_leaves_the_first_hits_as_they_were(
    store: Store,
) -> None:
    class Nonsense(Dictionary):
        def translate(self, text: str, cancel: threading.Event | None = None) -> str:
            return "zzqx wvvk"

    first = service(store, None).find(KOREAN, 3, "hybrid")
    found = service(store, Nonsense()).find(KOREAN, 3, "hybrid")

    assert found.translation == ""  # nothing it found reached the relevance bar
    assert found.translate_ms is not None
    assert [h.chunk_id for h in found.hits] == [h.chunk_id for h in first.hits]
