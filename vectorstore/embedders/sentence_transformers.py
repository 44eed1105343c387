"""The sentence-transformers embedder: a Hugging Face id, a local folder or a bundled name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.bundled import resolve_model
from vectorstore.embedders.base import count_letters

if TYPE_CHECKING:
    from numpy.typing import NDArray


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
