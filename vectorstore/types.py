"""Plain records the store takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SearchMode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store: `text` is shown to users, `context` is its heading path."""

    text: str
    context: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text

    @property
    def passage(self) -> str:
        """As `StoredChunk.passage` will read once stored."""
        return passage(self.context, self.text)


def passage(context: str, text: str) -> str:
    """Heading path and text: what relevance, coverage and reranking read."""
    return f"{context}\n{text}"


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    source: str
    title: str | None
    content_hash: str
    chunks: int
    ingested_at: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    document_id: str
    ord: int
    text: str
    context: str
    metadata: dict[str, Any]

    @property
    def passage(self) -> str:
        return passage(self.context, self.text)


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk. `score` is mode-specific (fused z-score, cosine, or BM25);
    `relevance` is comparable across modes and queries, in [0, 1]."""

    chunk_id: str
    document_id: str
    source: str
    title: str | None
    text: str
    context: str
    metadata: dict[str, Any]
    score: float
    relevance: float = 0.0


class StoreError(Exception):
    """A store problem the user can act on; the message says how."""


class EmbeddingMismatchError(StoreError):
    """The store was built with another embedding model."""


@dataclass(frozen=True)
class Finding:
    """One `ragqa check` outcome; `repairable` when `--repair` rebuilds what failed."""

    name: str
    ok: bool
    detail: str
    repairable: bool = False

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':<8} {self.name:<14} {self.detail}"
