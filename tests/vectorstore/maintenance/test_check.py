"""`check_store` finds each kind of damage without healing it; `repair_store` rebuilds the
derived indexes and leaves search as it was before the damage."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES
from vectorstore.dense.faiss_index import DenseIndex
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.maintenance.check import check_store, repair_store
from vectorstore.search.retriever import Retriever
from vectorstore.store.readonly import StoreUnavailableError
from vectorstore.store.store import DB_FILE, INDEX_FILE, DocumentWrite, Store
from vectorstore.types import Finding, NewChunk

ROOT = Path(__file__).resolve().parents[3]
QUERIES = ("sourdough starter", "lighthouse keeper", "김치", "ragqa citations")


def build(folder: Path, emb: HashEmbedder) -> Store:
    store = Store(folder, emb.model_name, emb.dimension)
    summary = run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    assert summary.failed == 0 and summary.chunks > 10, summary
    store.flush()
    return store


def results(store: Store, emb: HashEmbedder) -> list[list[tuple[str, float]]]:
    retriever = Retriever(store, emb)
    return [
        [(h.chunk_id, round(h.score, 6)) for h in retriever.search(q, 5, mode)]
        for q in QUERIES
        for mode in ("dense", "lexical")
    ]


def failed(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings if not f.ok}


def raw(folder: Path) -> sqlite3.Connection:
    """A plain connection that damages the store behind the Store's back."""
    return sqlite3.connect(folder / DB_FILE, isolation_level=None)


def first_chunk(folder: Path) -> int:
    return int(raw(folder).execute("SELECT MIN(id) FROM chunks").fetchone()[0])


def drop_keyword_row(folder: Path) -> None:
    raw(folder).execute("DELETE FROM chunks_fts WHERE rowid = ?", (first_chunk(folder),))


def alter_keyword_text(folder: Path) -> None:
    # The FTS5 content table changes but its inverted index does not: what a torn write
    # inside the keyword index would look like.
    raw(folder).execute(
        "UPDATE chunks_fts_content SET c1 = 'bogus words' WHERE id = ?", (first_chunk(folder),)
    )


def faiss_file_missing_rows(folder: Path) -> None:
    # Rows gone from the saved index, which still claims the current generation.
    index = DenseIndex.load(folder / INDEX_FILE, HashEmbedder().dimension)
    assert index is not None
    index.remove(np.array([first_chunk(folder)], dtype=np.int64))
    index.save(folder / INDEX_FILE)


def faiss_file_garbage(folder: Path) -> None:
    (folder / INDEX_FILE).write_bytes(b"not a faiss index" * 10)


DAMAGE: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "keyword row dropped": (drop_keyword_row, {"keyword rows"}),
    "keyword text altered": (alter_keyword_text, {"keyword rows", "keyword index"}),
    "faiss rows dropped": (faiss_file_missing_rows, {"dense file", "dense on open"}),
    "faiss file garbage": (faiss_file_garbage, {"dense file"}),
}


def test_a_sound_store_passes_every_check(tmp_path: Path) -> None:
    emb = HashEmbedder()
    build(tmp_path / "s", emb).close()
    findings = check_store(tmp_path / "s", configured_model=emb.model_name)
    assert not failed(findings), [f.line() for f in findings]
    names = [f.name for f in findings]
    assert names == [
        "sqlite",
        "model",
        "documents",
        "keyword rows",
        "keyword index",
        "embeddings",
        "dense file",
        "dense on open",
    ]
    assert "ids and vectors match" in findings[6].detail


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_found_not_healed_and_repair_restores_search(tmp_path: Path, damage: str) -> None:
    emb = HashEmbedder()
    folder = tmp_path / "s"
    store = build(folder, emb)
    before = results(store, emb)
    store.close()
    damage_fn, expected = DAMAGE[damage]
    damage_fn(folder)
    files = _fingerprint(folder)
    first = check_store(folder)
    assert set(failed(first)) == expected, [f.line() for f in first]
    assert all(f.repairable for f in failed(first).values())
    # Checking twice finds the same: the first check changed no byte of the store.
    assert set(failed(check_store(folder))) == expected
    assert _fingerprint(folder) == files
    repair_store(folder)
    after = check_store(folder)
    assert not failed(after), [f.line() for f in after]
    reopened = Store(folder, emb.model_name, emb.dimension)
    assert results(reopened, emb) == before


def test_a_faiss_file_the_store_would_trust_is_what_check_compares(tmp_path: Path) -> None:
    """Why a current-looking file is checked row by row: the Store serves it unverified."""
    emb = HashEmbedder()
    folder = tmp_path / "s"
    build(folder, emb).close()
    faiss_file_missing_rows(folder)
    trusting = Store(folder, emb.model_name, emb.dimension)
    assert len(trusting.dense_index() or []) == trusting.stats()["chunks"] - 1
    trusting.close()
    assert "1 missing" in failed(check_store(folder))["dense file"].detail


def test_a_stale_faiss_file_after_a_crash_is_fine(tmp_path: Path) -> None:
    """A kill between a commit and the next save leaves an older file behind; the store
    rebuilds it, so check must not call it a problem (the crash test relies on it)."""
    emb = HashEmbedder()
    folder = tmp_path / "s"
    store = build(folder, emb)
    store.delete_document(next(iter(store.all_documents())))  # no flush: the file is stale
    findings = check_store(folder)
    assert not failed(findings), [f.line() for f in findings]
    assert "stale" in next(f for f in findings if f.name == "dense file").detail


