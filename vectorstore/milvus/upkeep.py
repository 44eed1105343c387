"""What a store in Milvus needs now and then: chunks no document names swept away, the
keyword terms written again, a document read whole for export."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.keyword import columns
from vectorstore.milvus import keywords, rows
from vectorstore.milvus.tables import Tables
from vectorstore.types import DocumentInfo, StoredChunk, StoreError

if TYPE_CHECKING:
    from numpy.typing import NDArray


def orphans(tables: Tables, older_than_s: float = 0.0) -> list[int]:
    """The chunks whose version no document row names (left by writes cut short), written
    more than `older_than_s` ago: younger ones may be another writer's, about to commit."""
    before = time.time_ns() - int(older_than_s * 1e9)
    found = tables.chunks_by_version(["id", "written"])
    return [int(r["id"]) for r, current in found if not current and r["written"] < before]


def incomplete(tables: Tables) -> set[str]:
    """The documents whose current version lacks chunks (a write cut short between its
    chunks and its row, or by another writer): one read of the documents and one of the
    chunks, not a count per document."""
    found = tables.iterate(tables.documents, ["id", "content_hash", "chunk_count"])
    docs = {str(r["id"]): (str(r["content_hash"]), int(r["chunk_count"])) for r in found}
    held: Counter[str] = Counter()
    for r in tables.iterate(tables.chunks, ["document_id", "version"]):
        doc = docs.get(str(r["document_id"]))
        if doc is not None and doc[0] == r["version"]:
            held[str(r["document_id"])] += 1
    return {i for i, (_, count) in docs.items() if held[i] != count}


def rewrite_terms(tables: Tables) -> None:
    """Every current chunk's keyword terms again, by this version of the analyzer."""
    fields = [*rows.CHUNK_FIELDS, "coverage", "written", "vector"]
    for info in [rows.info(r) for r in tables.iterate(tables.documents, rows.DOC_FIELDS)]:
        found = tables.version_rows(info, fields)
        terms = keywords.rows([(r["context"], r["text"]) for r in found])
        tables.upsert_chunks(
            [{**r, "terms": t, "keywords": own} for r, (t, own) in zip(found, terms, strict=True)]
        )
    tables.set_meta({"analyzer_version": columns.VERSION})


def document_rows(
    tables: Tables, doc_id: str
) -> tuple[DocumentInfo, list[tuple[StoredChunk, NDArray[np.float32]]]] | None:
    """A document with its chunks and their vectors, all of one version; None when it is
    gone."""
    for _ in range(3):  # replaced while being read: read it again
        info = tables.infos([doc_id]).get(doc_id)
        if info is None:
            return None
        found = tables.version_rows(info, [*rows.CHUNK_FIELDS, "vector"])
        if len(found) == info.chunks:
            return info, [(rows.chunk(r), np.asarray(r["vector"], np.float32)) for r in found]
    raise StoreError(f"document {doc_id!r} lacks chunks: run `ragqa ingest` on it again")
