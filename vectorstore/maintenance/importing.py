"""`ragqa import`: an export file into a Store, whole documents per transaction, unchanged
ones skipped, re-embedded when the store's embedding model is not the export's."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

from vectorstore.embedders.base import Embedder
from vectorstore.maintenance.exporting import (
    ExportedDocument,
    ExportFormatError,
    ExportHeader,
    read_documents,
    verify_export,
)
from vectorstore.store.protocol import DocumentStore
from vectorstore.store.rows import DocumentWrite
from vectorstore.types import NewChunk

# Chunks per transaction (and per embed call when re-embedding): a failure part-way keeps
# every whole document written before it and none of the one it failed on.
BATCH_CHUNKS = 512


@dataclass
class ImportSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    reembedded: int = 0
    truncated: int = 0  # re-embedded chunks longer than the store's embedder takes
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"added={self.added} updated={self.updated} unchanged={self.unchanged} "
            f"chunks={self.chunks} reembedded={self.reembedded} seconds={self.seconds:.2f}"
        )


def needs_reembedding(header: ExportHeader, model: str) -> bool:
    """Whether importing an export into a store of `model` must embed its chunks again."""
    return header.chunks > 0 and header.embedding_model != model


def import_store(
    store: DocumentStore,
    path: Path,
    embedder: Embedder | None = None,
    *,
    verified: ExportHeader | None = None,
    batch_chunks: int = BATCH_CHUNKS,
) -> ImportSummary:
    """Add or replace the export's documents in `store` (others stay as they are).

    The whole file is read and checked before the first write (unless the caller did so
    already and passes `verified`), so a damaged or cut-short file changes nothing.
    `embedder` (the store's model) is needed only when needs_reembedding(); the export's
    content hashes are kept either way, so importing the same file again skips every
    document, while a later `ragqa ingest` of the original files re-chunks them for the
    store's model (its hash covers the model).
    """
    start = time.perf_counter()
    header = verified or verify_export(path)
    reembed = needs_reembedding(header, store.embedding_model)
    if reembed and (embedder is None or embedder.model_name != store.embedding_model):
        raise ValueError(f"re-embedding for {store.embedding_model!r} needs its embedder")
    if not reembed and None not in (header.dimension, store.dimension):
        if header.dimension != store.dimension:
            raise ExportFormatError(
                f"{path} holds {header.dimension}-d vectors of {header.embedding_model!r}, "
                f"the store {store.dimension}-d ones of the same model: one of them is damaged"
            )
    summary = ImportSummary()
    with store.writer():
        stored = store.all_documents()
        broken = store.incomplete()
        batch: list[ExportedDocument] = []
        size = 0
        for doc in read_documents(path):
            info = stored.get(doc.id)
            old = info.content_hash if info else None
            if old == doc.content_hash and doc.id not in broken:
                summary.unchanged += 1
                continue
            if old is None:
                summary.added += 1
            else:
                summary.updated += 1
            batch.append(doc)
            size += len(doc.texts)
            if size >= batch_chunks:
                _write(store, batch, embedder if reembed else None, summary)
                batch, size = [], 0
        if batch:
            _write(store, batch, embedder if reembed else None, summary)
    store.flush()
    summary.seconds = time.perf_counter() - start
    return summary


def _write(
    store: DocumentStore,
    batch: list[ExportedDocument],
    embedder: Embedder | None,
    summary: ImportSummary,
) -> None:
    chunked = [[NewChunk(text, context, meta) for text, context, meta in d.texts] for d in batch]
    vectors = [d.embeddings for d in batch]
    if embedder is not None:
        texts = [c.indexed_text for chunks in chunked for c in chunks]
        summary.truncated += sum(n > embedder.max_tokens for n in embedder.count_tokens(texts))
        fresh = embedder.embed(texts)
        summary.reembedded += len(texts)
        offsets = [0]
        for chunks in chunked:
            offsets.append(offsets[-1] + len(chunks))
        vectors = [fresh[a:b] for a, b in itertools.pairwise(offsets)]
    store.write_documents(
        [
            DocumentWrite(
                d.id,
                d.source,
                d.title,
                d.content_hash,
                d.metadata,
                chunks,
                vecs,
                ingested_at=d.ingested_at,
            )
            for d, chunks, vecs in zip(batch, chunked, vectors, strict=True)
        ]
    )
    summary.chunks += sum(len(c) for c in chunked)
