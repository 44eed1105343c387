"""Optional second stage: a cross-encoder rescoring the top of the fused list.

A cross-encoder reads query and passage together, so it ranks far better than either
first stage, at the price of one model call per candidate. None ships in a package, so it
is off by default; RAGQA_RERANKER names any sentence-transformers CrossEncoder (Hugging
Face id or local folder) to turn it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from vectorstore.bundled import resolve_model


class Reranker(Protocol):
    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, higher is better."""
        ...


class CrossEncoderReranker:
    """sentence-transformers CrossEncoder, loaded on first use."""

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 32) -> None:
        self.model_name = model
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None

    def load(self) -> Any:
        if self._model is None:
            from sentence_transformers import CrossEncoder

            device = None if self._device == "auto" else self._device
            self._model = CrossEncoder(resolve_model(self.model_name), device=device)
        return self._model

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        scores = self.load().predict(
            [(query, t) for t in texts], batch_size=self._batch_size, show_progress_bar=False
        )
        return [float(s) for s in scores]
