"""What a store in Milvus needs now and then: chunks no document names swept away, the
keyword terms written again, a document read whole for export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vectorstore.keyword import columns
from vectorstore.milvus import keywords, rows
from vectorstore.milvus.tables import Tables
from vectorstore.types import DocumentInfo, StoredChunk, StoreError

if TYPE_CHECKING:
    from numpy.typing import NDArray


def orphans(tables: Tables) -> list[int]:
    """The chunks whose version no document row names (left by writes cut short)."""
    versions = tables.versions()
    found = tables.iterate(tables.chunks, ["id", "document_id", "version"])
    return [int(r["id"]) for r in found if versions.get(r["document_id"]) != r["version"]]


def rewrite_terms(tables: Tables) -> None:
    """Every current chunk's keyword terms again, by this version of the analyzer."""
    fields = [*rows.CHUNK_FIELDS, "coverage", "vector"]
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
