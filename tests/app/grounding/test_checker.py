"""The lexical answer check: numbers, dates, URLs, names and content words against sources."""

from __future__ import annotations

import pytest

from app.grounding.checker import check_answer
from app.grounding.exact import exact_tokens, source_values, supported

NOTE = (
    "LoRA는 사전 학습된 가중치를 고정하고 저랭크 행렬만 학습합니다. 학습할 파라미터 수를 줄입니다."
)
TABLE = (
    "| 공개일 | 모델 | 파라미터 수 |\n|---|---|---|\n"
    "| 2020.06.11 | GPT-3 | 1,750억 |\n| 2019.02.14 | GPT-2 | 15억 |"
)
DOC = (
    "ragqa stores documents in SQLite and searches them with FAISS and a keyword index. "
    "Hybrid search fuses the two rankings."
)


@pytest.mark.parametrize(
    ("claim", "source"),
    [
        ("175B", "1,750억"),
        ("175 billion", "1,750억"),
        ("1750억", "1,750억 개"),
        ("3.8B", "38억개"),
        ("June 11, 2020", "2020.06.11"),
        ("2020년 6월 11일", "2020.06.11"),
        ("2020", "2020.06.11"),
        ("89.9%", "정확도 89.9%"),
    ],
)
def test_one_number_in_any_notation(claim: str, source: str) -> None:
    (token,) = exact_tokens(claim)
    assert supported(token, source_values(source)), (claim, token, source)


@pytest.mark.parametrize(("claim", "source"), [("176B", "1,750억"), ("2019", "2020.06.11")])
def test_a_changed_number_is_not_supported(claim: str, source: str) -> None:
    (token,) = exact_tokens(claim)
    assert not supported(token, source_values(source))


def test_faithful_sentences_pass_in_either_language() -> None:
    for answer in (
        "LoRA는 저랭크 행렬을 학습해요 [1].",  # another ending than the note's
        "LoRA는 학습할 파라미터 수를 줄인다 [1].",
        "GPT-3 has 175 billion parameters [2].",  # English over a Korean table
        "GPT-3는 2020년 6월 11일에 공개되었습니다 [2].",
        "ragqa keeps documents in SQLite and searches with FAISS [3].",
    ):
        report = check_answer(answer, [NOTE, TABLE, DOC])
        assert report.share == 1.0 and not report.corrected, (answer, report.sentences)


@pytest.mark.parametrize(
    ("answer", "missing"),
    [
        ("LoRA was created by OpenAI [1].", "OpenAI"),
        ("GPT-3 has 15억 parameters [2].", "15억"),
        ("GPT-3 was released on 2021.06.11 [2].", "2021.06.11"),
        ("See https://www.gymnopi.com/blog/lora for details [1].", "gymnopi"),
    ],
)
def test_inventions_are_caught_with_a_reason(answer: str, missing: str) -> None:
    report = check_answer(answer, [NOTE, TABLE, DOC])
    (sentence,) = report.sentences
    assert not sentence.supported and sentence.citations == []
    assert sentence.reason and missing in sentence.reason


def test_a_wrong_citation_is_corrected_to_the_supporting_source() -> None:
    report = check_answer("Hybrid search fuses the two rankings [1].", [NOTE, DOC])
    (sentence,) = report.sentences
    assert sentence.supported and sentence.cited == [1] and sentence.citations == [2]
    assert report.corrected and sentence.reason == "[1] does not say this; [2] does"
    start, end = sentence.source_start, sentence.source_end
    assert start is not None and end is not None
    assert DOC[start:end] == "Hybrid search fuses the two rankings."


def test_a_claim_from_no_source_is_unsupported() -> None:
    report = check_answer("Sourdough needs a starter fed with flour and water [1].", [NOTE, DOC])
    assert report.share == 0.0


def test_sentences_without_claims_are_not_counted() -> None:
    report = check_answer("Sure. Hybrid search fuses the two rankings [1].", [DOC])
    assert [s.claim for s in report.sentences] == [False, True]
    assert report.share == 1.0


def test_markers_after_the_full_stop_belong_to_the_sentence() -> None:
    report = check_answer(
        "Hybrid search fuses the two rankings. [2] LoRA는 행렬을 학습한다.", [NOTE, DOC]
    )
    first, second = report.sentences
    assert first.cited == [2] and first.citations == [2]
    assert second.cited == [] and second.citations == [1]


def test_an_echoed_question_claims_nothing() -> None:
    report = check_answer("어댑터 튜닝은 원본 모델의 파라미터를 바꾸나요 [1]?", [NOTE])
    assert [s.claim for s in report.sentences] == [False]


