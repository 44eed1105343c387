"""The Milvus backend: a derived copy of SQLite that survives reopening, is rebuilt when it
falls behind, and ranks as FAISS does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES
from vectorstore.dense.keeper import MilvusKeeper
from vectorstore.dense.milvus import DEFAULT_COLLECTION, MILVUS_FILE, MilvusDense
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import DocumentWrite, Store
from vectorstore.types import NewChunk, SearchHit

pytestmark = pytest.mark.milvus


def milvus_store(folder: Path, emb: HashEmbedder) -> Store:
    return Store(folder, emb.model_name, emb.dimension, dense_backend="milvus")


def write(store: Store, emb: HashEmbedder, doc_id: str, texts: list[str]) -> None:
    chunks = [NewChunk(t, "") for t in texts]
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite(doc_id, doc_id, None, "h", {}, chunks, vectors)])


def no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: MilvusDense, rows: object) -> None:
        raise AssertionError("the collection was rebuilt")

    monkeypatch.setattr(MilvusDense, "rebuild", refuse)


def test_a_reopened_store_searches_the_collection_it_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha beta gamma"])
    store.dense_index()  # built here; the writes after it go to Milvus one by one
    write(store, emb, "b.md", ["delta epsilon"])
    write(store, emb, "a.md", ["zeta eta"])  # replaced: its old row leaves the collection
    store.close()
    assert (tmp_path / "s" / MILVUS_FILE).exists()
    no_rebuild(monkeypatch)
    reopened = milvus_store(tmp_path / "s", emb)
    index = reopened.dense_index()
    assert isinstance(index, MilvusDense) and index.generation == reopened.generation()
    assert sorted(index.ids().tolist()) == [2, 3]
    top = Retriever(reopened, emb).search("delta epsilon", 2, "dense")
    assert [h.document_id for h in top] == ["b.md", "a.md"]
    assert top[0].score == pytest.approx(1.0, abs=1e-5)


def test_a_write_that_never_reached_milvus_is_rebuilt_from_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha"])
    store.flush()
    # The process dies after SQLite's commit, before its Milvus write.
    monkeypatch.setattr(MilvusKeeper, "apply", lambda *args: None)
    write(store, emb, "b.md", ["omega"])
    store.close()
    monkeypatch.undo()
    reopened = milvus_store(tmp_path / "s", emb)
    index = reopened.dense_index()
    assert index is not None and sorted(index.ids().tolist()) == [1, 2]
    assert Retriever(reopened, emb).search("omega", 1, "dense")[0].document_id == "b.md"


def test_a_failed_milvus_write_keeps_the_document_and_heals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha"])
    store.dense_index()

    def down(self: MilvusDense, ids: object, vectors: object) -> None:
        raise ConnectionError("milvus is down")

    with monkeypatch.context() as patch:
        patch.setattr(MilvusDense, "add", down)
        write(store, emb, "b.md", ["omega"])  # committed to SQLite all the same
    assert store.get_info("b.md") is not None
    assert Retriever(store, emb).search("omega", 1, "dense")[0].document_id == "b.md"


def test_a_collection_changed_behind_the_store_is_rebuilt_on_open(tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha", "beta", "gamma"])
    store.flush()
    store.close()
    client = MilvusClient(str(tmp_path / "s" / MILVUS_FILE))
    client.load_collection(DEFAULT_COLLECTION)
    client.delete(DEFAULT_COLLECTION, ids=[1, 2])
    client.close()
    reopened = milvus_store(tmp_path / "s", emb)
    index = reopened.dense_index()
    assert index is not None and sorted(index.ids().tolist()) == [1, 2, 3]


def settled(hits: list[SearchHit]) -> list[tuple[float, str]]:
    """(score, chunk) of the hits that rank above the last hit's score, ties sorted by
    chunk: how exact ties are ordered, and which of them the cut at top_k keeps, is each
    engine's own (the hash embedder gives many chunks a cosine of exactly 0)."""
    last = round(hits[-1].score, 4)
    ranked = [(round(h.score, 4), h.chunk_id) for h in hits if round(h.score, 4) > last]
    return sorted(ranked, key=lambda r: (-r[0], r[1]))


