"""Vocabulary coverage: how much the bundled English embedder sees of a text."""

from __future__ import annotations

from pathlib import Path

import pytest

from vectorstore.embedder import SentenceTransformerEmbedder
from vectorstore.retrieval import Retriever
from vectorstore.store import Store

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    emb = SentenceTransformerEmbedder("bundled:all-MiniLM-L6-v2", device="cpu")
    folder: Path = tmp_path_factory.mktemp("coverage")
    return Retriever(Store(folder, emb.model_name, emb.dimension), emb)


def test_english_is_known_and_korean_is_not(retriever: Retriever) -> None:
    known = retriever.known(["What does LoRA stand for?", "트랜스포머의 구조", "2018.06.11"])
    assert known[0] == 1.0 and known[1] == 0.0
    assert known[2] == 1.0  # no letters: nothing to be wrong about


def test_words_mapped_to_unknown_count_as_unknown(retriever: Retriever) -> None:
    # MiniLM turns these whole words into one [UNK] each: few tokens per letter, yet the
    # model saw nothing of them (KorQuAD questions that fused MiniLM's noise before)
    text = "뉘르부르크링의 북쪽 서킷은 무엇인가?"
    assert retriever.embedder.count_tokens([text])[0] <= 5
    assert retriever.embedder.unknown_letters([text])[0] == 16  # every letter
    assert retriever.known([text]) == [0.0]
    mixed = retriever.known(["GPT-3 model 뉘르부르크링"])[0]
    assert 0.0 < mixed < 1.0


def test_chunks_coverage_is_not_worked_out_for_a_query_the_embedder_does_not_know(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorstore.store import DocumentWrite
    from vectorstore.types import NewChunk

    chunks = [NewChunk("트랜스포머의 구조와 어텐션", "노트"), NewChunk("LoRA adapters", "Notes")]
    vectors = retriever.embedder.embed([c.indexed_text for c in chunks])
    retriever.store.write_documents([DocumentWrite("k.md", "k.md", None, "k", {}, chunks, vectors)])
    asked: list[int] = []
    real = retriever._known_texts
    monkeypatch.setattr(retriever, "_known_texts", lambda t: (asked.append(len(t)), real(t))[1])
    # A Korean query: MiniLM knows none of it, so the dense side weighs 0 whatever the
    # chunks are, and no chunk is tokenized to find out.
    hits = retriever.search("트랜스포머 구조", 2)
    assert hits and hits[0].document_id == "k.md" and asked == []
    assert hits[0].relevance > 0  # keyword coverage still scores it
    retriever.search("LoRA adapters", 2)
    assert asked  # an English query does weigh the chunks' coverage
