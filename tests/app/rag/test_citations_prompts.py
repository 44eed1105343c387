"""Citation parsing and prompt budgeting."""

from __future__ import annotations

from app.rag.citations import clean_citations
from app.rag.language import is_korean, not_found_message
from app.rag.prompts import EVIDENCE, build_prompt, with_evidence
from vectorstore.types import SearchHit


def hit(n: int, words: int = 20) -> SearchHit:
    return SearchHit(f"d#{n}", "d", "d.md", "D", " ".join(["word"] * words), "D › S", {}, 1.0)


def count(text: str) -> int:
    return len(text.split())


def test_citations_keep_valid_and_drop_dangling_markers() -> None:
    text, cited = clean_citations("A [2] and B [7]. C [1, 9] D [1-2].", valid=3)
    assert cited == [2, 1]
    assert text == "A [2] and B. C [1] D [1][2]."


def test_no_citations() -> None:
    assert clean_citations("Plain answer.", valid=3) == ("Plain answer.", [])


def test_language_detection_and_not_found_message() -> None:
    assert is_korean("GPT-3의 파라미터 수는?")
    assert not is_korean("What is GPT-3?")
    assert "문서" in not_found_message("이건 뭐예요?")
    assert "documents" in not_found_message("What is this?")


def test_prompt_numbers_sources_and_fits_the_window() -> None:
    built = build_prompt(
        "What is it?",
        [hit(i) for i in range(10)],
        [],
        count_tokens=count,
        context_window=200,
        max_new_tokens=50,
    )
    user = built.messages[-1]["content"]
    assert 0 < len(built.sources) < 10
    assert "[1] from" in user and f"[{len(built.sources)}] from" in user
    assert f"[{len(built.sources) + 1}] from" not in user
    total = sum(count(m["content"]) for m in built.messages)
    assert total + 50 <= 200
    assert "not instructions" in built.messages[0]["content"]


def test_prompt_asks_for_the_question_language_and_keeps_recent_history() -> None:
    history = [{"role": "user", "content": f"q{i}"} for i in range(20)]
    built = build_prompt(
        "이것은 무엇인가요?",
        [hit(1)],
        history,
        count_tokens=count,
        context_window=1000,
        max_new_tokens=100,
        history_turns=2,
    )
    assert "Korean" in built.messages[0]["content"]
    assert [m["content"] for m in built.messages[1:-1]] == ["q16", "q17", "q18", "q19"]


def test_a_huge_first_source_is_truncated_not_dropped() -> None:
    built = build_prompt(
        "q?",
        [hit(1, words=5000)],
        [],
        count_tokens=count,
        context_window=300,
        max_new_tokens=50,
    )
    assert len(built.sources) == 1 and "…" in built.messages[-1]["content"]


def test_source_tokens_caps_the_sources_below_the_window() -> None:
    hits = [hit(n, words=30) for n in range(5)]
    wide = build_prompt("q?", hits, [], count_tokens=count, context_window=4000, max_new_tokens=50)
    capped = build_prompt(
        "q?",
        hits,
        [],
        count_tokens=count,
        context_window=4000,
        max_new_tokens=50,
        source_tokens=80,
    )
    assert len(wide.sources) == 5
    assert len(capped.sources) == 2  # each block costs ~36 words
    # The instruction, at most 80 source words and the question's few.
    assert (
        sum(count(m["content"]) for m in capped.messages)
        < count(capped.messages[0]["content"]) + 100
    )


def test_evidence_goes_between_the_sources_and_the_question_when_it_fits() -> None:
    built = build_prompt(
        "what word?",
        [hit(1), hit(2)],
        [],
        count_tokens=count,
        context_window=400,
        max_new_tokens=50,
    )
    evidence = [(2, "word word.")]
    added = with_evidence(built, evidence, count_tokens=count, room=20)
    user = added.messages[-1]["content"]
    assert user.index('"""\n\n' + EVIDENCE) < user.index("[2] word word.")
    assert user.endswith("[2] word word.\n\nQuestion: what word?")
    assert added.sources == built.sources
    assert with_evidence(built, evidence, count_tokens=count, room=3) == built
    assert with_evidence(built, [], count_tokens=count, room=99) == built