def test_a_stale_faiss_file_claiming_the_current_generation_is_found(tmp_path: Path) -> None:
    emb = HashEmbedder()
    folder = tmp_path / "s"
    store = build(folder, emb)
    old = (folder / INDEX_FILE).read_bytes(), (folder / "dense.json").read_text()
    store.delete_document(next(iter(store.all_documents())))
    store.flush()
    generation = store.generation()
    store.close()
    (folder / INDEX_FILE).write_bytes(old[0])
    (folder / "dense.json").write_text(
        old[1].replace(f'"generation": {generation - 1}', f'"generation": {generation}')
    )
    assert "not in SQLite" in failed(check_store(folder))["dense file"].detail
    repair_store(folder)
    assert not failed(check_store(folder))


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("UPDATE chunks SET embedding = zeroblob(8) WHERE id = {id}", "embeddings"),
        ("UPDATE chunks SET embedding = zeroblob(1024) WHERE id = {id}", "embeddings"),
        ("UPDATE documents SET chunk_count = chunk_count + 1", "documents"),
        ("UPDATE chunks SET metadata = '{{oops' WHERE id = {id}", "documents"),
        ("DELETE FROM meta WHERE key = 'embedding_model'", "model"),
    ],
)
def test_damage_to_the_source_of_truth_is_found_and_not_repairable(
    tmp_path: Path, sql: str, name: str
) -> None:
    emb = HashEmbedder()
    folder = tmp_path / "s"
    build(folder, emb).close()
    raw(folder).execute(sql.format(id=first_chunk(folder)))
    problems = failed(check_store(folder))
    assert name in problems and not problems[name].repairable, problems


def test_orphan_chunks_are_found(tmp_path: Path) -> None:
    emb = HashEmbedder()
    folder = tmp_path / "s"
    build(folder, emb).close()
    conn = raw(folder)  # foreign keys are off on a plain connection: the cascade is skipped
    conn.execute("DELETE FROM documents WHERE id = (SELECT MIN(document_id) FROM chunks)")
    assert "no stored document" in failed(check_store(folder))["documents"].detail


def test_an_empty_store_is_sound(tmp_path: Path) -> None:
    emb = HashEmbedder()
    Store(tmp_path / "s", emb.model_name, emb.dimension).close()
    findings = check_store(tmp_path / "s")
    assert not failed(findings), [f.line() for f in findings]


def test_no_store_or_no_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="no store"):
        check_store(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / DB_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailableError, match="not a readable ragqa store"):
        check_store(tmp_path / "junk")


def _fingerprint(folder: Path) -> dict[str, str]:
    """Each store file's digest. The -shm index is SQLite's scratch space, rewritten by
    every reader, and a reader may leave an empty -wal where none was: neither is data."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.is_file() and not p.name.endswith("-shm") and p.stat().st_size
    }


def test_check_leaves_a_crashed_writers_wal_as_it_is(tmp_path: Path) -> None:
    """After a SIGKILL the last commits live only in the WAL. A check that checkpointed it
    (as the last connection to close normally does) would rewrite the database file."""
    folder = tmp_path / "s"
    emb = HashEmbedder()
    build(folder, emb).close()
    script = (
        "import os, sys; from vectorstore.store.store import Store, DocumentWrite;"
        "from vectorstore.embedders.hashing import HashEmbedder;"
        "from vectorstore.types import NewChunk;"
        "e = HashEmbedder(); s = Store(sys.argv[1], e.model_name, e.dimension);"
        "c = [NewChunk('late words', '')]; v = e.embed(['late words']);"
        "s.write_documents([DocumentWrite('late', 'late', None, 'h', {}, c, v)]); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", script, str(folder)], check=True, cwd=ROOT)
    assert (folder / f"{DB_FILE}-wal").stat().st_size > 0
    files = _fingerprint(folder)
    findings = check_store(folder)
    assert not failed(findings), [f.line() for f in findings]
    assert "stale" in findings[6].detail  # the killed writer never saved its index
    assert _fingerprint(folder) == files


def test_an_ivf_file_is_compared_by_ids(tmp_path: Path) -> None:
    """IVF-SQ8 keeps 8-bit codes, not the vectors: its ids are what can be compared."""
    emb = HashEmbedder(dimension=32)
    folder = tmp_path / "s"
    store = Store(folder, emb.model_name, emb.dimension, index_kind="ivf_sq8")
    texts = [f"note {n} about topic {n % 97} and item {n % 89}" for n in range(1200)]
    vectors = emb.embed(texts)
    store.write_documents(
        [
            DocumentWrite(f"d{n}", f"d{n}", None, "h", {}, [NewChunk(t, "")], vectors[n : n + 1])
            for n, t in enumerate(texts)
        ]
    )
    store.flush()
    assert (store.dense_index() or DenseIndex(1)).kind == "ivf_sq8"
    store.close()
    findings = check_store(folder, "ivf_sq8")
    dense = next(f for f in findings if f.name == "dense file")
    assert dense.ok and "ivf_sq8): ids match" in dense.detail, dense
    index = DenseIndex.load(folder / INDEX_FILE, emb.dimension)
    assert index is not None
    index.remove(np.array([first_chunk(folder)], dtype=np.int64))
    index.save(folder / INDEX_FILE)
    assert "1 missing" in failed(check_store(folder, "ivf_sq8"))["dense file"].detail


def test_the_fts5_check_never_makes_a_writer_wait(tmp_path: Path) -> None:
    # It holds SQLite's write lock while it runs, so it steps aside while ragqa writes.
    emb = HashEmbedder()
    store = build(tmp_path / "s", emb)
    with store.writer():
        findings = {f.name: f for f in check_store(tmp_path / "s")}
    assert findings["keyword index"].ok
    assert "not run: a writer holds the store" in findings["keyword index"].detail
    assert (
        "FTS5 integrity-check: ok"
        in {f.name: f for f in check_store(tmp_path / "s")}["keyword index"].detail
    )
