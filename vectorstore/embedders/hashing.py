"""A deterministic hash embedder: instant, no model, for tests and benchmarks' plumbing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.keyword import analyzer

if TYPE_CHECKING:
    from numpy.typing import NDArray

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic bag-of-words hashing embedder: instant, no model, for unit tests.

    Texts sharing words get similar vectors, so retrieval tests behave sensibly.
    """

    def __init__(self, dimension: int = 256, max_tokens: int = 64, name: str = "hash") -> None:
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._name = name

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        return [0] * len(texts)  # every word hashes somewhere

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            # Analyzer terms minus stop words: shared "the"/"is" would make every pair similar.
            for word in analyzer.terms(text):
                if word in analyzer.STOPWORDS:
                    continue
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self._dimension] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed([text])[0]
