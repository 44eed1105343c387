"""Documents -> chunks -> embeddings -> store: batched, idempotent, one write path."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ingest.chunking import chunk_document
from ingest.document import Document
from vectorstore import DocumentStore, DocumentWrite, Embedder, NewChunk, passage_coverage

Status = Literal["added", "updated", "unchanged"]


@dataclass(frozen=True)
class DocResult:
    id: str
    source: str
    status: Status
    chunks: int


@dataclass
class _Pending:
    doc: Document
    content_hash: str
    status: Status
    chunks: list[NewChunk] = field(default_factory=list)


class Pipeline:
    """Turns loaded documents into stored, searchable chunks."""

    def __init__(
        self,
        store: DocumentStore,
        embedder: Embedder,
        *,
        chunk_tokens: int = 256,
        chunk_overlap: int = 48,
        batch_chunks: int = 256,
    ) -> None:
        self.store = store
        # Chunks embedded and written per transaction: large enough to keep the embedder
        # busy, small enough that a crash loses little work and progress stays smooth.
        self.batch_chunks = batch_chunks
        self.embedder = embedder
        # Never more than the model embeds: a longer chunk would be silently truncated.
        self.max_tokens = min(chunk_tokens, embedder.max_tokens)
        self.overlap = min(chunk_overlap, self.max_tokens // 2)

    def content_hash(self, doc: Document) -> str:
        """Identity of what would be stored: text, title, metadata and the chunking recipe."""
        payload = json.dumps(
            [
                doc.title,
                doc.metadata,
                [(p.text, p.metadata) for p in doc.parts],
                doc.format,
                self.embedder.model_name,
                self.max_tokens,
                self.overlap,
            ],
            ensure_ascii=False,
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def ingest(
        self, docs: Iterable[Document], on_done: Callable[[DocResult], None] | None = None
    ) -> list[DocResult]:
        """Store every document that is new or changed; skip unchanged ones unembedded."""
        results: list[DocResult] = []
        batch: list[_Pending] = []
        size = 0
        stored = self.store.all_documents()
        broken = self.store.incomplete()
        known = {doc_id: info.content_hash for doc_id, info in stored.items()}
        for doc in docs:
            digest = self.content_hash(doc)
            old = known.get(doc.id)
            # A store without transactions (Milvus) may hold a row whose chunks a crash
            # cut short: written again, as the same rows.
            if old == digest and doc.id not in broken:
                chunks = stored[doc.id].chunks if doc.id in stored else 0
                result = DocResult(doc.id, doc.source, "unchanged", chunks)
                results.append(result)
                if on_done:
                    on_done(result)
                continue
            pending = _Pending(doc, digest, "added" if old is None else "updated")
            pending.chunks = chunk_document(
                doc, self.embedder.count_tokens, self.max_tokens, self.overlap
            )
            batch.append(pending)
            size += len(pending.chunks)
            known[doc.id] = digest  # a repeated id later in the same run is then unchanged
            broken.discard(doc.id)
            if size >= self.batch_chunks:
                results.extend(self._flush(batch, on_done))
                batch, size = [], 0
        if batch:
            results.extend(self._flush(batch, on_done))
        return results

    def _flush(
        self, batch: list[_Pending], on_done: Callable[[DocResult], None] | None
    ) -> list[DocResult]:
        texts = [c.indexed_text for p in batch for c in p.chunks]
        vectors = self.embedder.embed(texts)
        # Stored with the chunks, so searches need not tokenize their hits for it: a
        # noticeable share of a new question's time, a small one of an ingest's
        # (docs/retrieval.md, "Why the dense weight depends on vocabulary coverage").
        known = passage_coverage(self.embedder, [c.passage for p in batch for c in p.chunks])
        writes, offset = [], 0
        for p in batch:
            n = len(p.chunks)
            writes.append(
                DocumentWrite(
                    p.doc.id,
                    p.doc.source,
                    p.doc.title,
                    p.content_hash,
                    p.doc.metadata,
                    p.chunks,
                    np.asarray(vectors[offset : offset + n]),
                    coverage=known[offset : offset + n],
                )
            )
            offset += n
        self.store.write_documents(writes)
        results = [DocResult(p.doc.id, p.doc.source, p.status, len(p.chunks)) for p in batch]
        if on_done:
            for r in results:
                on_done(r)
        return results
