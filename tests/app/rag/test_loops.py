"""The loop guard and citation attribution for models that ignore the citation rule."""

from __future__ import annotations

from app.rag.citations import attribute
from app.rag.loops import is_looping, trim_repeats


def test_a_repeated_line_is_a_loop_and_is_trimmed() -> None:
    text = "".join(f"{i}. GPT-1은 언제 공개되었나요?\n" for i in (1, 2, 3))
    assert is_looping(text)
    assert trim_repeats(text) == "GPT-1은 언제 공개되었나요?"


def test_normal_prose_is_not_a_loop() -> None:
    assert not is_looping("Paris is the capital. It is big. Lyon is a city. Nice is sunny.")
    assert not is_looping("- a\n- a\n- a\n")  # short list items repeat legitimately


def test_an_unfinished_line_is_not_judged_yet() -> None:
    assert not is_looping("The same line here.\nThe same line here.\nThe same line")


def test_attribution_cites_the_source_holding_the_sentence() -> None:
    sources = ["Bananas are yellow fruit.", "LoRA (Low-Rank Adaptation) trains small matrices."]
    text, cited = attribute("LoRA stands for Low-Rank Adaptation. Cats purr loudly.", sources)
    assert cited == [2]
    assert text == "LoRA stands for Low-Rank Adaptation [2]. Cats purr loudly."


def test_attribution_ignores_stop_words() -> None:
    sources = ["What is the meaning of this question in the documents?"]
    assert attribute("What is the meaning of ramda in ragqa?", sources)[1] == []


def test_attribution_cites_nothing_when_no_source_matches() -> None:
    assert attribute("Completely unrelated words here.", ["Other text."]) == (
        "Completely unrelated words here.",
        [],
    )
