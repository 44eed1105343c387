"""Retrieve -> build prompt -> generate -> cite: the orchestration, nothing else."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.generators.base import ChatMessage, Generator
from app.grounding.checker import SentenceCheck
from app.grounding.extractive import addressed, extract, render
from app.grounding.gate import Policy, StreamCheck
from app.http.admission import FifoGate
from app.rag.citations import attribute, clean_citations
from app.rag.conversation import search_query
from app.rag.language import not_found_message
from app.rag.loops import is_looping, trim_repeats
from app.rag.observer import NullObserver, RagObserver
from app.rag.prompts import BuiltPrompt, build_prompt, with_evidence
from app.rag.replies import Times, about_the_question, final, support_report, to_source
from app.rag.translation import Translator, asks
from app.schemas import (
    Answer,
    AnswerMode,
    Quote,
    Source,
    Support,
)
from vectorstore import Retriever, SearchHit, SearchMode, reciprocal_rank_fusion, usable_cores

# ("sources" | "quotes" | "token" | "support" | "done", payload)
Event = tuple[str, dict[str, Any]]
FUSION_DEPTH = 30  # hits of each language fused when a question is translated


@dataclass(frozen=True)
class Found:
    """What a question's search found, the milliseconds it took (its turn's wait not
    counted), and the question in the other language when that was searched too (and
    how long the translation took, when one was asked for)."""

    hits: list[SearchHit]
    ms: float
    translation: str = ""
    translate_ms: float | None = None

    def focus(self, query: str) -> str:
        """Words that pick the sentences of sources cut for room: both languages'."""
        return f"{query}\n{self.translation}" if self.translation else query


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
    answer_mode: AnswerMode = "generate"
    answer_check: Policy = "drop"
    # Korean <-> English, for a second search when the first finds nothing to quote.
    translator: Translator | None = None
    # One generation at a time: requests queue here instead of failing or thrashing the
    # CPU with parallel decodes of the same model (a translator that asks the generator
    # shares it).
    generation_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._search_gate = FifoGate(self.search_slots or usable_cores())

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
        answer_mode: AnswerMode | None = None,
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
            answer_mode=answer_mode,
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
        found = self.find(query, top_k, mode, translate=self.answer_mode == "generate")
        return self._prompt(question, found.focus(query), found.hits, history, self.max_new_tokens)

    def find(
        self,
        query: str,
        top_k: int,
        mode: SearchMode,
        cancel: threading.Event | None = None,
        *,
        translate: bool = True,
    ) -> Found:
        """The hits an answer to `query` reads. When none of them holds a sentence to quote
        and a translator is set, the question is searched again in the other language
        (Korean <-> English) and both lists are fused, each weighted by its best relevance:
        a Korean question about English pages meets them only through its translation."""
        hits, ms = self._retrieve(query, top_k, mode)
        if not translate or self.translator is None or not hits:
            return Found(hits, ms)
        if extract(query, hits, self._weights(query)):
            return Found(hits, ms)
        start = time.perf_counter()
        other = self.translator.translate(query, cancel)
        translate_ms = (time.perf_counter() - start) * 1000
        if not other:
            return Found(hits, ms, translate_ms=translate_ms)
        # Both lists deeper than top_k: a passage second in one and sixth in the other
        # belongs above one found by a single list. The first search's own top_k lead its
        # list as they came (a deeper search may order its head a little differently),
        # so a translation that finds nothing leaves them as they were.
        depth = max(top_k, FUSION_DEPTH)
        deeper, deeper_ms = self._retrieve(query, depth, mode)
        more, more_ms = self._retrieve(other, depth, mode)
        head = {h.chunk_id for h in hits}
        hits = [*hits, *(h for h in deeper if h.chunk_id not in head)]
        best: dict[str, SearchHit] = {}
        for hit in [*hits, *more]:
            if hit.chunk_id not in best or hit.relevance > best[hit.chunk_id].relevance:
                best[hit.chunk_id] = hit
        # A translation whose best hit stays below the relevance bar found nothing; even a
        # small weight would lift the first search's also-rans that it happens to share.
        weights = [max((h.relevance for h in side), default=0.0) for side in (hits, more)]
        if weights[1] < self.min_relevance:
            return Found(hits[:top_k], ms + deeper_ms + more_ms, translate_ms=translate_ms)
        ranked = reciprocal_rank_fusion(
            [[h.chunk_id for h in hits], [h.chunk_id for h in more]], weights
        )
        fused = [best[key] for key, _ in ranked[:top_k]]
        return Found(fused, ms + deeper_ms + more_ms, other, translate_ms)

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
        answer_mode: AnswerMode | None = None,
    ) -> Iterator[Event]:
        """Sources, then quotes (the extractive answer), then tokens, then the support
        report, then the final Answer as a dict.

        `max_new_tokens` and `temperature` override the service's for this request (the
        OpenAI-compatible route takes them per request); the answer length never exceeds
        the service's own limit. With the check on, tokens come a sentence at a time, each
        checked against the sources before it is sent.
        """
        limit = min(max_new_tokens or self.max_new_tokens, self.max_new_tokens)
        temperature = self.temperature if temperature is None else temperature
        # A follow-up names its subject only in an earlier question, but an off-topic one
        # must not borrow its passages to pass the relevance bar (docs/EVALUATION.md).
        query = search_query(question, history, self.retriever)
        answer_mode = answer_mode or self.answer_mode
        looked = self.find(query, top_k, mode, cancel, translate=answer_mode == "generate")
        hits = looked.hits
        best = max((h.relevance for h in hits), default=0.0)
        times = Times(self.generator.model_name, looked.ms, translate_ms=looked.translate_ms)
        if best < self.min_relevance:
            sources = [to_source(i, h) for i, h in enumerate(hits, start=1)]
            yield "sources", {"sources": [s.model_dump() for s in sources]}
            yield "quotes", {"answer": "", "quotes": []}
            yield from self._not_found(question, sources, times)
            return
        built = self._prompt(question, looked.focus(query), hits, history, limit)
        sources = [to_source(i, h) for i, h in enumerate(built.sources, start=1)]
        yield "sources", {"sources": [s.model_dump() for s in sources]}
        start = time.perf_counter()
        # The question's own words pick the sentences; a follow-up that names its subject
        # only in an earlier turn ("그럼 단점은?") falls back on the search query.
        found = extract(question, built.sources, self._weights(question))
        if not found and query != question:
            found = extract(query, built.sources, self._weights(query))
        if not found and looked.translation and asks(question, looked.translation):
            # Quotes in the other language: they answer the question as translated, and
            # what the answer says is weighed against that.
            found = extract(looked.translation, built.sources, self._weights(looked.translation))
            query = looked.translation if found else query
        extracted = render(found)
        quotes = [
            Quote(n=q.n, chunk_id=q.chunk_id, text=q.text, start=q.start, end=q.end) for q in found
        ]
        times.extract_ms = (time.perf_counter() - start) * 1000
        yield "quotes", {"answer": extracted, "quotes": [q.model_dump() for q in quotes]}
        if answer_mode == "extract":
            if not quotes:
                yield from self._not_found(question, sources, times, quotes)
                return
            yield from self._quoted(extracted, sources, times, quotes)
            return
        # A supported answer that names less of what was asked than the quotes do, or none
        # of the names asked about, answers something else (a follow-up is about what its
        # search query names).
        as_quoted = addressed(query, extracted, names=False) if quotes else 0.0

        def on_topic(text: str, check: SentenceCheck) -> bool:
            return about_the_question(query, text, check, quotes, as_quoted)

        if quotes:
            built = with_evidence(
                built,
                [(q.n, q.text) for q in quotes],
                count_tokens=self.generator.count_tokens,
                room=built.room,
            )
        check = StreamCheck(
            [s.text for s in sources],
            [s.context for s in sources],
            self.answer_check,
            question=question,
            on_topic=on_topic,
        )
        with self.observer.generator_turn(), self.generation_lock:
            gen_start = time.perf_counter()
            stream = self.generator.stream(
                built.messages, max_new_tokens=limit, temperature=temperature, cancel=cancel
            )
            try:
                for piece in stream:
                    if times.first_ms is None:
                        times.first_ms = (time.perf_counter() - gen_start) * 1000
                    for text in check.feed(piece):
                        yield "token", {"text": text}
                    if "\n" in piece or piece.rstrip().endswith((".", "!", "?")):
                        if is_looping(check.raw):
                            break
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # frees the model at once when the loop broke early
            for text in check.finish():
                yield "token", {"text": text}
            times.generate_ms = (time.perf_counter() - gen_start) * 1000
            times.prompt_tokens = self.generator.prompt_tokens(built.messages)
        raw = check.raw
        times.completion_tokens = self.generator.count_tokens(raw) if raw else 0
        first_s = None if times.first_ms is None else times.first_ms / 1000
        self.observer.generated(times.generate_ms / 1000, times.completion_tokens, first_s)
        if self.answer_check == "off":
            text, cited = clean_citations(
                trim_repeats(raw) if is_looping(raw) else raw, len(sources)
            )
            if not cited:
                text, cited = attribute(text, [f"{s.context}\n{s.text}" for s in sources])
            yield "done", final(text, sources, cited, bool(text), times, "generated", quotes)
            return
        support = support_report(check, sources)
        yield "support", support.model_dump()
        # Nothing the model wrote is backed by its sources (never show the invention), or
        # nothing backed is about what was asked: the quotes, or "not found".
        if not check.answered:
            if quotes:
                yield from self._quoted(extracted, sources, times, quotes, support)
            else:
                yield from self._not_found(question, sources, times, quotes, support)
            return
        text = check.text
        cited = list(dict.fromkeys(n for s in support.sentences if s.shown for n in s.citations))
        yield "done", final(text, sources, cited, True, times, "generated", quotes, support)

    def _weights(self, query: str) -> Mapping[str, float] | None:
        try:
            return self.retriever.term_weights(query)
        except Exception:  # the local IDF serves as well for a handful of sentences
            return None

    def _quoted(
        self,
        extracted: str,
        sources: list[Source],
        times: Times,
        quotes: list[Quote],
        support: Support | None = None,
    ) -> Iterator[Event]:
        """The quotes as the answer, citing the sources they come from."""
        cited = list(dict.fromkeys(q.n for q in quotes))
        yield "token", {"text": extracted}
        yield "done", final(extracted, sources, cited, True, times, "extracted", quotes, support)

    def _not_found(
        self,
        question: str,
        sources: list[Source],
        times: Times,
        quotes: list[Quote] | None = None,
        support: Support | None = None,
    ) -> Iterator[Event]:
        text = not_found_message(question)
        yield "token", {"text": text}
        yield "done", final(text, sources, [], False, times, "not_found", quotes or [], support)
