"""What an answer is made of: its numbered sources, the timings, the check's report, and
the payload of its `done` event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.grounding.checker import SentenceCheck
from app.grounding.extractive import addressed
from app.grounding.gate import StreamCheck
from app.schemas import (
    Answer,
    Quote,
    SentenceSupport,
    Source,
    Support,
    Timings,
    Usage,
)
from vectorstore import SearchHit


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
class Times:
    """The model that answered, where the time went, and the token counts."""

    model: str
    retrieve_ms: float
    extract_ms: float | None = None
    translate_ms: float | None = None
    generate_ms: float = 0.0
    first_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def final(
    text: str,
    sources: list[Source],
    cited: list[int],
    grounded: bool,
    times: Times,
    made: Literal["generated", "extracted", "not_found"],
    quotes: list[Quote],
    support: Support | None = None,
) -> dict[str, Any]:
    answer = Answer(
        answer=text,
        sources=sources,
        citations=cited,
        grounded=grounded,
        model=times.model,
        usage=Usage(prompt_tokens=times.prompt_tokens, completion_tokens=times.completion_tokens),
        timings=Timings(
            retrieve_ms=round(times.retrieve_ms, 2),
            generate_ms=round(times.generate_ms, 2),
            first_token_ms=None if times.first_ms is None else round(times.first_ms, 2),
            extract_ms=None if times.extract_ms is None else round(times.extract_ms, 2),
            translate_ms=None if times.translate_ms is None else round(times.translate_ms, 2),
        ),
        answer_mode=made,
        quotes=quotes,
        support=support,
    )
    return answer.model_dump()


# A generated answer (a sentence read with the source sentence that backs it) must name at
# least this share of what the quotes name of the question: on KorQuAD the answers below
# it were about a neighbouring fact ("2000년 ... 짐바브웨 대법원도 ..." for Canada's
# ruling), and the quotes held the answer (docs/EVALUATION.md, "Answers").
ADDRESSED = 0.7


def about_the_question(
    question: str, text: str, check: SentenceCheck, quotes: Sequence[Quote], as_quoted: float
) -> bool:
    """Whether a supported sentence (`text`, with its backing) answers `question`: it names
    enough of it against `as_quoted`, what the quotes name of it, and draws on a quote."""
    share = addressed(question, text)
    if share <= 0.0 or share < ADDRESSED * as_quoted:
        return False
    # Backed by another sentence of the passages than those that answer (the quotes): the
    # model read the right passage and answered from the wrong line.
    return not quotes or draws_on(check, quotes)


def draws_on(check: SentenceCheck, quotes: Sequence[Quote]) -> bool:
    """Whether the source sentence that supports `check` is one of the quotes."""
    start, end = check.source_start, check.source_end
    if check.source is None or start is None or end is None:
        return False
    return any(q.n == check.source and start < q.end and q.start < end for q in quotes)


def support_report(check: StreamCheck, sources: Sequence[Source]) -> Support:
    rows = []
    for s, shown in zip(check.report.sentences, check.shown, strict=True):
        chunk = sources[s.source - 1].chunk_id if s.source else None
        rows.append(
            SentenceSupport(
                text=s.text,
                start=s.start,
                end=s.end,
                claim=s.claim,
                supported=s.supported,
                shown=shown and check.answered,
                source=s.source,
                chunk_id=chunk,
                source_start=s.source_start,
                source_end=s.source_end,
                cited=s.cited,
                citations=s.citations,
                reason=s.reason
                or (
                    None
                    if shown or not s.claim
                    else "true to its source, but not about the question"
                ),
            )
        )
    return Support(
        checked=True,
        policy=check.policy,
        supported_share=round(check.report.share, 4),
        left_out=sum(not r.shown for r in rows),
        sentences=rows,
    )
