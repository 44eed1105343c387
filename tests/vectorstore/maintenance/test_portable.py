"""Export and import: a round trip rebuilds an identical store; another model re-embeds;
a re-import skips everything; a damaged file is refused before anything is written."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.vectorstore.maintenance.test_check import QUERIES, build, failed
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.maintenance.check import check_store
from vectorstore.maintenance.exporting import ExportFormatError, export_store, read_documents
from vectorstore.maintenance.importing import import_store
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import DB_FILE, DocumentWrite, Store
from vectorstore.types import NewChunk


def content(folder: Path) -> tuple[list[Any], list[Any]]:
    """Every stored field but the row ids, which a new store numbers afresh."""
    conn = sqlite3.connect(folder / DB_FILE)
    docs = conn.execute("SELECT * FROM documents ORDER BY id").fetchall()
    chunks = conn.execute(
        "SELECT document_id, ord, text, context, metadata, embedding FROM chunks"
        " ORDER BY document_id, ord"
    ).fetchall()
    return docs, chunks


def hits(store: Store, emb: HashEmbedder) -> list[list[tuple[str, float]]]:
    retriever = Retriever(store, emb)
    return [
        [(h.chunk_id, h.score) for h in retriever.search(q, 8, mode)]  # type: ignore[arg-type]
        for q in QUERIES
        for mode in ("dense", "lexical", "hybrid")
    ]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Store, Path]:
    emb = HashEmbedder()
    store = build(tmp_path / "a", emb)
    export_store(tmp_path / "a", tmp_path / "a.jsonl.gz")
    return store, tmp_path / "a.jsonl.gz"


def test_round_trip_into_an_empty_store_is_identical(
    tmp_path: Path, exported: tuple[Store, Path]
) -> None:
    original, path = exported
    emb = HashEmbedder()
    copy = Store(tmp_path / "b", emb.model_name, emb.dimension)
    summary = import_store(copy, path)
    assert summary.added == original.stats()["documents"] and summary.reembedded == 0
    assert content(tmp_path / "b") == content(tmp_path / "a")  # ingested_at included
    assert hits(copy, emb) == hits(original, emb)
    assert not failed(check_store(tmp_path / "b")), check_store(tmp_path / "b")


def test_reimport_skips_unchanged_documents_and_writes_nothing(
    tmp_path: Path, exported: tuple[Store, Path]
) -> None:
    original, path = exported
    emb = HashEmbedder()
    copy = Store(tmp_path / "b", emb.model_name, emb.dimension)
    import_store(copy, path)
    generation = copy.generation()
    again = import_store(copy, path)
    assert (again.added, again.updated, again.chunks) == (0, 0, 0)
    assert again.unchanged == original.stats()["documents"]
    assert copy.generation() == generation
    # One document changed at the source: only it is written again.
    doc_id = sorted(original.all_documents())[0]
    vec = emb.embed(["a new text"])
    new = DocumentWrite(doc_id, doc_id, None, "changed", {}, [NewChunk("a new text", "")], vec)
    original.write_documents([new])
    export_store(tmp_path / "a", path)
    third = import_store(copy, path)
    assert (third.updated, third.added, third.chunks) == (1, 0, 1)
    assert [c.text for c in copy.get_chunks(doc_id)] == ["a new text"]


def test_import_into_a_store_of_another_model_reembeds(
    tmp_path: Path, exported: tuple[Store, Path]
) -> None:
    original, path = exported
    other = HashEmbedder(dimension=64, name="hash-64")
    target = Store(tmp_path / "b", other.model_name, other.dimension)
    summary = import_store(target, path, other)
    assert summary.reembedded == original.stats()["chunks"] == summary.chunks
    rows = sqlite3.connect(tmp_path / "b" / DB_FILE).execute(
        "SELECT context, text, embedding FROM chunks ORDER BY id"
    )
    stored, texts = [], []
    for context, text, blob in rows:
        texts.append(f"{context}\n{text}" if context else text)  # NewChunk.indexed_text
        stored.append(np.frombuffer(blob, np.float32))
    assert np.array_equal(np.stack(stored), other.embed(texts))
    assert target.dimension == 64 and len(target.dense_index() or []) == summary.chunks
    top = Retriever(target, other).search("sourdough starter", 1, "dense")
    assert top and "sourdough" in top[0].document_id
    assert not failed(check_store(tmp_path / "b"))
    assert import_store(target, path, other).unchanged == original.stats()["documents"]


def test_reembedding_needs_the_stores_embedder(
    tmp_path: Path, exported: tuple[Store, Path]
) -> None:
    target = Store(tmp_path / "b", "hash-64", 64)
    with pytest.raises(ValueError, match="needs its embedder"):
        import_store(target, exported[1])
    assert target.stats()["documents"] == 0


def test_a_failure_part_way_keeps_whole_documents_only(
    tmp_path: Path, exported: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = HashEmbedder()
    target = Store(tmp_path / "b", emb.model_name, emb.dimension)
    real = target.write_documents
    calls = []

    def flaky(docs: Any) -> None:
        calls.append(len(docs))
        if len(calls) == 3:
            raise OSError("disk full")
        real(docs)

    monkeypatch.setattr(target, "write_documents", flaky)
    with pytest.raises(OSError, match="disk full"):
        import_store(target, exported[1], batch_chunks=4)
    stored = target.all_documents()
    assert 0 < len(stored) < exported[0].stats()["documents"]
    for doc_id, info in stored.items():
        assert len(target.get_chunks(doc_id)) == info.chunks
    assert not failed(check_store(tmp_path / "b"))


def _lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)


def _gz(lines: list[str]) -> bytes:
    return gzip.compress("".join(lines).encode())


def _edit_header(path: Path, **fields: Any) -> bytes:
    lines = _lines(path)
    lines[0] = json.dumps({**json.loads(lines[0]), **fields}) + "\n"
    return _gz(lines)


def _bad_embedding(path: Path) -> bytes:
    # In the last document: an import that wrote as it read would have written the rest.
    lines = _lines(path)
    doc = json.loads(lines[-2])
    doc["chunks"][0]["embedding"] = doc["chunks"][0]["embedding"][:-8]
    lines[-2] = json.dumps(doc) + "\n"
    return _gz(lines)


CORRUPT = {
    "not gzip, not json": (lambda p: b"hello, world\n", "not JSON"),
    "another json": (lambda p: b'{"some": "thing"}\n', "not a ragqa export"),
    "empty": (lambda p: b"", "empty"),
    "future version": (lambda p: _edit_header(p, version=2), "version 2"),
    "truncated gzip": (lambda p: p.read_bytes()[: len(p.read_bytes()) // 2], "truncated"),
    "closing line cut": (lambda p: _gz(_lines(p)[:-1]), "no closing line"),
    "a document cut": (lambda p: _gz(_lines(p)[:2] + _lines(p)[-1:]), "damaged"),
    "bad embedding": (_bad_embedding, "embedding"),
    "header lies": (lambda p: _edit_header(p, documents=1), "damaged"),
    "repeated document": (lambda p: _gz(_lines(p)[:2] + _lines(p)[1:]), "repeats"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_damaged_files_are_refused_before_any_write(
    tmp_path: Path, exported: tuple[Store, Path], kind: str
) -> None:
    make, message = CORRUPT[kind]
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(make(exported[1]))
    emb = HashEmbedder()
    target = Store(tmp_path / "b", emb.model_name, emb.dimension)
    generation = target.generation()
    with pytest.raises(ExportFormatError, match=message):
        import_store(target, bad)
    assert target.stats()["documents"] == 0 and target.generation() == generation


def test_a_plain_uncompressed_export_reads_too(
    exported: tuple[Store, Path], tmp_path: Path
) -> None:
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(gzip.decompress(exported[1].read_bytes()))
    assert len(list(read_documents(plain))) == exported[0].stats()["documents"]
