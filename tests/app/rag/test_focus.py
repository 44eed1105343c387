"""Focused sources: the sentences that bear on the question, within a token budget."""

from __future__ import annotations

from app.rag.focus import focus, query_groups, split_sentences
from app.rag.prompts import build_prompt, format_source
from vectorstore.types import SearchHit

FILLER = "The weather was mild and the committee met on Tuesday as planned."


def hit(n: int, text: str) -> SearchHit:
    return SearchHit(f"d#{n}", "d", f"d{n}.md", "D", text, f"Doc {n}", {}, 1.0)


def count(text: str) -> int:
    return len(text.split())


def test_sentences_split_at_line_breaks_and_sentence_ends() -> None:
    text = "First one. Second one!\n- a list item\n| a | table |\n\n모델은 크다. 작다."
    assert split_sentences(text) == [
        ("First one.", "\n"),
        ("Second one!", " "),
        ("- a list item", "\n"),
        ("| a | table |", "\n"),
        ("모델은 크다.", "\n"),
        ("작다.", " "),
    ]


def test_the_answer_in_a_lower_ranked_passage_survives_a_tight_budget() -> None:
    hits = [
        hit(1, " ".join([FILLER] * 6)),
        hit(2, " ".join([FILLER] * 6)),
        hit(3, f"{FILLER} LoRA freezes the base weights and trains low-rank adapters. {FILLER}"),
    ]
    built = build_prompt(
        "How does LoRA train adapters?",
        hits,
        [],
        count_tokens=count,
        context_window=4000,
        max_new_tokens=50,
        source_tokens=60,
    )
    user = built.messages[-1]["content"]
    assert "LoRA freezes the base weights" in user
    # Numbered as the model sees them: the LoRA passage is [1] when it is the only one.
    assert built.sources[0].chunk_id == "d#3"
    assert user.index("[1] from") < user.index("LoRA freezes")


def test_chosen_sentences_keep_their_order_and_mark_gaps() -> None:
    text = "Alpha adapters are small. Filler sentence here. Beta adapters are fast. Last one."
    [excerpt] = focus("alpha beta adapters", [hit(1, text)], 12, count, lambda n, h: 2)
    assert excerpt.text == "Alpha adapters are small. … Beta adapters are fast."


def test_korean_questions_choose_korean_sentences_by_their_terms() -> None:
    text = (
        "트랜스포머는 어텐션을 쓴다. 날씨가 좋았다. 로라는 저랭크 어댑터를 학습한다. 회의가 열렸다."
    )
    [excerpt] = focus("로라는 무엇을 학습하나요?", [hit(1, text)], 6, count, lambda n, h: 1)
    assert "로라는 저랭크 어댑터를 학습한다." in excerpt.text
    assert "날씨" not in excerpt.text


def test_focused_sources_fit_the_budget() -> None:
    hits = [
        hit(n, " ".join(f"Sentence {n}.{i} about adapters." for i in range(30))) for n in range(5)
    ]
    budget = 100

    def overhead(n: int, h: SearchHit) -> int:
        return count(format_source(n, SearchHit(**{**h.__dict__, "text": ""}))) + 2

    excerpts = focus("adapters", hits, budget, count, overhead)
    spent = sum(
        count(format_source(n, SearchHit(**{**e.hit.__dict__, "text": e.text}))) + 2
        for n, e in enumerate(excerpts, start=1)
    )
    assert 0 < spent <= budget
    # No term tells the sentences apart: the ranking does, best passage first.
    assert excerpts[0].hit.chunk_id == "d#0"


def test_sources_that_fit_whole_are_not_cut() -> None:
    hits = [hit(1, f"{FILLER} {FILLER}"), hit(2, FILLER)]
    built = build_prompt(
        "When did the committee meet?",
        hits,
        [],
        count_tokens=count,
        context_window=4000,
        max_new_tokens=50,
        source_tokens=200,
    )
    assert built.messages[-1]["content"].count(FILLER) == 3
    assert "…" not in built.messages[-1]["content"]


def test_a_table_row_comes_with_the_tables_header() -> None:
    text = (
        "| 공개일 | 모델 | 파라미터 수 |\n|---|---|---|\n"
        "| 2018.06.11 | GPT-1 | 1.17억 |\n| 2019.02.14 | GPT-2 | 15억 |\n"
        "| 2020.06.11 | GPT-3 | 1,750억 |"
    )
    [excerpt] = focus("GPT-3의 파라미터 수는?", [hit(1, text)], 20, count, lambda n, h: 1)
    # The row holds "GPT-3" and the answer, the header "파라미터": shown together, as a table.
    assert excerpt.text == "| 공개일 | 모델 | 파라미터 수 |\n| 2020.06.11 | GPT-3 | 1,750억 |"


def test_a_list_item_belongs_under_the_item_that_introduces_it() -> None:
    text = (
        "- 대표적인 기법\n"
        "  - Few-shot Prompting\n"
        "    - 원하는 응답의 예시를 제시하여 더 정교한 답변을 유도\n"
        "  - Zero-shot Prompting\n"
        "    - 예시 없이 바로 질문한다"
    )
    [excerpt] = focus(
        "Few-shot Prompting은 어떤 방식인가요?", [hit(1, text)], 24, count, lambda n, h: 1
    )
    assert "원하는 응답의 예시를 제시" in excerpt.text
    assert excerpt.text.index("Few-shot") < excerpt.text.index("원하는 응답")


def test_query_words_drop_particles_and_question_words() -> None:
    assert query_groups("BERT는 트랜스포머의 어느 부분을 사용하나요?") == [
        ["bert"],
        ["transform"],
        ["부분"],
        ["사용"],
    ]
    assert query_groups("How many parameters does GPT-3 have?")[-1] == ["gpt", "3", "gpt3"]


def test_the_stores_term_weights_decide_between_sentences() -> None:
    text = "Adapters are cheap. PETM means parameter efficient tuning. Adapters again."
    weights = {"petm": 5.0, "adapt": 0.1}
    [excerpt] = focus("PETM adapters", [hit(1, text)], 7, count, lambda n, h: 1, weights)
    assert excerpt.text.endswith("PETM means parameter efficient tuning.")
