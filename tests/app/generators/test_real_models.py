"""The bundled GGUF on both real backends: answers, streaming, cancel and token counts."""

from __future__ import annotations

import threading
import time
from types import GeneratorType

import pytest

from app.generators.base import ChatMessage, Generator
from app.generators.factory import build_generator
from vectorstore.bundled import BUNDLED_GENERATOR

pytestmark = pytest.mark.models

QUESTION: list[ChatMessage] = [{"role": "user", "content": "What is the capital of France?"}]
# Greedy decoding answers this at length on both backends, so cancel has something to cut.
LONG: list[ChatMessage] = [{"role": "user", "content": "Count from 1 to 50, one number a line."}]
BACKENDS = ["llama_cpp", "transformers"]


def _loaded(backend: str) -> Generator:
    gen = build_generator(BUNDLED_GENERATOR, backend, "cpu", None)
    gen.load()
    return gen


@pytest.fixture(scope="module")
def llama_cpp_generator() -> Generator:
    return _loaded("llama_cpp")


@pytest.fixture(scope="module")
def transformers_generator() -> Generator:
    return _loaded("transformers")


@pytest.fixture(params=BACKENDS)
def generator(request: pytest.FixtureRequest) -> Generator:
    gen: Generator = request.getfixturevalue(f"{request.param}_generator")
    return gen


def test_greedy_answer_is_text_and_repeatable(generator: Generator) -> None:
    first = "".join(generator.stream(QUESTION, max_new_tokens=16))
    assert first.strip()
    assert "".join(generator.stream(QUESTION, max_new_tokens=16)) == first


def test_sampling_also_answers(generator: Generator) -> None:
    assert "".join(generator.stream(QUESTION, max_new_tokens=8, temperature=0.7)).strip()


def test_stream_yields_several_pieces(generator: Generator) -> None:
    pieces = list(generator.stream(LONG, max_new_tokens=16))
    assert len(pieces) >= 5
    assert all(pieces)
    assert generator.count_tokens("".join(pieces)) <= 16 + 1  # detokenising may merge/split


def test_cancel_after_first_piece_stops_promptly(generator: Generator) -> None:
    cancel = threading.Event()
    stream = generator.stream(LONG, max_new_tokens=64, cancel=cancel)
    assert next(stream)
    cancel.set()
    started = time.perf_counter()
    rest = list(stream)
    assert len(rest) <= 2
    assert time.perf_counter() - started < 5


def test_cancel_set_before_start_yields_nothing(generator: Generator) -> None:
    cancel = threading.Event()
    cancel.set()
    assert list(generator.stream(LONG, max_new_tokens=16, cancel=cancel)) == []


def test_abandoned_stream_frees_the_model(generator: Generator) -> None:
    stream = generator.stream(LONG, max_new_tokens=64)
    next(stream)
    assert isinstance(stream, GeneratorType)
    stream.close()  # a client that went away without a cancel event
    assert "".join(generator.stream(QUESTION, max_new_tokens=4)).strip()


def test_token_counts(generator: Generator) -> None:
    question = QUESTION[-1]["content"]
    assert generator.count_tokens(question) > 0
    assert generator.prompt_tokens(QUESTION) > generator.count_tokens(question)
    assert generator.context_window == 8192  # SmolLM2's trained length, under the cap


def test_both_backends_count_the_same_prompt(
    llama_cpp_generator: Generator, transformers_generator: Generator
) -> None:
    # llama.cpp renders the GGUF's template with its own Jinja; transformers with its own.
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Answer from the sources. Cite them like [1]."},
        {"role": "user", "content": 'Sources:\n[1] from "x":\n"""\nParis is in France.\n"""'},
    ]
    assert llama_cpp_generator.prompt_tokens(messages) == transformers_generator.prompt_tokens(
        messages
    )
    text = "Retrieval-augmented generation cites its sources, ça va? 한국어도."
    assert llama_cpp_generator.count_tokens(text) == transformers_generator.count_tokens(text)