def test_hybrid_search_ranks_as_faiss_does(tmp_path: Path) -> None:
    """Both searches are exact (FAISS flat, Milvus Lite FLAT), so the rankings agree."""
    emb = HashEmbedder(max_tokens=64)
    stores = {
        backend: Store(tmp_path / backend, emb.model_name, emb.dimension, dense_backend=backend)
        for backend in ("faiss", "milvus")
    }
    for store in stores.values():
        pipeline = Pipeline(store, emb, chunk_tokens=32, chunk_overlap=4)
        summary = run_ingest(pipeline, [str(FIXTURES)], progress=False)
        assert summary.failed == 0 and summary.chunks > 25
    assert isinstance(stores["milvus"].dense_index(), MilvusDense)
    faiss, milvus = (Retriever(store, emb) for store in stores.values())
    compared = 0
    queries = ["what if the answer is missing", "citations", "김치 담그는 법", "sourdough starter"]
    for query in queries:
        for mode in ("dense", "hybrid"):
            expected = faiss.search(query, 8, mode)  # type: ignore[arg-type]
            got = milvus.search(query, 8, mode)  # type: ignore[arg-type]
            np.testing.assert_allclose([h.score for h in got], [h.score for h in expected], 1e-5)
            assert settled(got) == settled(expected), (query, mode)
            compared += len(settled(expected))
    assert compared >= 30, compared  # the rankings compared are not all ties


def test_repair_rebuilds_a_collection_whose_vectors_were_changed(tmp_path: Path) -> None:
    """Opening a store checks the record and the count; `ragqa check --repair` is what
    mends vectors changed in place."""
    from pymilvus import MilvusClient

    from vectorstore.maintenance.check import repair_store

    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha", "beta"])
    store.flush()
    store.close()
    client = MilvusClient(str(tmp_path / "s" / MILVUS_FILE))
    client.load_collection(DEFAULT_COLLECTION)
    flipped = (-emb.embed_query("alpha")).tolist()
    client.upsert(DEFAULT_COLLECTION, [{"id": 1, "vector": flipped}])
    client.close()
    repair_store(tmp_path / "s", dense_backend="milvus")
    reopened = milvus_store(tmp_path / "s", emb)
    top = Retriever(reopened, emb).search("alpha", 1, "dense")[0]
    assert top.chunk_id == "a.md#0" and top.score == pytest.approx(1.0, abs=1e-5)


def test_check_reports_the_collection_as_not_checked(tmp_path: Path) -> None:
    from vectorstore.maintenance.check import check_store

    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha", "beta"])
    store.close()
    findings = {f.name: f for f in check_store(tmp_path / "s", dense_backend="milvus")}
    assert all(f.ok for f in findings.values())
    assert findings["dense index"].detail.startswith("milvus (not checked)")
    assert "2 vectors" in findings["embeddings"].detail


def test_searches_beside_writes_neither_deadlock_nor_lose_a_write(tmp_path: Path) -> None:
    """A search that finds the collection behind rebuilds it under the write lock, which
    writers take before the index lock: the same order, so no thread waits on another."""
    import threading

    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "doc0", ["text number 0"])
    other = milvus_store(tmp_path / "s", emb)  # its searches find every write of `store` new
    stop = threading.Event()
    errors: list[BaseException] = []

    def search(searched: Store) -> None:
        try:
            while not stop.is_set():
                Retriever(searched, emb).search("text number", 3, "dense")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    # One reader shares the writer's Store (its thread lock), one has its own (file lock).
    readers = [threading.Thread(target=search, args=(s,)) for s in (store, other)]
    for reader in readers:
        reader.start()
    for n in range(1, 12):
        write(store, emb, f"doc{n}", [f"text number {n}"])
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
    assert not any(r.is_alive() for r in readers) and not errors
    for s in (store, other):
        index = s.dense_index()
        assert index is not None and sorted(index.ids().tolist()) == list(range(1, 13))


def test_a_rebuild_leaves_one_collection_behind_the_alias(tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    emb = HashEmbedder()
    store = milvus_store(tmp_path / "s", emb)
    write(store, emb, "a.md", ["alpha"])
    store.dense_index()
    index = store.dense_index()
    assert isinstance(index, MilvusDense)
    # As if a rebuild had died after creating its collection, before the alias moved.
    index._client.create_collection(
        f"{DEFAULT_COLLECTION}_0123456789ab", dimension=emb.dimension, metric_type="IP"
    )
    store.rebuild_indexes()
    store.close()
    client = MilvusClient(str(tmp_path / "s" / MILVUS_FILE))
    names = client.list_collections()
    assert len(names) == 1 and names[0].startswith(f"{DEFAULT_COLLECTION}_")
    assert client.describe_alias(DEFAULT_COLLECTION)["collection_name"] == names[0]
    client.close()
