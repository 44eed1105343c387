"""The extractive answer: the passages' own sentences that answer, with their [n]."""

from __future__ import annotations

from app.grounding.extractive import extract, render
from vectorstore.types import SearchHit


def hit(n: int, text: str, context: str = "") -> SearchHit:
    return SearchHit(f"c{n}", f"d{n}", f"s{n}", None, text, context, {}, 1.0, 1.0)


LORA = hit(
    1,
    "어댑터는 작은 층을 끼워 넣습니다. LoRA는 가중치를 고정하고 저랭크 행렬만 학습합니다. "
    "그 결과 메모리가 줄어듭니다.",
)
TABLE = hit(
    2,
    "| 공개일 | 모델 | 파라미터 수 |\n|---|---|---|\n| 2020.06.11 | GPT-3 | 1,750억 |\n"
    "| 2019.02.14 | GPT-2 | 15억 |",
)
DOCS = hit(3, 'A follow-up ("LoRA가 뭐예요?") is searched with the question before it.')


def test_the_answering_sentence_is_quoted_with_offsets_and_its_number() -> None:
    quotes = extract("LoRA는 무엇을 학습하나요?", [LORA, TABLE])
    assert [q.text for q in quotes] == ["LoRA는 가중치를 고정하고 저랭크 행렬만 학습합니다."]
    q = quotes[0]
    assert (q.n, q.chunk_id) == (1, "c1") and LORA.text[q.start : q.end] == q.text
    assert render(quotes) == "LoRA는 가중치를 고정하고 저랭크 행렬만 학습합니다. [1]"


def test_a_table_row_comes_with_its_header() -> None:
    quotes = extract("GPT-3의 파라미터 수는?", [LORA, TABLE])
    assert [q.text for q in quotes] == [
        "| 공개일 | 모델 | 파라미터 수 |",
        "| 2020.06.11 | GPT-3 | 1,750억 |",
    ]
    assert all(q.n == 2 for q in quotes)
    assert render(quotes).endswith("| 2020.06.11 | GPT-3 | 1,750억 | [2]")


def test_a_quoted_mention_is_no_answer() -> None:
    assert extract("What is LoRA?", [DOCS]) == []


def test_the_question_written_in_a_passage_is_a_mention() -> None:
    # A table of example questions and what the service answered to them.
    examples = hit(
        4,
        "| question | answer |\n| --- | --- |\n"
        '| What is LoRA? | "I could not find the answer in the documents." |',
    )
    assert extract("What is LoRA?", [examples]) == []
    # A passage cut mid-table: its first row reads as the header of the rows below.
    cut = hit(5, '| What is LoRA? | "Not found." |\n| Why? | "A name. It is only mentioned." |')
    assert extract("What is LoRA?", [cut]) == []
    assert [q.n for q in extract("What is LoRA?", [examples, LORA])] == [2]  # LORA answers


def test_nothing_that_answers_gives_no_quotes() -> None:
    assert extract("Who won the 1998 World Cup?", [LORA, TABLE]) == []


def test_a_hard_wrapped_sentence_is_quoted_whole() -> None:
    wrapped = hit(
        4,
        "A sourdough starter is a living culture of yeast and bacteria kept in a\n"
        "mixture of flour and water. Bakers feed it daily.",
    )
    (quote,) = extract("What is a sourdough starter kept in?", [wrapped])
    assert quote.text == (
        "A sourdough starter is a living culture of yeast and bacteria kept in a "
        "mixture of flour and water."
    )
    assert wrapped.text[quote.start : quote.end].split() == quote.text.split()


def test_a_question_naming_what_no_passage_holds_is_not_answered() -> None:
    # "stand" is in no passage: the sentences holding "LoRA" alone do not answer.
    assert extract("What does LoRA stand for?", [LORA]) == []


def test_the_sentence_next_to_a_quote_joins_it_when_it_holds_the_rest_of_the_question() -> None:
    show = hit(
        6,
        "승리는 후지 TV의 《인기녀 100》이라는 프로그램의 진행을 맡았다. "
        "이것은 해외 연예인으로 최초로 일본 지상파 방송의 진행을 맡은 것이다. "
        "같은 해 그는 두 번째 앨범을 냈다.",
    )
    quotes = extract("승리가 해외 연예인으로는 최초로 진행을 맡은 일본 지상파 방송은?", [show])
    assert [q.text for q in quotes] == [
        "승리는 후지 TV의 《인기녀 100》이라는 프로그램의 진행을 맡았다.",
        "이것은 해외 연예인으로 최초로 일본 지상파 방송의 진행을 맡은 것이다.",
    ]  # the line after adds none of the question: left out
    # A neighbour that adds nothing the quote lacks does not join it.
    assert len(extract("일본 지상파 방송의 진행을 해외 연예인 최초로 맡은 것은?", [show])) == 1
