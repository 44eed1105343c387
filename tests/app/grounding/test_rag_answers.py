"""Answers through RagService: quotes first, each generated sentence checked, fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from app.grounding.checker import SentenceCheck
from app.grounding.extractive import addressed
from app.rag.replies import about_the_question
from app.rag.service import RagService
from app.schemas import Quote
from tests.conftest import Scripted, fixture_store
from vectorstore.search.retriever import Retriever

QUESTION = "What does ragqa do with the passages it uses?"


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    store, emb = fixture_store(tmp_path_factory.mktemp("answers") / "store")
    return Retriever(store, emb)


def events(rag: RagService, question: str, **kw: Any) -> list[tuple[str, dict[str, Any]]]:
    return list(rag.events(question, **kw))


def test_quotes_come_right_after_the_sources_and_before_any_token(retriever: Retriever) -> None:
    rag = RagService(retriever, Scripted("ragqa cites the passages it used [1]."))
    seen = events(rag, QUESTION)
    names = [name for name, _ in seen]
    assert names[:2] == ["sources", "quotes"] and names[-2:] == ["support", "done"]
    quotes = seen[1][1]["quotes"]
    assert quotes and all(q["n"] >= 1 for q in quotes)
    sources = seen[0][1]["sources"]
    for q in quotes:
        assert sources[q["n"] - 1]["text"][q["start"] : q["end"]] == q["text"]


def test_an_invented_sentence_is_left_out_and_reported(retriever: Retriever) -> None:
    invented = "It was invented by Zorblax Corp in 1987 [1]."
    rag = RagService(retriever, Scripted(f"ragqa cites the passages it used [1]. {invented}"))
    seen = events(rag, QUESTION)
    streamed = "".join(p["text"] for name, p in seen if name == "token")
    done = seen[-1][1]
    assert "Zorblax" not in streamed and "Zorblax" not in done["answer"]
    assert done["answer_mode"] == "generated" and done["answer"] == streamed.strip()
    support = done["support"]
    assert support["left_out"] == 1 and support["supported_share"] == 0.5
    left = [s for s in support["sentences"] if not s["shown"]]
    assert left[0]["text"] == invented and "1987" in left[0]["reason"]


def test_mark_keeps_the_sentence_and_marks_it(retriever: Retriever) -> None:
    text = "ragqa cites the passages it used [1]. It was invented by Zorblax Corp in 1987."
    rag = RagService(retriever, Scripted(text), answer_check="mark")
    done = events(rag, QUESTION)[-1][1]
    assert "Zorblax" in done["answer"]
    marked = [s for s in done["support"]["sentences"] if not s["supported"]]
    assert marked and marked[0]["shown"] and done["support"]["left_out"] == 0


def test_nothing_supported_gives_the_extractive_answer(retriever: Retriever) -> None:
    rag = RagService(retriever, Scripted("LoRa is a protocol created by OpenAI in 2019."))
    seen = events(rag, QUESTION)
    done = seen[-1][1]
    assert done["answer_mode"] == "extracted" and done["grounded"] is True
    assert done["answer"] == seen[1][1]["answer"] and "OpenAI" not in done["answer"]
    assert done["citations"] == sorted(
        {q["n"] for q in done["quotes"]}, key=done["citations"].index
    )


def test_extract_mode_calls_no_model(retriever: Retriever) -> None:
    gen = Scripted("never used")
    rag = RagService(retriever, gen, answer_mode="extract")
    done = events(rag, QUESTION)[-1][1]
    assert gen.calls == 0 and done["answer_mode"] == "extracted" and done["quotes"]
    assert done["support"] is None and done["timings"]["extract_ms"] is not None


def test_no_answering_sentence_is_not_found(retriever: Retriever) -> None:
    # Passages are retrieved (no relevance bar), but no sentence holds the question.
    rag = RagService(retriever, Scripted("x"), answer_mode="extract", min_relevance=0.0)
    done = events(rag, "Zorblax flux capacitor tolerance?")[-1][1]
    assert done["sources"] and done["quotes"] == []
    assert done["answer_mode"] == "not_found" and done["grounded"] is False


def test_check_off_streams_the_raw_answer(retriever: Retriever) -> None:
    text = "It was invented by Zorblax Corp in 1987."
    rag = RagService(retriever, Scripted(text), answer_check="off")
    seen = events(rag, QUESTION)
    assert "support" not in [n for n, _ in seen]
    done = seen[-1][1]
    assert "Zorblax" in done["answer"] and done["support"] is None


def test_the_request_takes_the_mode() -> None:
    from app.schemas import AskRequest

    assert AskRequest(question="q", answer_mode="extract").answer_mode == "extract"
    with pytest.raises(ValueError):
        AskRequest(question="q", answer_mode="guess")  # type: ignore[arg-type]


def test_a_supported_answer_to_another_question_gives_the_quotes(retriever: Retriever) -> None:
    # True to its source, but it names nothing the question asks about.
    text = "It stores documents in SQLite and searches them with FAISS and a keyword index."
    rag = RagService(retriever, Scripted(text))
    done = events(rag, QUESTION)[-1][1]
    assert [s["supported"] for s in done["support"]["sentences"]] == [True]
    assert done["answer_mode"] == "extracted" and "SQLite" not in done["answer"]


def test_an_answer_from_the_wrong_sentence_of_the_right_passage_gives_the_quotes(
    retriever: Retriever,
) -> None:
    # True to its source and about what was asked, but drawn from another sentence of the
    # passage than the one that answers (the quote).
    question = "배추는 몇 시간 절이나요?"
    wrong = "절인 배추는 찬물에 세 번 헹궈 물기를 뺀다 [1]."
    seen = events(RagService(retriever, Scripted(wrong)), question)
    done = seen[-1][1]
    assert [s["supported"] for s in done["support"]["sentences"]] == [True]
    assert done["answer_mode"] == "extracted" and "여덟 시간" in done["answer"]
    streamed = "".join(p["text"] for name, p in seen if name == "token")
    assert "헹궈" not in streamed  # held back while streaming, never sent
    right = "배추는 여덟 시간 정도 절인다 [1]."
    done = events(RagService(retriever, Scripted(right)), question)[-1][1]
    assert done["answer_mode"] == "generated" and done["answer"] == right


def test_a_sentence_that_only_says_the_question_again_is_not_shown(retriever: Retriever) -> None:
    echo = "ragqa does it with the passages it uses [1]."
    rag = RagService(retriever, Scripted(f"{echo} ragqa cites the passages it used [1]."))
    seen = events(rag, QUESTION)
    done = seen[-1][1]
    assert done["answer_mode"] == "generated" and "does it with" not in done["answer"]
    assert "cites the passages" in done["answer"]
    first = done["support"]["sentences"][0]
    assert not first["claim"] and not first["shown"]
    assert first["reason"] == "it only says the question again"


def test_an_answer_about_a_neighbouring_fact_is_not_about_the_question() -> None:
    # Both sentences are quoted (the second joins as the first's neighbour); the answer,
    # true to the second, names Zimbabwe's ruling where Canada's was asked about.
    question = "캐나다가 허위사실유포죄에 대한 위헌판정을 내린 것은 언제인가?"
    canada = "캐나다 역시 1992년 연방대법원이 허위사실유포죄에 대해 위헌판정을 하였다."
    zimbabwe = "2000년 5월에는 짐바브웨 대법원도 허위사실유포죄에 위헌판정을 하였다."
    quotes = [Quote(n=1, chunk_id="c", text=canada, start=0, end=len(canada))]
    quotes.append(Quote(n=1, chunk_id="c", text=zimbabwe, start=len(canada) + 1, end=99))
    as_quoted = addressed(question, f"{canada} {zimbabwe}", names=False)

    def check(text: str, start: int, end: int) -> SentenceCheck:
        return SentenceCheck(text, 0, len(text), True, True, 1, start, end, [1], [1], 1.0, None)

    aside = "2000년 5월에 짐바브웨 대법원이 허위사실유포죄에 위헌판정을 하였다 [1]."
    backed = f"{aside}\n{zimbabwe}"
    assert not about_the_question(question, backed, check(aside, 60, 99), quotes, as_quoted)
    right = "캐나다가 허위사실유포죄에 위헌판정을 내린 것은 1992년이다 [1]."
    backed = f"{right}\n{canada}"
    assert about_the_question(question, backed, check(right, 0, 50), quotes, as_quoted)
