"""The whole store in Milvus: the SQLite store's lifecycle without its transactions.

Every write is cut at each of its steps (fault injection) and by SIGKILL: a reader sees a
document whole, before or after, and running the same write again leaves it exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.generators.echo import EchoGenerator
from app.main import create_app
from app.tooling.bench.milvus_lite import lite_server
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES, LiveServer
from vectorstore import DocumentWrite, MilvusStore, NewChunk, Retriever
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.types import EmbeddingMismatchError, StoreError

pytestmark = pytest.mark.milvus

EMB = HashEmbedder(max_tokens=64)


def open_store(folder: Path | None = None, uri: str = "", name: str = "ragqa") -> MilvusStore:
    return MilvusStore(EMB.model_name, EMB.dimension, uri=uri, name=name, folder=folder)


def doc(doc_id: str, texts: list[str], version: str) -> DocumentWrite:
    chunks = [NewChunk(t, f"{doc_id} notes") for t in texts]
    vectors = EMB.embed([c.indexed_text for c in chunks])
    return DocumentWrite(doc_id, f"{doc_id}.md", doc_id.title(), version, {}, chunks, vectors)


OLD = ["LoRA freezes the pretrained weights.", "It trains two low-rank matrices."]
NEW = ["Adapters add small layers.", "Prefix tuning learns virtual tokens.", "All are cheap."]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MilvusStore]:
    s = open_store(tmp_path / "store")
    s.write_documents([doc("lora", OLD, "v1"), doc("other", ["FAISS searches vectors."], "v1")])
    yield s
    s.close()


def total_chunks(store: MilvusStore) -> int:
    return int(store.stats()["chunks"])


def test_documents_chunks_and_both_searches_live_in_milvus(store: MilvusStore) -> None:
    assert not (store.folder / "store.sqlite3").exists()  # type: ignore[operator]
    assert [c.text for c in store.get_chunks("lora")] == OLD
    assert store.stats()["documents"] == 2 and total_chunks(store) == 3
    hits = Retriever(store, EMB).search("low-rank matrices", top_k=2)
    assert hits[0].chunk_id == "lora#1" and hits[0].document_id == "lora"
    lexical = Retriever(store, EMB).search("low-rank", top_k=3, mode="lexical")
    # Its own chunk and the chunk beside it (neighbours count, as in FTS5), no other.
    assert {h.chunk_id for h in lexical} == {"lora#1", "lora#0"}
    dense = Retriever(store, EMB).search(OLD[0], top_k=1, mode="dense")
    assert dense[0].chunk_id == "lora#0"
    df, total = store.document_frequencies(["lora", "matric", "absent"])
    assert total == 3 and df["matric"] == 1 and "absent" not in df


def test_replace_delete_and_the_model_check(store: MilvusStore, tmp_path: Path) -> None:
    store.write_documents([doc("lora", NEW, "v2")])
    assert [c.text for c in store.get_chunks("lora")] == NEW
    assert total_chunks(store) == 4  # the old version's chunks are gone
    assert store.lexical("low-rank", 5) == []  # the old version is gone from search too
    store.write_documents([doc("lora", NEW, "v2")])  # the same again: the same rows
    assert total_chunks(store) == 4
    assert store.delete_document("lora") and not store.delete_document("lora")
    assert total_chunks(store) == 1 and store.get_chunks("lora") == []
    store.close()
    with pytest.raises(EmbeddingMismatchError, match="ragqa export"):
        MilvusStore("another-model", EMB.dimension, folder=tmp_path / "store")


class Cut(Exception):
    pass


def cut_after(store: MilvusStore, monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    """Make the store's client fail on its `calls`-th write call (upsert or delete)."""
    client = store.tables.client
    seen = {"n": 0}
    for name in ("upsert", "delete"):
        real = getattr(client, name)

        def failing(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen["n"] += 1
            if seen["n"] == calls:
                raise Cut
            return _real(*args, **kwargs)

        monkeypatch.setattr(client, name, failing)


def visible(store: MilvusStore) -> list[str]:
    """What a reader sees of the document: its chunks, checked against search."""
    info = store.get_info("lora")
    texts = [c.text for c in store.get_chunks("lora")]
    assert len(texts) == (info.chunks if info else 0)
    hits = store.lexical("lora low-rank adapters prefix tuning cheap faiss", 20)
    found = {chunk.text for chunk, _ in store.fetch_chunks([i for i, _ in hits]).values()}
    assert found == set(texts) | {"FAISS searches vectors."}
    return texts


# A replace makes four write calls: chunks, document row (the commit), sweep, generation.
@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_a_replace_cut_at_any_step_is_whole_and_finished_by_running_it_again(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    with monkeypatch.context() as patch:
        cut_after(store, patch, step)
        with pytest.raises(Cut):
            store.write_documents([doc("lora", NEW, "v2")])
        assert visible(store) in (OLD, NEW)  # never a mix
    info = store.get_info("lora")
    assert info is not None
    # Ingest reruns a document that is unchanged only when it is complete.
    if info.content_hash == "v2":
        assert store.complete(info)
    store.write_documents([doc("lora", NEW, "v2")])
    store.sweep_orphans()
    assert visible(store) == NEW and total_chunks(store) == 4


@pytest.mark.parametrize("step", [1, 2])
def test_a_delete_cut_at_any_step_is_finished(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    with monkeypatch.context() as patch:
        cut_after(store, patch, step)
        with pytest.raises(Cut):
            store.delete_document("lora")
    assert visible(store) in ([], OLD)
    store.delete_document("lora")
    store.sweep_orphans()
    assert visible(store) == [] and total_chunks(store) == 1


def test_ingest_is_idempotent_and_deletes_missing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    pipeline = Pipeline(store, EMB, chunk_tokens=64, chunk_overlap=8)
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    first = run_ingest(pipeline, [str(corpus)])
    assert first.failed == 0 and first.added > 0
    again = run_ingest(pipeline, [str(corpus)])
    assert again.added == again.updated == 0 and again.unchanged == first.added
    assert total_chunks(store) == first.chunks
    # A write cut short leaves a row without its chunks: the next run writes it again.
    some = next(iter(store.all_documents()))
    info = store.get_info(some)
    assert info is not None
    store.tables.client.delete(store.tables.chunks, filter=f'document_id == "{some}"')
    healed = run_ingest(pipeline, [str(corpus)])
    assert healed.updated == 1 and total_chunks(store) == first.chunks
    gone = store.get_info(some)
    assert gone is not None
    Path(gone.source).unlink()
    swept = run_ingest(pipeline, [str(corpus)], delete_missing=True)
    assert swept.deleted == 1 and store.get_info(some) is None
    assert store.stats()["documents"] == first.added - 1
    store.close()


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[str]:
    """A `milvus-lite server` that several processes share, as a Milvus server would be."""
    with lite_server(tmp_path / "milvus") as server:
        yield server.uri


WRITER = """
import sys
from tests.vectorstore.milvus.test_milvus_whole_store import doc, open_store
store = open_store(uri=sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    n += 1
    texts = [[f"text {i} version {n} chunk {k}" for k in range(4)] for i in range(5)]
    store.write_documents([doc(f"d{i}", texts[i], f"v{n}") for i in range(5)])
"""


def test_sigkill_mid_ingest_leaves_whole_documents(milvus_server: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, milvus_server],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(2.5)  # a few rounds of replacing five documents
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = open_store(uri=milvus_server)
    for info in store.all_documents().values():
        chunks = store.get_chunks(info.id)
        assert len(chunks) == info.chunks == 4
        assert len({c.text.split(" version ")[1].split()[0] for c in chunks}) == 1
    store.write_documents([doc(f"d{i}", ["final"], "final") for i in range(5)])
    store.sweep_orphans()
    assert total_chunks(store) == 5 and store.stats()["documents"] == 5
    store.close()


def replica(folder: Path, uri: str) -> LiveServer:
    """A real server over the shared Milvus, with its own client, as another machine's."""
    settings = Settings(store=folder, store_backend="milvus", milvus_uri=uri, min_relevance=0.2)
    app = create_app(settings, store=open_store(uri=uri), embedder=EMB, generator=EchoGenerator())
    return LiveServer(app)


def test_two_replicas_serve_one_store(milvus_server: str, tmp_path: Path) -> None:
    note = b"# Rotation\n\nThe on-call rotation changes every Tuesday at noon.\n"
    other = b"# Pager\n\nThe pager goes to the secondary after ten minutes.\n"
    with replica(tmp_path / "a", milvus_server) as a, replica(tmp_path / "b", milvus_server) as b:
        files = {"files": ("pager.md", other, "text/markdown")}
        assert httpx.post(f"{a.url}/api/documents", files=files, timeout=60).is_success
        question = {"question": "When does the on-call rotation change?"}
        before = httpx.post(f"{b.url}/api/ask", json=question, timeout=60).json()
        assert not before["grounded"]
        files = {"files": ("rotation.md", note, "text/markdown")}
        added = httpx.post(f"{a.url}/api/documents", files=files, timeout=60).json()
        assert added["documents"][0]["status"] == "added"
        # Found and answered through the other replica at once (the collections read
        # strongly).
        query = {"query": "when does the on-call rotation change", "top_k": 3}
        found = httpx.post(f"{b.url}/api/search", json=query, timeout=60).json()["results"]
        assert found and found[0]["document_id"] == "rotation.md"
        after = httpx.post(f"{b.url}/api/ask", json=question, timeout=60).json()
        assert after["grounded"] and after["sources"][0]["document_id"] == "rotation.md"
        assert httpx.get(f"{b.url}/api/stats", timeout=60).json()["documents"] == 2
        assert httpx.delete(f"{b.url}/api/documents/rotation.md", timeout=60).status_code == 204
        assert httpx.get(f"{a.url}/api/documents/rotation.md", timeout=60).status_code == 404
        left = httpx.post(f"{a.url}/api/search", json=query, timeout=60).json()["results"]
        assert all(r["document_id"] != "rotation.md" for r in left)


def test_two_ingests_at_once_write_each_document_once(milvus_server: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    stores = [open_store(uri=milvus_server) for _ in range(2)]  # two clients, as two machines
    summaries = []

    def ingest(store: MilvusStore) -> None:
        pipeline = Pipeline(store, EMB, chunk_tokens=64, chunk_overlap=8)
        summaries.append(run_ingest(pipeline, [str(corpus)], progress=False))

    threads = [threading.Thread(target=ingest, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(summaries) == 2 and all(s.failed == 0 for s in summaries)
    expected = max(s.chunks for s in summaries)
    store = stores[0]
    assert total_chunks(store) == expected and store.orphans() == 0
    assert all(store.complete(info) for info in store.all_documents().values())
    for s in stores:
        s.close()


def test_a_new_documents_terms_count_in_another_process_within_a_second(
    milvus_server: str,
) -> None:
    writer, reader = open_store(uri=milvus_server), open_store(uri=milvus_server)
    writer.write_documents([doc("a", OLD, "v1")])
    assert reader.document_frequencies(["rotat"]) == ({}, 2)  # read once, then kept
    writer.write_documents([doc("b", ["The rotation changes on Tuesday."], "v1")])
    time.sleep(1.1)
    assert reader.document_frequencies(["rotat", "lora"]) == ({"rotat": 1, "lora": 1}, 3)
    writer.close()
    reader.close()


def test_an_id_milvus_cannot_hold_is_refused_before_anything_is_written(
    store: MilvusStore,
) -> None:
    with pytest.raises(StoreError, match="longer than Milvus's 4096 bytes"):
        store.write_documents([doc("x" * 5000, ["some text"], "v1")])
    assert total_chunks(store) == 3 and store.orphans() == 0


def test_an_ingest_leaves_another_writers_uncommitted_chunks_alone(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Another writer's new chunks, written a moment ago, their row not yet: they look
    # like a crash's leftovers, but the sweep at the end of an ingest spares them.
    with monkeypatch.context() as patch:
        cut_after(store, patch, 2)
        with pytest.raises(Cut):
            store.write_documents([doc("lora", NEW, "v2")])
    assert store.orphans() == 3
    (tmp_path / "note.md").write_text("# Note\n\nSomething else entirely.\n")
    pipeline = Pipeline(store, EMB, chunk_tokens=64, chunk_overlap=8)
    assert run_ingest(pipeline, [str(tmp_path / "note.md")], progress=False).added == 1
    assert store.orphans() == 3
    assert store.sweep_orphans() == 3 and visible(store) == OLD
