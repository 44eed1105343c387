"""The optional reranker: it reorders the head of the fused list and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import DocumentWrite, Store
from vectorstore.types import NewChunk


class PrefersWord:
    """Scores a passage 1 if it holds the word, else 0; records what it was shown."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.seen: list[int] = []

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        self.seen.append(len(texts))
        return [1.0 if self.word in t else 0.0 for t in texts]


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Store, HashEmbedder]:
    emb = HashEmbedder()
    store = Store(tmp_path / "s", emb.model_name, emb.dimension)
    texts = ["alpha alpha alpha", "alpha alpha beta", "alpha gamma", "alpha delta"]
    chunks = [NewChunk(t, "") for t in texts]
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite("d", "d", None, "h", {}, chunks, vectors)])
    return store, emb


def test_reranker_reorders_the_head(filled: tuple[Store, HashEmbedder]) -> None:
    store, emb = filled
    plain = [h.text for h in Retriever(store, emb).search("alpha", 4, "lexical")]
    assert plain[0] == "alpha alpha alpha"
    reranker = PrefersWord("delta")
    hits = Retriever(store, emb, reranker, rerank_depth=4).search("alpha", 4, "lexical")
    assert hits[0].text == "alpha delta" and hits[0].score == 1.0
    assert [h.text for h in hits[1:]] == [t for t in plain if t != "alpha delta"]  # stable


def test_reranker_sees_only_its_depth(filled: tuple[Store, HashEmbedder]) -> None:
    store, emb = filled
    reranker = PrefersWord("delta")
    hits = Retriever(store, emb, reranker, rerank_depth=2).search("alpha", 4, "lexical")
    assert reranker.seen == [4]  # at least top_k, so every returned hit is reranked
    hits = Retriever(store, emb, reranker, rerank_depth=2).search("alpha", 1, "lexical")
    assert reranker.seen[-1] == 2 and len(hits) == 1


@pytest.mark.models
def test_cross_encoder_loads_a_local_folder_offline() -> None:
    from vectorstore.search.rerank import CrossEncoderReranker

    # The bundled MiniLM folder has no trained classifier head (it is initialised at random),
    # which is enough to prove any local CrossEncoder folder loads and scores offline.
    reranker = CrossEncoderReranker("bundled:all-MiniLM-L6-v2", device="cpu")
    scores = reranker.score("what is a cat", ["a cat is an animal", "rockets fly"])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
    assert reranker.score("q", []) == []
