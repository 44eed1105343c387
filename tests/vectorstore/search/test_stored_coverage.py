"""Each chunk's vocabulary coverage is stored at ingest and read by searches, which then
tokenize only the query; stores written without it search the same."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.document import Document, Part
from ingest.pipeline import Pipeline
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.embedders.vocabulary import passage_coverage
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import DB_FILE, Store

NOTES = {
    "starter": "A sourdough starter is a culture of wild yeast kept in flour and water. "
    "Feed it every day at room temperature.",
    "lamp": "An old lighthouse lamp was fed with oil by its keeper, who trimmed the wick.",
    "kimchi": "김치는 배추를 소금에 절여 양념과 함께 발효시킨 음식이다. Napa cabbage.",
}
QUERIES = ["sourdough starter feeding", "lighthouse keeper oil", "김치 cabbage"]


def _docs(notes: dict[str, str]) -> list[Document]:
    return [Document(id=k, source=f"{k}.md", title=k, parts=(Part(v),)) for k, v in notes.items()]


def _ingest(pipeline: Pipeline, store: Store, notes: dict[str, str] = NOTES) -> None:
    with store.writer():
        pipeline.ingest(_docs(notes))
    store.flush()


def _all_rows(store: Store) -> list[int]:
    return [int(r[0]) for r in store._conn().execute("SELECT id FROM chunks ORDER BY id")]


def _coverage_rows(folder: Path) -> int:
    with sqlite3.connect(folder / DB_FILE) as conn:
        return int(conn.execute("SELECT count(*) FROM chunk_coverage").fetchone()[0])


def _results(retriever: Retriever) -> list[list[tuple[str, float, float]]]:
    return [
        [(h.chunk_id, h.score, h.relevance) for h in retriever.search(q, 3, "hybrid")]
        for q in QUERIES
    ]


def _counted(embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the embedder is asked to tokenize for coverage from now on."""
    asked: list[str] = []
    real = embedder.count_tokens

    def count_tokens(texts: Sequence[str]) -> list[int]:
        asked.extend(texts)
        return real(texts)

    monkeypatch.setattr(embedder, "count_tokens", count_tokens)
    return asked


def test_ingest_stores_each_chunks_coverage(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder
) -> None:
    _ingest(pipeline, store)
    rows = _all_rows(store)
    stored = store.stored_coverage(rows)
    assert sorted(stored) == rows
    chunks = store.fetch_chunks(rows)
    passages = [chunks[i][0].passage for i in rows]
    assert [stored[i] for i in rows] == passage_coverage(embedder, passages)


def test_searches_read_it_and_tokenize_only_the_query(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(pipeline, store)
    asked = _counted(embedder, monkeypatch)
    hits = Retriever(store, embedder).search("sourdough starter feeding", 3, "hybrid")
    assert hits and hits[0].document_id == "starter" and hits[0].relevance > 0
    assert asked == ["sourdough starter feeding"]


def test_a_store_written_without_it_searches_the_same(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(pipeline, store)
    stored = _results(Retriever(store, embedder))
    with store.writer():
        store._conn().execute("DELETE FROM chunk_coverage")
    asked = _counted(embedder, monkeypatch)
    assert _results(Retriever(store, embedder)) == stored
    assert len(asked) > len(QUERIES)  # the hits' passages were tokenized this time


def test_an_older_store_opened_read_only_has_no_such_table_and_searches(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(pipeline, store)
    stored = _results(Retriever(store, embedder))
    folder = store.folder
    store.close()
    with sqlite3.connect(folder / DB_FILE) as conn:
        conn.execute("DROP TABLE chunk_coverage")
    monkeypatch.setattr("vectorstore.store.store.is_read_only", lambda _: True)
    old = Store(folder, embedder.model_name, embedder.dimension)
    try:
        assert old.read_only
        assert old.stored_coverage(_all_rows(old)) == {}
        assert _results(Retriever(old, embedder)) == stored
    finally:
        old.close()


def test_it_goes_with_its_chunks(pipeline: Pipeline, store: Store) -> None:
    _ingest(pipeline, store)
    before = _all_rows(store)
    assert _coverage_rows(store.folder) == len(before)
    _ingest(pipeline, store, {**NOTES, "lamp": NOTES["lamp"] + " The keeper wound the clock."})
    assert store.delete_document("kimchi")
    after = _all_rows(store)
    assert _coverage_rows(store.folder) == len(after)
    assert sorted(store.stored_coverage(after)) == after
    assert store.stored_coverage([i for i in before if i not in after]) == {}


def test_an_older_store_gains_it_at_its_next_ingest(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder
) -> None:
    _ingest(pipeline, store, {"starter": NOTES["starter"]})
    folder = store.folder
    store.close()
    with sqlite3.connect(folder / DB_FILE) as conn:
        conn.execute("DROP TABLE chunk_coverage")
    old = Store(folder, embedder.model_name, embedder.dimension)
    try:
        first = _all_rows(old)
        assert old.stored_coverage(first) == {}  # written before it was kept
        _ingest(Pipeline(old, embedder, chunk_tokens=64, chunk_overlap=8), old)
        rows = _all_rows(old)
        assert sorted(old.stored_coverage(rows)) == [i for i in rows if i not in first]
        assert _results(Retriever(old, embedder))  # the old chunk's worked out when needed
    finally:
        old.close()
