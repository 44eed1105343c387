"""Run evaluation sets through the same search and answer code the service uses."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.evaluation.metrics import (
    documents_in_order,
    exact_match,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    token_f1,
)
from app.language import is_korean
from app.rag import RagService
from vectorstore.retrieval import Retriever
from vectorstore.types import SearchMode


@dataclass
class Scores:
    """One row of a report: a mode (or set) and its named figures."""

    name: str
    values: dict[str, float] = field(default_factory=dict)


def retrieval_scores(
    retriever: Retriever,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    modes: Sequence[SearchMode],
    cutoffs: Sequence[int] = (1, 10, 100),
) -> list[Scores]:
    """nDCG@10, Recall@k and MRR@10 per mode, documents ranked by their best chunk."""
    # Documents have several chunks: twice the deepest cutoff in chunks covers it.
    depth = max(50, 2 * max(cutoffs))
    rows = []
    for mode in modes:
        totals: dict[str, float] = {}
        start = time.perf_counter()
        for qid, text in queries.items():
            hits = retriever.search(text, depth, mode, relevance=False)
            ranked = documents_in_order([h.document_id for h in hits])
            figures = {
                "nDCG@10": ndcg_at_k(ranked, qrels[qid], 10),
                "MRR@10": mrr_at_k(ranked, qrels[qid], 10),
            }
            figures.update({f"Recall@{k}": recall_at_k(ranked, qrels[qid], k) for k in cutoffs})
            for key, value in figures.items():
                totals[key] = totals.get(key, 0.0) + value
        elapsed = time.perf_counter() - start
        values = {k: v / max(len(queries), 1) for k, v in totals.items()}
        values["queries/s"] = len(queries) / elapsed if elapsed else 0.0
        rows.append(Scores(mode, values))
    return rows


def answer_scores(
    rag: RagService, questions: Sequence[tuple[str, str, list[str]]], sample: int, seed: int = 0
) -> Scores:
    """End-to-end answers on a seeded sample: EM and F1 (characters for Korean, as KorQuAD's
    script), how often the citations include the gold paragraph, and the grounded rate."""
    chosen = random.Random(seed).sample(list(questions), min(sample, len(questions)))
    em = f1 = cited_gold = grounded = shown = 0.0
    for question, gold, answers in chosen:
        shown += _in_prompt(rag, question, answers)
        answer = rag.answer(question)
        korean = is_korean(answer.answer + question)
        em += exact_match(answer.answer, answers)
        f1 += token_f1(answer.answer, answers, characters=korean)
        cited = {answer.sources[n - 1].document_id for n in answer.citations}
        cited_gold += gold in cited
        grounded += answer.grounded
    n = max(len(chosen), 1)
    return Scores(
        "answers",
        {
            "EM": em / n,
            "F1": f1 / n,
            "cites gold": cited_gold / n,
            "grounded": grounded / n,
            "answer in prompt": shown / n,
            "questions": float(len(chosen)),
        },
    )


def qa_scores(
    rag: RagService, rows: Sequence[Mapping[str, object]], k: int, answers: bool
) -> Scores:
    """seeds-qa: evidence hit@k, answer keyword rate, the share of answerable questions
    answered (`grounded: true`), and `grounded: false` for off-topic rows."""
    hit = keyword = answered = refused = shown = 0.0
    on_topic = [r for r in rows if not r.get("off_topic")]
    off_topic = [r for r in rows if r.get("off_topic")]
    for row in on_topic:
        sources = rag.search(str(row["question"]), k, "hybrid")
        texts = [f"{s.context}\n{s.text}" for s in sources]
        evidence = [str(e) for e in _strings(row.get("evidence"))]
        hit += any(e in t for e in evidence for t in texts)
        shown += _in_prompt(rag, str(row["question"]), evidence, k)
        if answers:
            answer = rag.answer(str(row["question"]), k)
            wanted = [a.lower() for a in _strings(row.get("answer_any"))]
            keyword += any(w in answer.answer.lower() for w in wanted)
            answered += answer.grounded
    for row in off_topic:
        refused += not rag.answer(str(row["question"]), k).grounded
    values = {
        f"evidence hit@{k}": hit / max(len(on_topic), 1),
        "evidence in prompt": shown / max(len(on_topic), 1),
        "questions": float(len(on_topic)),
    }
    if answers:
        values["answer keywords"] = keyword / max(len(on_topic), 1)
        values["answered"] = answered / max(len(on_topic), 1)
    if off_topic:
        values["off-topic refused"] = refused / len(off_topic)
        values["off-topic questions"] = float(len(off_topic))
    return Scores("qa", values)


def _in_prompt(rag: RagService, question: str, wanted: Sequence[str], k: int = 5) -> bool:
    """Whether the sources the model would be shown hold one of `wanted`: retrieval can
    find the passage and the prompt budget still leave the answer out of it."""
    shown = rag.prompt(question, k).messages[-1]["content"]
    return any(w in shown for w in wanted)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
