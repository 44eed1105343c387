"""Embedder protocol, the sentence-transformers implementation and a hash embedder for tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vectorstore import analyzer
from vectorstore.models import resolve_model

if TYPE_CHECKING:
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


class SentenceTransformerEmbedder:
    """A sentence-transformers model: Hugging Face id, local folder or bundled name."""

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 32) -> None:
        self._name = model
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None

    def load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise RuntimeError(
                    "sentence-transformers is not installed; run `make install`"
                ) from exc
            device = None if self._device == "auto" else self._device
            self._model = SentenceTransformer(resolve_model(self._name), device=device)
        return self._model

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        model = self.load()
        # Renamed in sentence-transformers 5; accept both spellings.
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_tokens(self) -> int:
        # max_seq_length counts [CLS] and [SEP]; chunk text must leave room for both.
        return int(self.load().max_seq_length) - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        tokenizer = self.load().tokenizer
        encoded = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        # BERT-style vocabularies turn a word with one missing piece (a rare Hangul jamo)
        # into a single [UNK]: cheap in tokens, yet the model saw nothing of it.
        if not texts:
            return []
        tokenizer = self.load().tokenizer
        unk = tokenizer.unk_token_id
        if unk is None:
            return [0] * len(texts)
        encoded = tokenizer(
            list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        out = []
        for text, ids, spans in zip(
            texts, encoded["input_ids"], encoded["offset_mapping"], strict=True
        ):
            out.append(
                sum(
                    count_letters(text[a:b])
                    for i, (a, b) in zip(ids, spans, strict=True)
                    if i == unk
                )
            )
        return out

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed([text])[0]


_WORD = re.compile(r"\w+", re.UNICODE)
# Letters: word characters but digits and "_". Counted as what is left once the runs of
# everything else are cut out: one match a gap between words, not one a letter (500
# characters of an abstract: 29 -> 15 us, under the interpreter lock at query time).
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def count_letters(text: str) -> int:
    """The letters in `text` (the characters `[^\\W\\d_]` matches)."""
    return len(_NOT_LETTERS.sub("", text))


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
