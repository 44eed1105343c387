"""Stores of a chosen size for the search bench, made from the ingested corpus.

Search latency depends on the number of chunks, their text (keyword postings) and how
their vectors spread (approximate index recall); re-embedding 100k chunks would take
the bench an hour on a laptop. So: `copy_prefix` copies the first whole documents of the
ingested store up to N chunks (real text, real vectors), and `synthesize` makes N chunks
each spliced from two real pieces of text (first half of one, second half of another),
with the normalised sum of their two real vectors: realistic postings and vectors that
lie where real ones do, without running the model per synthetic chunk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vectorstore import DocumentWrite, NewChunk, Store

if TYPE_CHECKING:
    from numpy.typing import NDArray

CHUNKS_PER_DOCUMENT = 2
# Passages -> their vocabulary coverage (vectorstore.embedders.vocabulary.passage_coverage).
Coverage = Callable[[Sequence[str]], list[float]]
_BATCH = 500  # documents per transaction
_SENTENCE_END = re.compile(r"(?<=[.!?。다])\s+")


@dataclass(frozen=True)
class Piece:
    """A real chunk's text with its vector: what synthetic chunks are spliced from."""

    text: str
    vector: NDArray[np.float32]


def pieces(store: Store) -> list[Piece]:
    """Every chunk of `store` as a Piece."""
    return [
        Piece(text, np.frombuffer(blob, dtype=np.float32))
        for text, blob in store._conn().execute("SELECT text, embedding FROM chunks ORDER BY id")
    ]


def embedded_pieces(
    texts: Sequence[str], embed: Callable[[Sequence[str]], NDArray[np.float32]], size: int = 800
) -> list[Piece]:
    """Other text (KorQuAD paragraphs, say) cut at ~`size` characters and embedded once."""
    cut = [t[i : i + size] for t in texts for i in range(0, len(t), size) if t[i : i + size]]
    vectors = embed(cut)
    return [Piece(t, v) for t, v in zip(cut, vectors, strict=True)]


def copy_prefix(source: Store, folder: Path, chunks: int, coverage: Coverage | None = None) -> int:
    """The first whole documents of `source` holding at most `chunks` chunks, copied with
    their vectors into a new store at `folder`; returns the chunk count. `coverage`: each
    chunk's vocabulary coverage stored with it, as an ingest stores it."""
    target = Store(folder, source.embedding_model, source.dimension)
    conn = source._conn()
    taken = 0
    batch: list[DocumentWrite] = []
    try:
        with target.writer():
            for doc in conn.execute("SELECT * FROM documents ORDER BY rowid"):
                rows = conn.execute(
                    "SELECT text, context, embedding FROM chunks WHERE document_id = ? "
                    "ORDER BY ord",
                    (doc["id"],),
                ).fetchall()
                if taken + len(rows) > chunks:
                    break
                taken += len(rows)
                vectors = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
                new = [NewChunk(r[0], r[1]) for r in rows]
                batch.append(
                    DocumentWrite(
                        doc["id"],
                        doc["source"],
                        doc["title"],
                        doc["content_hash"],
                        {},
                        new,
                        vectors,
                        coverage=coverage([c.passage for c in new]) if coverage else None,
                    )
                )
                if len(batch) >= _BATCH:
                    target.write_documents(batch)
                    batch = []
            if batch:
                target.write_documents(batch)
        target.flush()
    finally:
        target.close()
    return taken


def synthesize(
    source: Sequence[Piece],
    folder: Path,
    model: str,
    chunks: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    coverage: Coverage | None = None,
) -> int:
    """A new store at `folder` of `chunks` spliced chunks, two per document; `coverage` as
    in copy_prefix."""
    if len(source) < 2:
        raise ValueError("synthesizing needs at least two real chunks")
    rng = np.random.default_rng(seed)
    halves = [_halves(p.text) for p in source]
    dimension = int(source[0].vector.shape[0])
    target = Store(folder, model, dimension)
    made = 0
    try:
        with target.writer():
            for batch in _batches(rng, source, halves, chunks, coverage):
                target.write_documents(batch)
                made += sum(len(d.chunks) for d in batch)
                if progress:
                    progress(made)
        target.flush()
    finally:
        target.close()
    return made


def _batches(
    rng: np.random.Generator,
    source: Sequence[Piece],
    halves: Sequence[tuple[str, str]],
    chunks: int,
    coverage: Coverage | None,
) -> Iterator[list[DocumentWrite]]:
    batch: list[DocumentWrite] = []
    for doc_no in range((chunks + CHUNKS_PER_DOCUMENT - 1) // CHUNKS_PER_DOCUMENT):
        count = min(CHUNKS_PER_DOCUMENT, chunks - doc_no * CHUNKS_PER_DOCUMENT)
        pairs = rng.integers(0, len(source), size=(count, 2))
        texts = [f"{halves[a][0]} {halves[b][1]}".strip() for a, b in pairs]
        vectors = np.stack([source[a].vector + source[b].vector for a, b in pairs])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        doc_id = f"synthetic/{doc_no:07d}"
        new = [NewChunk(t, "") for t in texts]
        batch.append(
            DocumentWrite(
                doc_id,
                doc_id,
                None,
                hashlib.sha256("\n".join(texts).encode()).hexdigest(),
                {"synthetic": True},
                new,
                vectors.astype(np.float32),
                coverage=coverage([c.passage for c in new]) if coverage else None,
            )
        )
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _halves(text: str) -> tuple[str, str]:
    """The text split near its middle at a sentence end (or a space, or anywhere)."""
    middle = len(text) // 2
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends:
        cut = min(ends, key=lambda e: abs(e - middle))
    else:
        space = text.rfind(" ", 0, middle)
        cut = space if space > 0 else middle
    return text[:cut].strip(), text[cut:].strip()
