"""OpenAIEmbedder: an embedding server behind the OpenAI embeddings API (TEI, vLLM, Infinity)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.embedders.openai_server import (
    CountText,
    RemoteServerError,
    describe,
    make_client,
    server_limit,
    token_counter,
    wait_for_model,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from openai import OpenAI

log = logging.getLogger("ragqa")

# When neither RAGQA_EMBEDDING_MAX_TOKENS nor the server says: the 512 positions of the
# BERT family most embedding models come from.
DEFAULT_MAX_INPUT = 512
# Room for the [CLS]/[SEP] (or BOS/EOS) the server adds, as the local embedders leave.
SPECIAL_TOKENS = 2


class OpenAIEmbedder:
    """Vectors from a server; L2-normalised here, as not every server normalises.

    `model_name`, which the store records, is the model as configured, without the
    server's address: the same model behind another host (a compose service renamed, a
    port moved) makes the same vectors, and a local run of the same Hugging Face id is
    compatible too.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str = "",
        batch_size: int = 32,
        max_tokens: int | None = None,
        timeout: float = 120.0,
        wait_s: float = 300.0,
    ) -> None:
        self._model = model
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._batch_size = batch_size
        self._max_input = max_tokens
        self._timeout = timeout
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._client: OpenAI | None = None
        self._count: CountText | None = None
        self._dimension = 0
        self.counter = "not loaded"  # where token counts come from, for logs and tests

    def load(self) -> OpenAIEmbedder:
        """Wait for the server, check the model, and embed once to learn the dimension."""
        with self._lock:
            if self._client is not None:
                return self
            client = make_client(self._base_url, self._api_key, self._timeout)
            entry = wait_for_model(
                client, self._base_url, self._model, wait_s=self._wait_s, what="embedding"
            )
            if self._max_input is None:
                self._max_input = server_limit(client, self._base_url, entry) or DEFAULT_MAX_INPUT
            self._count, self.counter = token_counter(client, self._base_url, self._model)
            self._dimension = int(self._request(client, ["dimension probe"]).shape[1])
            log.info(
                "embedder %s at %s: dimension %d, max %d tokens, counts from %s",
                self._model,
                self._base_url,
                self._dimension,
                self._max_input,
                self.counter,
            )
            self._client = client
        return self

    def _ready(self) -> tuple[OpenAI, CountText]:
        self.load()
        assert self._client is not None and self._count is not None
        return self._client, self._count

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        self.load()
        return self._dimension

    @property
    def max_tokens(self) -> int:
        self.load()
        assert self._max_input is not None
        return self._max_input - SPECIAL_TOKENS

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        count = self._ready()[1]
        return [count(t) for t in texts]

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        # The server's vocabulary is out of sight; modern (byte-level) ones have no unknowns.
        return [0] * len(texts)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        client, _ = self._ready()
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        batches = [
            self._request(client, list(texts[i : i + self._batch_size]))
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.ascontiguousarray(np.concatenate(batches), dtype=np.float32)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed([text])[0]

    def _request(self, client: OpenAI, texts: list[str]) -> NDArray[np.float32]:
        try:
            # "float" explicitly: the client asks for base64 by default, which not every
            # server implements.
            response = client.embeddings.create(
                model=self._model, input=texts, encoding_format="float"
            )
        except Exception as exc:
            raise RemoteServerError(describe(exc, self._base_url, "embedding")) from exc
        rows = sorted(response.data, key=lambda d: d.index)
        try:
            vectors = np.asarray([d.embedding for d in rows], dtype=np.float32)
        except ValueError as exc:  # ragged: one vector per token
            raise RemoteServerError(_per_token(self._base_url)) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise RemoteServerError(_per_token(self._base_url))
        if self._dimension and vectors.shape[1] != self._dimension:
            raise RemoteServerError(
                f"the embedding server at {self._base_url} changed dimension "
                f"({self._dimension} -> {vectors.shape[1]}); was its model replaced?"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _per_token(url: str) -> str:
    return (
        f"the embedding server at {url} did not answer one vector per text (one per token?); "
        "serve the model with pooling on (llama.cpp: --pooling mean)"
    )
