"""The rows a store in Milvus writes and reads, and the records they become."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

from vectorstore.milvus import keywords
from vectorstore.milvus.collections import MAX_ID, fit, with_no_vector
from vectorstore.store.rows import DocumentWrite
from vectorstore.types import DocumentInfo, StoredChunk, StoreError

CHUNK_FIELDS = ["id", "document_id", "version", "ord", "text", "context", "metadata"]
DOC_FIELDS = ["id", "source", "title", "content_hash", "metadata", "chunk_count", "ingested_at"]


def row_id(document_id: str, version: str, ord_: int) -> int:
    """A chunk's id: the same for the same chunk of the same version, wherever written."""
    digest = hashlib.blake2b(f"{document_id}\0{version}\0{ord_}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") & (2**63 - 1)


def literal(value: str) -> str:
    """A string as a Milvus filter expression reads it (quotes and backslashes escaped)."""
    return json.dumps(value, ensure_ascii=False)


def of_version(doc_id: str, version: str) -> str:
    """The filter for one version's chunks of one document."""
    return f"document_id == {literal(doc_id)} and version == {literal(version)}"


def chunk_rows(doc: DocumentWrite) -> list[dict[str, Any]]:
    """The chunk rows of a document, tagged with its content hash as their version."""
    version = doc.content_hash
    written = time.time_ns()
    fields = keywords.rows([(c.context, c.text) for c in doc.chunks])
    coverage = list(doc.coverage) if doc.coverage is not None else [-1.0] * len(doc.chunks)
    return [
        {
            "id": row_id(doc.id, version, n),
            "document_id": doc.id,
            "version": version,
            "ord": n,
            "text": fit(chunk.text),
            "context": fit(chunk.context),
            "metadata": chunk.metadata,
            "coverage": float(cov),
            "written": written,
            "terms": terms,
            "keywords": own,
            "vector": np.asarray(vec, np.float32).tolist(),
        }
        for n, (chunk, vec, (terms, own), cov) in enumerate(
            zip(doc.chunks, doc.embeddings, fields, coverage, strict=True)
        )
    ]


def document_row(doc: DocumentWrite, now: str) -> dict[str, Any]:
    if len(doc.id.encode()) > MAX_ID:
        raise StoreError(f"document id {doc.id[:80]!r}... is longer than Milvus's {MAX_ID} bytes")
    return with_no_vector(
        {
            "id": doc.id,
            "source": fit(doc.source, MAX_ID),
            "title": None if doc.title is None else fit(doc.title, MAX_ID),
            "content_hash": doc.content_hash,
            "metadata": doc.metadata,
            "chunk_count": len(doc.chunks),
            "ingested_at": doc.ingested_at or now,
        }
    )


def info(row: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        id=str(row["id"]),
        source=str(row["source"]),
        title=row.get("title"),
        content_hash=str(row["content_hash"]),
        chunks=int(row["chunk_count"]),
        ingested_at=str(row["ingested_at"]),
        metadata=dict(row.get("metadata") or {}),
    )


def chunk(row: dict[str, Any]) -> StoredChunk:
    return StoredChunk(
        f"{row['document_id']}#{row['ord']}",
        str(row["document_id"]),
        int(row["ord"]),
        str(row["text"]),
        str(row["context"]),
        dict(row.get("metadata") or {}),
    )
