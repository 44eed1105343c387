"""The RagObserver protocol: what the RAG orchestration reports about its own work."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class RagObserver(Protocol):
    """Told the timings of each retrieval and generation (seconds), so the orchestration
    needs to know nothing of Prometheus or of whoever listens."""

    def retrieved(self, mode: str, seconds: float) -> None: ...

    def generated(self, seconds: float, tokens: int, first_token: float | None) -> None: ...

    def generator_turn(self) -> AbstractContextManager[None]:
        """Entered before a request waits for the generator, left once it is done with it."""
        ...

    def search_turn(self) -> AbstractContextManager[None]:
        """Entered before a search waits for its turn, left once it is done searching."""
        ...


class NullObserver:
    """Listens to nothing: the CLI and the tests that do not look at metrics."""

    def retrieved(self, mode: str, seconds: float) -> None:
        pass

    def generated(self, seconds: float, tokens: int, first_token: float | None) -> None:
        pass

    def generator_turn(self) -> AbstractContextManager[None]:
        return nullcontext()

    def search_turn(self) -> AbstractContextManager[None]:
        return nullcontext()
