"""Two spaces in one vector: each half searched alone gives that model's own cosines."""

from __future__ import annotations

import numpy as np
import pytest

from vectorstore import make_embedder
from vectorstore.embedders.dual import DualEmbedder, HasMultilingualSide, split_name
from vectorstore.embedders.hashing import HashEmbedder

TEXTS = ["LoRA freezes the pretrained weights", "the rotation changes on Tuesday", "학습"]


@pytest.fixture
def dual() -> DualEmbedder:
    return DualEmbedder(HashEmbedder(64, name="a"), HashEmbedder(32, name="b"))


def test_name_and_size_join_both_models(dual: DualEmbedder) -> None:
    assert dual.model_name == "a+b" and dual.dimension == 96
    assert dual.max_tokens == 64
    assert dual.count_tokens(TEXTS) == dual.primary.count_tokens(TEXTS)
    assert isinstance(dual, HasMultilingualSide)
    assert not isinstance(HashEmbedder(), HasMultilingualSide)


def test_stored_vectors_are_unit_and_each_query_half_gives_its_models_cosine(
    dual: DualEmbedder,
) -> None:
    stored = dual.embed(TEXTS)
    assert stored.shape == (3, 96) and stored.dtype == np.float32
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    query = "which weights does LoRA freeze"
    primary = dual.primary.embed(TEXTS) @ dual.primary.embed_query(query)
    multilingual = dual.multilingual.embed(TEXTS) @ dual.multilingual.embed_query(query)
    assert np.allclose(stored @ dual.embed_query(query), primary, atol=1e-5)
    assert np.allclose(stored @ dual.embed_query_multilingual(query), multilingual, atol=1e-5)
    assert dual.embed([]).shape == (0, 96)


def test_a_joined_name_makes_a_dual_embedder() -> None:
    assert split_name("bundled:all-MiniLM-L6-v2+bundled:use-multilingual") == (
        "bundled:all-MiniLM-L6-v2",
        "bundled:use-multilingual",
    )
    assert split_name("BAAI/bge-m3") is None
    assert split_name("+b") is None and split_name("a+") is None
    made = make_embedder("bundled:all-MiniLM-L6-v2+bundled:use-multilingual", "onnx-int8")
    assert isinstance(made, DualEmbedder)
    assert made.model_name == "bundled:all-MiniLM-L6-v2+bundled:use-multilingual"
    with pytest.raises(ValueError, match="backend"):
        make_embedder("a+b", "nonsense")
