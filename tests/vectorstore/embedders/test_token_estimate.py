"""estimate_tokens: never below a real tokenizer's count, and not wildly above it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from vectorstore.bundled import BUNDLED_GENERATOR, resolve_model
from vectorstore.embedders.token_estimate import estimate_tokens

HARD = [
    "1234567890 3.14159 -42",
    "https://example.com/a/b?c=d&e=f#frag",
    "def f(x):\n    return x**2  # squared\n",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "QmFzZTY0IGVuY29kZWQ=",
    "getUserByIdFromDatabase XMLHttpRequest",
    "안녕하세요 세계, 김치는 발효 음식이다.",
    "日本語のテキスト Привет мир ÄÖÜ straße café",
    "😀🎉 emoji!!! ???...;;;",
    "    \n\n\t  indented\n\n\n",
    "x" * 50,
]


def _texts() -> list[str]:
    texts = list(HARD)
    for path in sorted(Path(FIXTURES).iterdir()):
        if path.suffix in (".md", ".html", ".jsonl", ".txt"):
            whole = path.read_text(errors="replace")
            texts.append(whole)
            texts += [p for p in whole.split("\n\n") if p.strip()]
    return texts


@pytest.mark.models
def test_estimate_is_an_upper_bound_for_the_bundled_tokenizer() -> None:
    from llama_cpp import Llama

    # SmolLM2's byte-level BPE: small vocabulary, so many tokens a word, a hard case.
    vocab = Llama(resolve_model(BUNDLED_GENERATOR), vocab_only=True, verbose=False)
    real_total = estimated_total = 0
    for text in _texts():
        real = len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        estimated = estimate_tokens(text)
        assert estimated >= real, (text[:80], real, estimated)
        real_total += real
        estimated_total += estimated
    # The margin costs prompt room; on this corpus (mostly English prose) it is under 2x.
    assert estimated_total < 2 * real_total


def test_simple_cases() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("cat") == 1
    assert estimate_tokens("the cat sat") == 3  # single spaces join the next word
    assert estimate_tokens("v2") == 2  # letters with digits: one a character
    assert estimate_tokens("김") == 3  # UTF-8 bytes
