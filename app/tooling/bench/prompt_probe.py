"""The prompts the service builds, caught on their way to the model, for the raw engines."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from app.generators.base import ChatMessage, Generator
from app.rag.service import RagService
from app.tooling.bench.search import MODE, TOP_K
from vectorstore import SearchMode

# Queries looked at, per one wanted, to find those the service sends to the model.
SCAN_FACTOR = 10


@dataclass(frozen=True)
class Asked:
    question: str
    messages: list[ChatMessage]  # as the service hands them to its generator
    source_ids: tuple[str, ...]  # the chunks in them, in order


class _Catcher:
    """The service's generator, except that `stream` keeps the messages and answers nothing."""

    def __init__(self, generator: Generator) -> None:
        self._generator = generator
        self.messages: list[ChatMessage] | None = None

    @property
    def model_name(self) -> str:
        return self._generator.model_name

    @property
    def context_window(self) -> int:
        return self._generator.context_window

    def load(self) -> None:
        self._generator.load()

    def count_tokens(self, text: str) -> int:
        return self._generator.count_tokens(text)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return self._generator.prompt_tokens(messages)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.messages = list(messages)
        yield from ()


def grounded_prompts(rag: RagService, queries: Sequence[str], count: int) -> Iterator[Asked]:
    """The prompts of the first `count` queries the service sends to its model. They come
    out of `RagService.events` itself (retrieval, relevance gate, prompt budget, whatever
    else it does), so they are the server's prompts without a copy of its logic here."""
    catcher = _Catcher(rag.generator)
    probe = dataclasses.replace(rag, generator=catcher)
    found = 0
    for question in queries[: count * SCAN_FACTOR]:
        if found == count:
            return
        catcher.messages = None
        events = dict(probe.events(question, TOP_K, (), cast(SearchMode, MODE)))
        if catcher.messages is None:  # answered "not found" without the model
            continue
        found += 1
        ids = tuple(s["chunk_id"] for s in events["sources"]["sources"])
        yield Asked(question, catcher.messages, ids)
