"""What a search reuses instead of recomputing, and the threads it runs on: the fixes
behind issue 4's search latency under concurrent clients."""

from __future__ import annotations

import threading
from pathlib import Path

from vectorstore.dense import faiss_index
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.keyword import analyzer
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import DocumentWrite, Store
from vectorstore.types import NewChunk


def _write(store: Store, emb: HashEmbedder, doc_id: str, chunks: list[NewChunk]) -> None:
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite(doc_id, doc_id, None, doc_id, {}, chunks, vectors)])


def test_stored_keyword_terms_are_the_analyzers_terms_of_the_passage(
    store: Store, embedder: HashEmbedder
) -> None:
    chunks = [
        NewChunk("GPT-3 models were running; the 트랜스포머의 attention heads", "Guide > LLMs"),
        NewChunk("Fine-tuning with LoRA-2 adapters 학습률", "Guide > Tuning"),
        NewChunk("plain words only", ""),
    ]
    _write(store, embedder, "a.md", chunks)
    ids = [int(r[0]) for r in store._conn().execute("SELECT id FROM chunks")]
    fetched = store.fetch_chunks(ids)
    stored = store.keyword_terms(ids)
    assert len(stored) == 3
    for row_id in ids:
        passage = fetched[row_id][0].passage
        assert stored[row_id] == frozenset(analyzer.terms(passage)), passage
    assert {"gpt3", "lora2", "guid"} <= set().union(*stored.values())
    assert store.keyword_terms([]) == {}
    assert store.keyword_terms([999_999]) == {}  # unknown rows are left out


def test_relevance_uses_the_stored_terms_and_falls_back_to_analysis(
    store: Store, embedder: HashEmbedder
) -> None:
    _write(store, embedder, "a.md", [NewChunk("rockets fly to the moon", "Space")])
    retriever = Retriever(store, embedder)
    first = retriever.search("rockets moon", 1, "lexical")[0]
    assert first.relevance > 0.5
    # With the keyword index rows gone (as mid-rebuild), the terms are analysed again
    # and the relevance is the same.
    store._conn().execute("DELETE FROM chunks_fts")
    assert store.keyword_terms([1]) == {}
    fresh = Retriever(store, embedder)
    hit = fresh._hits("rockets moon", None, 1.0, [(1, 1.0)])[0]
    assert hit.chunk_id == first.chunk_id
    assert abs(hit.relevance - first.relevance) < 1e-9


def test_every_searching_thread_uses_the_configured_openmp_threads(
    tmp_path: Path, embedder: HashEmbedder
) -> None:
    import faiss

    store = Store(tmp_path / "s", embedder.model_name, embedder.dimension)
    _write(store, embedder, "a.md", [NewChunk(f"text number {i}", "") for i in range(20)])
    seen: list[int] = []

    def search() -> None:
        assert faiss.omp_get_max_threads() >= 1
        Retriever(store, embedder).search("text", 3, "dense")
        seen.append(faiss.omp_get_max_threads())

    faiss_index.use_search_threads(1)
    try:
        # A new thread starts with OpenMP's default, whatever the main thread set.
        threads = [threading.Thread(target=search) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        faiss_index.use_search_threads(faiss.omp_get_max_threads())
        store.close()
    assert seen == [1, 1, 1]
