"""EchoGenerator: quotes the first numbered source, streams word by word, honours cancel."""

from __future__ import annotations

import threading

from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator

FENCED = (
    'Sources:\n[1] from "Baking":\n"""\nSourdough needs a starter. It takes days.\n"""\n\n'
    '[2] from "Other":\n"""\nSomething else.\n"""\n\nQuestion: what does sourdough need?'
)


def user(content: str) -> list[ChatMessage]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]


def test_quotes_first_sentence_of_fenced_source_and_cites_it() -> None:
    pieces = list(EchoGenerator().stream(user(FENCED), max_new_tokens=100))
    assert "".join(pieces) == "Sourdough needs a starter. [1]"
    assert pieces == ["Sourdough", " needs", " a", " starter.", " [1]"]


def test_inline_numbered_line_is_a_source_too() -> None:
    text = "Context:\n[3] Lighthouses warn ships! They stand on coasts.\nQuestion: why?"
    assert EchoGenerator().answer(user(text)) == "Lighthouses warn ships! [3]"


def test_source_without_sentence_end_is_quoted_whole() -> None:
    text = '[1] from "x":\n"""\nno full stop here\nat all…"""\n\nQuestion: q'
    assert EchoGenerator().answer(user(text)) == "no full stop here at all… [1]"


def test_without_sources_it_echoes_the_last_user_message() -> None:
    messages: list[ChatMessage] = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer [1]"},
        {"role": "user", "content": "  What is   RAG?  "},
    ]
    assert "".join(EchoGenerator().stream(messages, max_new_tokens=10)) == "What is RAG?"


def test_max_new_tokens_cuts_words() -> None:
    assert list(EchoGenerator().stream(user(FENCED), max_new_tokens=2)) == ["Sourdough", " needs"]


def test_cancel_stops_the_stream() -> None:
    cancel = threading.Event()
    stream = EchoGenerator().stream(user(FENCED), max_new_tokens=100, cancel=cancel)
    assert next(stream) == "Sourdough"
    cancel.set()
    assert list(stream) == []


def test_token_counts_and_context_window() -> None:
    gen = EchoGenerator(context_window=1024)
    messages = user("one two three")
    assert gen.count_tokens("one two  three\n") == 3
    assert gen.prompt_tokens(messages) > gen.count_tokens(messages[-1]["content"])
    assert gen.context_window == 1024
    assert EchoGenerator().context_window == 4096
    assert gen.model_name == "echo"