ASKED = "Which agency did the teachers ask about the legality of the donations?"
TOLD = "The teachers asked the Ministry of Education about the legality of the donations."


def test_what_a_sentence_adds_to_the_question_must_be_in_its_source() -> None:
    # Four of five words echo the question, so only the question tells the wrong answer.
    wrong = "The teachers asked the police about the legality of the donations [1]."
    assert check_answer(wrong, [TOLD]).sentences[0].supported
    [check] = check_answer(wrong, [TOLD], question=ASKED).sentences
    assert check.claim and not check.supported
    assert check.reason == "'police' is in no source"
    right = "The teachers asked the Ministry of Education about the donations [1]."
    assert check_answer(right, [TOLD], question=ASKED).sentences[0].supported


def test_the_question_said_again_in_its_own_words_does_not_count_against_the_answer() -> None:
    asked = "당시 노태우 정부의 감시 사실을 밝힌 인물의 이름은?"
    source = "1990년 탈영병 윤석양 이병의 폭로에 의해 노태우 정부로부터 감시당하였는 것이 밝혀졌다."
    right = "당시 노태우 정부의 감시 사실을 밝힌 인물의 이름은 윤석양이었다 [1]."
    assert not check_answer(right, [source]).sentences[0].supported  # 당시, 사실, 인물, 이름
    assert check_answer(right, [source], question=asked).sentences[0].supported
    # What the sentence adds is still held to the full share, names always.
    wrong = "당시 노태우 정부의 감시 사실을 밝힌 인물의 이름은 김철수였다 [1]."
    assert not check_answer(wrong, [source], question=asked).sentences[0].supported
    invented = "당시 노태우 정부의 감시 사실을 밝힌 인물은 국방부 장관이 해임한 기자였다 [1]."
    assert not check_answer(invented, [source], question=asked).sentences[0].supported


def test_a_sentence_that_only_says_the_question_again_claims_nothing() -> None:
    again = "The agency the teachers asked about the legality of the donations [1]."
    [check] = check_answer(again, [TOLD], question=ASKED).sentences
    assert not check.claim and check.reason == "it only says the question again"
    korean = "이승만의 총애를 받아 '부부통령'으로 불린 사람은 이승만이다 [1]."
    source = "곽영주는 이승만의 총애를 받아 '부부통령'으로 불렸다."
    asked = "이승만의 총애를 받아 '부부통령'으로 불린 사람은?"
    assert not check_answer(korean, [source], question=asked).sentences[0].claim
    assert check_answer("곽영주입니다 [1].", [source], question=asked).sentences[0].supported


def test_an_english_sentence_says_a_korean_number_in_english_too() -> None:
    from app.grounding.exact import in_english

    assert (
        in_english("GPT-3 has 1,750억 parameters.") == "GPT-3 has 175 billion (1,750억) parameters."
    )
    assert (
        in_english("Phi-3 mini has 38억개 parameters")
        == "Phi-3 mini has 3.8 billion (38억개) parameters"
    )
    assert in_english("It has 1,750 parameters.") == "It has 1,750 parameters."


def test_a_copied_source_header_is_no_claim_and_a_loop_is_caught() -> None:
    report = check_answer('from "LoRA note": LoRA는 저랭크 행렬을 학습한다 [1].', [NOTE])
    assert report.share == 1.0
    loop = 'from "x": from "x": from "x": from "x": GPT-3 [2].'
    (sentence,) = check_answer(loop, [NOTE, TABLE]).sentences
    assert not sentence.supported and sentence.reason == "it repeats itself"


def test_chinese_characters_and_kana_must_be_in_a_source() -> None:
    # The analyzer has no terms for them, so a slip into another script was read as nothing.
    source = "사체나 불구가 된 사진이 있는 실제 범죄 다큐멘터리들을 탐독했다고 말했다."
    slipped = "사체나路桥가 된 사진이 있는 실제 범죄 다큐멘터리를 탐독했다 [1]."
    [check] = check_answer(slipped, [source]).sentences
    assert not check.supported and check.reason == "'路桥' is in no source"
    assert check_answer(slipped.replace("路桥", "불구"), [source]).sentences[0].supported
    held = "세친(世親)은 5온을 언급했다."
    assert check_answer("世親은 5온을 언급했다 [1].", [held]).sentences[0].supported
    (token,) = exact_tokens("日本")
    assert token.kind == "script" and not supported(token, source_values("일본은 섬나라다"))
