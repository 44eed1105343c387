"""Retrieve -> build prompt -> generate -> cite: the orchestration, nothing else."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.admission import FifoGate
from app.citations import attribute, clean_citations
from app.conversation import search_query
from app.generators.base import ChatMessage, Generator
from app.guards import is_looping, trim_repeats
from app.language import not_found_message
from app.observer import NullObserver, RagObserver
from app.prompts import BuiltPrompt, build_prompt
from app.schemas import Answer, Source, Timings, Usage
from vectorstore.cores import usable_cores
from vectorstore.retrieval import Retriever
from vectorstore.types import SearchHit, SearchMode

Event = tuple[str, dict[str, Any]]  # ("sources" | "token" | "done", payload)


def to_source(n: int, hit: SearchHit) -> Source:
    page = hit.metadata.get("page")
    return Source(
        n=n,
        document_id=hit.document_id,
        source=hit.source,
        title=hit.title,
        chunk_id=hit.chunk_id,
        text=hit.text,
        score=round(hit.score, 6),
        relevance=round(hit.relevance, 4),
        context=hit.context,
        page=page if isinstance(page, int) else None,
    )


@dataclass
class RagService:
    retriever: Retriever
    generator: Generator
    max_new_tokens: int = 256
    temperature: float = 0.0
    min_relevance: float = 0.2
    context_window: int | None = None
    source_tokens: int | None = None  # cap on the sources' share of the prompt
    observer: RagObserver = field(default_factory=NullObserver)  # metrics, when served
    search_slots: int = 0  # searches run at once, the rest queued in order; 0: one a core

    def __post_init__(self) -> None:
        self._search_gate = FifoGate(self.search_slots or usable_cores())
        # One generation at a time: requests queue here instead of failing or thrashing
        # the CPU with parallel decodes of the same model.
        self._generate_lock = threading.Lock()

    def search(self, query: str, top_k: int, mode: SearchMode) -> list[Source]:
        hits, _ = self._retrieve(query, top_k, mode)
        return [to_source(i, h) for i, h in enumerate(hits, start=1)]

    def _retrieve(self, query: str, top_k: int, mode: SearchMode) -> tuple[list[SearchHit], float]:
        """The hits and the milliseconds they took (their turn's wait not counted)."""
        with self.observer.search_turn(), self._search_gate:
            start = time.perf_counter()
            hits = self.retriever.search(query, top_k, mode)
            seconds = time.perf_counter() - start
        self.observer.retrieved(mode, seconds)
        return hits, seconds * 1000

    def answer(
        self,
        question: str,
        top_k: int = 5,
        history: Sequence[ChatMessage] = (),
        mode: SearchMode = "hybrid",
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Answer:
        """The whole answer at once (the non-streaming API)."""
        final: dict[str, Any] = {}
        events = self.events(
            question,
            top_k,
            history,
            mode,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
        )
        for event, payload in events:
            if event == "done":
                final = payload
        return Answer.model_validate(final)

    def prompt(
        self,
        question: str,
        top_k: int = 5,
        history: Sequence[ChatMessage] = (),
        mode: SearchMode = "hybrid",
    ) -> BuiltPrompt:
        """The prompt an answer to `question` would get (evaluation reads what the model
        is shown), whatever the relevance of its sources."""
        query = search_query(question, history, self.retriever)
        hits, _ = self._retrieve(query, top_k, mode)
        return self._prompt(question, query, hits, history, self.max_new_tokens)

    def _prompt(
        self,
        question: str,
        query: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatMessage],
        max_new_tokens: int,
    ) -> BuiltPrompt:
        return build_prompt(
            question,
            hits,
            history,
            count_tokens=self.generator.count_tokens,
            context_window=self.context_window or self.generator.context_window,
            max_new_tokens=max_new_tokens,
            source_tokens=self.source_tokens,
            focus_query=query,
            term_weights=self.retriever.term_weights,  # asked only when sources are cut
        )

    def events(
        self,
        question: str,
        top_k: int = 5,
        history: Sequence[ChatMessage] = (),
        mode: SearchMode = "hybrid",
        cancel: threading.Event | None = None,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[Event]:
        """Sources first, then tokens, then the final Answer as a dict.

        `max_new_tokens` and `temperature` override the service's for this request (the
        OpenAI-compatible route takes them per request); the answer length never exceeds
        the service's own limit.
        """
        limit = min(max_new_tokens or self.max_new_tokens, self.max_new_tokens)
        heat = self.temperature if temperature is None else temperature
        # A follow-up names its subject only in an earlier question, but an off-topic one
        # must not borrow its passages to pass the relevance bar (docs/EVALUATION.md).
        query = search_query(question, history, self.retriever)
        hits, retrieve_ms = self._retrieve(query, top_k, mode)
        best = max((h.relevance for h in hits), default=0.0)
        if best < self.min_relevance:
            sources = [to_source(i, h) for i, h in enumerate(hits, start=1)]
            yield "sources", {"sources": [s.model_dump() for s in sources]}
            text = not_found_message(question)
            yield "token", {"text": text}
            yield "done", self._final(text, sources, [], False, 0, 0, retrieve_ms, 0.0, None)
            return
        built = self._prompt(question, query, hits, history, limit)
        sources = [to_source(i, h) for i, h in enumerate(built.sources, start=1)]
        yield "sources", {"sources": [s.model_dump() for s in sources]}
        pieces: list[str] = []
        first_ms: float | None = None
        looped = False
        with self.observer.generator_turn(), self._generate_lock:
            gen_start = time.perf_counter()
            stream = self.generator.stream(
                built.messages,
                max_new_tokens=limit,
                temperature=heat,
                cancel=cancel,
            )
            try:
                for piece in stream:
                    if first_ms is None:
                        first_ms = (time.perf_counter() - gen_start) * 1000
                    pieces.append(piece)
                    yield "token", {"text": piece}
                    if "\n" in piece or piece.rstrip().endswith((".", "!", "?")):
                        if is_looping("".join(pieces)):
                            looped = True
                            break
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # frees the model at once when the loop broke early
            generate_ms = (time.perf_counter() - gen_start) * 1000
            prompt_tokens = self.generator.prompt_tokens(built.messages)
        raw = "".join(pieces)
        completion = self.generator.count_tokens(raw) if raw else 0
        first_s = None if first_ms is None else first_ms / 1000
        self.observer.generated(generate_ms / 1000, completion, first_s)
        text, cited = clean_citations(trim_repeats(raw) if looped else raw, len(sources))
        if not cited:
            text, cited = attribute(text, [f"{s.context}\n{s.text}" for s in sources])
        yield (
            "done",
            self._final(
                text or not_found_message(question),
                sources,
                cited,
                True,
                prompt_tokens,
                completion,
                retrieve_ms,
                generate_ms,
                first_ms,
            ),
        )

    def _final(
        self,
        text: str,
        sources: list[Source],
        cited: list[int],
        grounded: bool,
        prompt_tokens: int,
        completion_tokens: int,
        retrieve_ms: float,
        generate_ms: float,
        first_ms: float | None,
    ) -> dict[str, Any]:
        answer = Answer(
            answer=text,
            sources=sources,
            citations=cited,
            grounded=grounded,
            model=self.generator.model_name,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            timings=Timings(
                retrieve_ms=round(retrieve_ms, 2),
                generate_ms=round(generate_ms, 2),
                first_token_ms=None if first_ms is None else round(first_ms, 2),
            ),
        )
        return answer.model_dump()
