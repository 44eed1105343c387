"""The multilingual Universal Sentence Encoder: one space for Korean and English, the
multilingual half of the default embedder."""

from __future__ import annotations

import numpy as np
import pytest

from vectorstore import make_embedder
from vectorstore.embedders.use import NAME, UseEmbedder
from vectorstore.embedders.vocabulary import vocab_coverage

pytestmark = pytest.mark.models

ROWS = [
    "| **훈련 목표** | Masked Language Modeling (MLM) | 다음 토큰 예측 |",
    "LoRA는 사전 학습된 가중치를 고정하고 저랭크 행렬만 학습합니다.",
    "The on-call rotation changes every Tuesday.",
]


@pytest.fixture(scope="module")
def use() -> UseEmbedder:
    embedder = make_embedder(NAME, "auto")
    assert isinstance(embedder, UseEmbedder)
    return embedder


def test_vectors_are_normalised_and_sized(use: UseEmbedder) -> None:
    vectors = use.embed(ROWS)
    assert vectors.shape == (3, 512) and use.dimension == 512
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert use.embed([]).shape == (0, 512)
    assert np.allclose(use.embed_query(ROWS[2]), vectors[2], atol=1e-5)


def test_each_language_finds_the_other(use: UseEmbedder) -> None:
    scores = use.embed(ROWS) @ use.embed_query("Which low-rank method freezes the weights?")
    assert int(np.argmax(scores)) == 1
    scores = use.embed(ROWS) @ use.embed_query("당직 순번은 언제 바뀌나요?")
    assert int(np.argmax(scores)) == 2


def test_every_script_is_read(use: UseEmbedder) -> None:
    korean, english = vocab_coverage(use, [ROWS[1], ROWS[2]])
    assert korean == 1.0 and english == 1.0
    assert use.count_tokens(["학습합니다", " "])[0] >= 1
    assert use.count_tokens(["", " "]) == [0, 0] and use.unknown_letters(["학습", ""]) == [0, 0]
