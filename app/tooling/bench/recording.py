"""An Embedder that remembers what it embedded, so the bench counts exactly those texts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vectorstore import Embedder

if TYPE_CHECKING:
    from numpy.typing import NDArray


class RecordingEmbedder:
    """Delegates to `inner`; `texts` collects every text passed to `embed`, in order, and
    `embed_s` the wall seconds spent in it (an ingest's share of embedding).

    Wrapping the embedder rather than re-deriving the chunks means the token figures and
    the floor use what the pipeline really embedded, whatever it decided to skip.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.embed_s = 0.0

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        return self.inner.unknown_letters(texts)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts.extend(texts)
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.embed_s += time.perf_counter() - start

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.inner.embed_query(text)
