"""The embedder protocol every dense backend and the retriever rely on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (so inner product is cosine)."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest input, in this embedder's tokens, that is embedded without truncation."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes, special tokens excluded."""
        ...

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        """Letters of each text that the tokenizer can only map to its unknown token."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def embed_query(self, text: str) -> NDArray[np.float32]: ...


# Letters: word characters but digits and "_". Counted as what is left once the runs of
# everything else are cut out: one match a gap between words, not one a letter (it runs
# under the interpreter lock at query time).
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def count_letters(text: str) -> int:
    """The letters in `text` (the characters `[^\\W\\d_]` matches)."""
    return len(_NOT_LETTERS.sub("", text))
