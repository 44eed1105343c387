"""The Generator protocol: what the RAG orchestration needs from any language model backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, TypedDict

# Backends cap a model's trained context here: a bigger KV cache costs memory and prompt time,
# and a RAG prompt of a few sources rarely needs more.
MAX_CONTEXT_WINDOW = 8192


class ChatMessage(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class Generator(Protocol):
    """A chat model that streams text. Constructors are cheap; `load()` does the heavy work."""

    @property
    def model_name(self) -> str:
        """A short human-readable name for `Answer.model`."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens the model can attend to, prompt and answer together."""
        ...

    def load(self) -> None:
        """Load weights. Idempotent; called once at service start-up."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under this model's tokenizer (no special tokens)."""
        ...

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the full prompt after the chat template is applied."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer as text pieces (about one token each).

        Stops early, without error, once `cancel` is set: a client that went away
        must not keep the CPU busy. Exhaust or close() the iterator: until then a backend
        may hold its model (a lock, a generate thread).
        """
        ...


def complete(
    generator: Generator,
    messages: Sequence[ChatMessage],
    *,
    max_new_tokens: int,
    cancel: threading.Event | None = None,
) -> str:
    """The whole reply at once. The stream is closed even when reading it fails: until
    then a backend may hold its model."""
    stream = generator.stream(messages, max_new_tokens=max_new_tokens, cancel=cancel)
    try:
        return "".join(stream)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
