"""Two embedding spaces in one vector: a primary model for meaning within a language, and
a multilingual one that puts Korean and English in one space.

all-MiniLM-L6-v2 ranks English best (SciFact) but knows no Hangul; the multilingual
Universal Sentence Encoder finds a paraphrase or the other language's passage but ranks
English science worse (docs/EVALUATION.md, "Paraphrase and cross-lingual questions").
A stored vector is both, side by side and scaled by 1/sqrt(2), so it stays of unit
length and one FAISS or Milvus index holds both; a query zero in one half searches the
other alone. The retriever fuses the two rankings with the keyword one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from vectorstore.embedders.base import Embedder

# RAGQA_EMBEDDING_MODEL joins the two models' names with it: "PRIMARY+MULTILINGUAL".
JOIN = "+"
_HALF = 1 / math.sqrt(2)


@runtime_checkable
class HasMultilingualSide(Protocol):
    """An embedder whose vectors also hold a multilingual space (the retriever's seam)."""

    def embed_query_multilingual(self, text: str) -> NDArray[np.float32]:
        """The query in the multilingual half only: its inner product with a stored
        vector is that half's cosine."""
        ...


def split_name(model: str) -> tuple[str, str] | None:
    """The primary and multilingual names of a joined model name, or None."""
    primary, joined, multilingual = model.partition(JOIN)
    return (primary, multilingual) if joined and primary and multilingual else None


def primary_name(model: str) -> str:
    """The primary model of a joined name; any other name is its own primary."""
    pair = split_name(model)
    return pair[0] if pair else model


class DualEmbedder:
    """Chunks are cut and counted by the primary model (its window is the tighter one)."""

    def __init__(self, primary: Embedder, multilingual: Embedder) -> None:
        self.primary = primary
        self.multilingual = multilingual

    @property
    def model_name(self) -> str:
        return f"{self.primary.model_name}{JOIN}{self.multilingual.model_name}"

    @property
    def dimension(self) -> int:
        return self.primary.dimension + self.multilingual.dimension

    @property
    def max_tokens(self) -> int:
        return self.primary.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.primary.count_tokens(texts)

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        """The primary model's: coverage weighs its half, the one that can miss a script."""
        return self.primary.unknown_letters(texts)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        both = np.hstack([self.primary.embed(texts), self.multilingual.embed(texts)])
        return (both * _HALF).astype(np.float32)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """The query in the primary half only: its inner product with a stored vector is
        the primary model's cosine, as with that model alone (relevance is calibrated on
        it)."""
        out = np.zeros(self.dimension, np.float32)
        out[: self.primary.dimension] = self.primary.embed_query(text) / _HALF
        return out

    def embed_query_multilingual(self, text: str) -> NDArray[np.float32]:
        out = np.zeros(self.dimension, np.float32)
        out[self.primary.dimension :] = self.multilingual.embed_query(text) / _HALF
        return out
