"""The store on disk: add, update, delete, reopen, rebuild the dense index, refuse a
mismatched model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import INDEX_FILE, DocumentWrite, Store
from vectorstore.types import EmbeddingMismatchError, NewChunk


def open_store(folder: Path, emb: HashEmbedder) -> Store:
    return Store(folder, emb.model_name, emb.dimension)


def lose_dense_index(folder: Path) -> None:
    """Delete the derived dense index behind a closed store's back."""
    assert (folder / INDEX_FILE).exists()
    (folder / INDEX_FILE).unlink()


def write(
    store: Store, emb: HashEmbedder, doc_id: str, texts: list[str], digest: str = "h"
) -> None:
    chunks = [NewChunk(t, "") for t in texts]
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite(doc_id, doc_id, None, digest, {}, chunks, vectors)])


def test_add_search_update_delete(store: Store, embedder: HashEmbedder) -> None:
    write(store, embedder, "a.md", ["the cat sat on the mat", "dogs chase cats"])
    write(store, embedder, "b.md", ["rockets fly to the moon"])
    retriever = Retriever(store, embedder)
    for mode in ("dense", "lexical", "hybrid"):
        top = retriever.search("rockets moon", 2, mode)  # type: ignore[arg-type]
        assert top[0].document_id == "b.md", mode
    write(store, embedder, "b.md", ["submarines dive deep"], digest="h2")
    assert store.get_info("b.md").content_hash == "h2"  # type: ignore[union-attr]
    assert [c.text for c in store.get_chunks("b.md")] == ["submarines dive deep"]
    assert all(h.document_id != "b.md" for h in retriever.search("rockets moon", 5, "lexical"))
    assert store.delete_document("a.md") and not store.delete_document("a.md")
    assert store.stats()["documents"] == 1 and store.stats()["chunks"] == 1
    assert {h.document_id for h in retriever.search("cat mat", 5, "hybrid")} <= {"b.md"}


def test_reopen_and_rebuild_the_dense_index_after_it_is_deleted(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = open_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha beta gamma"])
    write(store, emb, "b.md", ["delta epsilon"])
    store.flush()
    store.close()
    lose_dense_index(tmp_path / "s")
    reopened = open_store(tmp_path / "s", emb)
    assert len(reopened.dense_index()) == 2  # type: ignore[arg-type]
    top = Retriever(reopened, emb).search("delta epsilon", 1, "dense")
    assert top[0].document_id == "b.md"


def test_a_stale_dense_index_is_rebuilt(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = open_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha"])
    store.flush()
    # Another process writes after the index was saved: the saved index is now stale.
    other = open_store(tmp_path / "s", emb)
    write(other, emb, "b.md", ["omega"])
    fresh = open_store(tmp_path / "s", emb)
    assert sorted(fresh.dense_index().ids().tolist()) == sorted(  # type: ignore[union-attr]
        [int(i) for i in np.arange(1, 3)]
    )
    # The first store notices the other writer on its next search too.
    assert {h.document_id for h in Retriever(store, emb).search("omega", 2, "dense")} == {
        "a.md",
        "b.md",
    }


def test_mismatched_embedding_model_is_refused_with_advice(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = open_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha"])
    store.dense_index()  # the Milvus collection exists too: the refusal is still first
    with pytest.raises(EmbeddingMismatchError, match="re-embed") as info:
        Store(tmp_path / "s", "some/other-model")
    assert "RAGQA_EMBEDDING_MODEL=hash" in str(info.value)
    assert "ragqa import store.jsonl" in str(info.value)
    assert "--embedding-model some/other-model" in str(info.value)


def test_a_corrupt_database_file_gives_a_clear_error(tmp_path: Path) -> None:
    from vectorstore.types import StoreError

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "store.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable database"):
        Store(tmp_path / "s", "hash")


def test_readers_never_see_half_a_document(store: Store, embedder: HashEmbedder) -> None:
    """While a writer replaces a 20-chunk document again and again, every read sees 20."""
    write(store, embedder, "big.md", [f"version 0 part {i}" for i in range(20)])
    stop = threading.Event()
    seen: set[int] = set()

    def read() -> None:
        while not stop.is_set():
            seen.add(len(store.get_chunks("big.md")))

    reader = threading.Thread(target=read)
    reader.start()
    for v in range(1, 30):
        write(store, embedder, "big.md", [f"version {v} part {i}" for i in range(20)], str(v))
    stop.set()
    reader.join()
    assert seen == {20}


def test_keyword_index_is_rebuilt_when_the_analyzer_changes(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = open_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["GPT-3 has many parameters", "and a long context window"])
    conn = store._conn()
    # as if built by an older version: one column, other terms
    conn.execute("DROP TABLE chunks_vocab")
    conn.execute("DROP TABLE chunks_fts")
    conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(terms)")
    conn.execute("CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row')")
    conn.execute("INSERT INTO chunks_fts (rowid, terms) VALUES (1, 'unrelated')")
    conn.execute("UPDATE meta SET value = 'old' WHERE key = 'analyzer_version'")
    assert store.lexical("gpt-3", 5) == []
    reopened = open_store(tmp_path / "s", emb)
    # the first chunk is found by its own words, the second by its neighbour's
    assert [i for i, _ in reopened.lexical("gpt-3", 5)] == [1, 2]
    assert reopened.document_frequencies(["paramet"]) == ({"paramet": 2}, 2)


def test_keywords_weigh_headings_over_text_over_neighbours(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = open_store(tmp_path / "s", emb)
    chunks = [NewChunk("intro words", "Setup"), NewChunk("kafka brokers here", "Setup")]
    chunks += [NewChunk("more words", "Kafka")]
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite("d.md", "d.md", None, "h", {}, chunks, vectors)])
    ranked = [i for i, _ in store.lexical("kafka", 5)]
    # heading "Kafka" (x3, with its neighbour's "kafka") > own text > a neighbour's text
    assert ranked == [3, 2, 1]
