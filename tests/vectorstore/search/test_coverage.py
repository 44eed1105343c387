"""Vocabulary coverage: how much the bundled English embedder sees of a text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vectorstore.embedders.base import count_letters
from vectorstore.embedders.sentence_transformers import SentenceTransformerEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    emb = SentenceTransformerEmbedder("bundled:all-MiniLM-L6-v2", device="cpu")
    folder: Path = tmp_path_factory.mktemp("coverage")
    return Retriever(Store(folder, emb.model_name, emb.dimension), emb)


def test_letters_are_the_word_characters_but_digits_and_underscores() -> None:
    # Every character of the first three Unicode planes, one by one and as one text.
    letter = re.compile(r"[^\W\d_]")
    every = "".join(chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000)
    assert count_letters(every) == len(letter.findall(every)) > 100_000
    assert count_letters("LoRA는 2021년, r_8 ²½ Ⅻ①!") == len(
        letter.findall("LoRA는 2021년, r_8 ²½ Ⅻ①!")
    )
    assert count_letters("") == 0 and count_letters("3.14 _ -") == 0


def test_english_is_known_and_korean_is_not(retriever: Retriever) -> None:
    known = retriever.vocabulary_coverage(
        ["What does LoRA stand for?", "트랜스포머의 구조", "2018.06.11"]
    )
    assert known[0] == 1.0 and known[1] == 0.0
    assert known[2] == 1.0  # no letters: nothing to be wrong about


def test_words_mapped_to_unknown_count_as_unknown(retriever: Retriever) -> None:
    # MiniLM turns these whole words into one [UNK] each: few tokens per letter, yet the
    # model saw nothing of them (KorQuAD questions that fused MiniLM's noise before)
    text = "뉘르부르크링의 북쪽 서킷은 무엇인가?"
    assert retriever.embedder.count_tokens([text])[0] <= 5
    assert retriever.embedder.unknown_letters([text])[0] == 16  # every letter
    assert retriever.vocabulary_coverage([text]) == [0.0]
    mixed = retriever.vocabulary_coverage(["GPT-3 model 뉘르부르크링"])[0]
    assert 0.0 < mixed < 1.0


def test_chunks_coverage_is_not_worked_out_for_a_query_the_embedder_does_not_know(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorstore.store.store import DocumentWrite
    from vectorstore.types import NewChunk

    chunks = [NewChunk("트랜스포머의 구조와 어텐션", "노트"), NewChunk("LoRA adapters", "Notes")]
    vectors = retriever.embedder.embed([c.indexed_text for c in chunks])
    retriever.store.write_documents([DocumentWrite("k.md", "k.md", None, "k", {}, chunks, vectors)])
    asked: list[int] = []
    real = retriever.store.stored_coverage
    monkeypatch.setattr(
        retriever.store, "stored_coverage", lambda ids: (asked.append(len(ids)), real(ids))[1]
    )
    # A Korean query: MiniLM knows none of it, so the dense side weighs 0 whatever the
    # chunks are, and no chunk's coverage is read or worked out to find out.
    hits = retriever.search("트랜스포머 구조", 2)
    assert hits and hits[0].document_id == "k.md" and asked == []
    assert hits[0].relevance > 0  # keyword coverage still scores it
    retriever.search("LoRA adapters", 2)
    assert asked  # an English query does weigh the chunks' coverage


@pytest.mark.parametrize("query", ["트랜스포머의 구조", "GPT-3 model 뉘르부르크링 서킷 트랜스포머"])
def test_a_query_whose_dense_side_weighs_nothing_is_not_searched_by_meaning(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    from vectorstore.search import retriever as retrieval
    from vectorstore.store.store import DocumentWrite
    from vectorstore.types import NewChunk

    texts = ["트랜스포머의 구조와 어텐션", "GPT-3 모델과 트랜스포머", "서킷의 구조"]
    # Others around them, so that their words are rare enough to be searched at all.
    texts += [f"다른 문단 {n}: 데이터와 학습" for n in range(12)]
    chunks = [NewChunk(text, "노트") for text in texts]
    vectors = retriever.embedder.embed([c.indexed_text for c in chunks])
    doc = DocumentWrite("w.md", "w.md", None, "w", {}, chunks, vectors)
    retriever.store.write_documents([doc])
    query_coverage = retriever.vocabulary_coverage([query])[0]
    assert query_coverage < retrieval.MIN_DENSE_WEIGHT  # the fusion weighs the dense side 0
    searched: list[int] = []
    real = retriever._dense
    monkeypatch.setattr(retriever, "_dense", lambda q, d: (searched.append(d), real(q, d))[1])
    embedded: list[str] = []
    embed = retriever.embedder.embed_query
    monkeypatch.setattr(
        retriever.embedder, "embed_query", lambda q: (embedded.append(q), embed(q))[1]
    )
    hits = retriever.search(query, 3)
    assert hits and searched == []
    # Embedded only where relevance weighs the cosine: a query the model knows in part.
    assert embedded == ([query] if query_coverage > 0 else [])
    # The same hits, scores and relevance as when the dense side is searched and weighed 0.
    monkeypatch.setattr(retrieval, "MIN_DENSE_WEIGHT", 0.0)
    full = retriever.search(query, 3)
    assert searched  # that path did search
    assert [(h.chunk_id, h.score, h.relevance) for h in hits] == [
        (h.chunk_id, h.score, h.relevance) for h in full
    ]
