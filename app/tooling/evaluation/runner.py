"""Run evaluation sets through the same search and answer code the service uses."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.rag.language import is_korean
from app.rag.service import RagService
from app.tooling.evaluation.metrics import (
    documents_in_order,
    exact_match,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    token_f1,
)
from vectorstore import Retriever, SearchMode


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
) -> list[Scores]:
    """End-to-end answers on a seeded sample, for the answer given and for its quotes (the
    extractive answer): the gold answer contained, EM and F1 (characters for Korean, as
    KorQuAD's script), how often the citations include the gold paragraph, the grounded
    rate, and how the answer was made."""
    chosen = random.Random(seed).sample(list(questions), min(sample, len(questions)))
    given: dict[str, float] = {}
    quoted: dict[str, float] = {}
    shown = 0.0
    for question, gold, answers in chosen:
        shown += _in_prompt(rag, question, answers)
        answer = rag.answer(question)
        korean = is_korean(answer.answer + question)
        extract = "\n".join(q.text for q in answer.quotes)
        for totals, text, cited_ns in (
            (given, answer.answer, answer.citations),
            (quoted, extract, [q.n for q in answer.quotes]),
        ):
            cited = {answer.sources[n - 1].document_id for n in cited_ns}
            _add(totals, "contains gold", any(a in text for a in answers))
            _add(totals, "EM", exact_match(text, answers))
            _add(totals, "F1", token_f1(text, answers, characters=korean))
            _add(totals, "cites gold", gold in cited)
        _add(given, "grounded", answer.grounded)
        _add(given, "quotes given", answer.answer_mode == "extracted")
        _add(given, "claims supported", answer.support.supported_share if answer.support else 1.0)
    n = max(len(chosen), 1)
    rows = []
    for name, totals in (("answers", given), ("quotes", quoted)):
        values = {k: v / n for k, v in totals.items()}
        values["questions"] = float(len(chosen))
        if name == "answers":
            values["answer in prompt"] = shown / n
        rows.append(Scores(name, values))
    return rows


def _add(totals: dict[str, float], key: str, value: float | bool) -> None:
    totals[key] = totals.get(key, 0.0) + float(value)


def qa_scores(
    rag: RagService, rows: Sequence[Mapping[str, object]], k: int, answers: bool
) -> list[Scores]:
    """seeds-qa: evidence hit@k, answer keyword rate, the share of answerable questions
    answered (`grounded: true`), and `grounded: false` for off-topic rows. One row for
    all, then one per `kind` where the rows name more than one."""
    on_topic = [r for r in rows if not r.get("off_topic")]
    off_topic = [r for r in rows if r.get("off_topic")]
    outcomes = [_qa_outcome(rag, row, k, answers) for row in on_topic]
    refused = [not rag.answer(str(row["question"]), k).grounded for row in off_topic]
    results = [_qa_row("qa", outcomes, refused, k, answers)]
    kinds = list(dict.fromkeys(str(r["kind"]) for r in on_topic if r.get("kind")))
    if len(kinds) > 1:
        for kind in kinds:
            mine = [o for o, r in zip(outcomes, on_topic, strict=True) if r.get("kind") == kind]
            results.append(_qa_row(f"qa: {kind}", mine, [], k, answers))
    return results


def _qa_outcome(
    rag: RagService, row: Mapping[str, object], k: int, answers: bool
) -> dict[str, float]:
    """One answerable question's figures."""
    # What an answer reads: with a translator, a question whose search finds nothing to
    # quote is searched in the other language too.
    hits = rag.find(str(row["question"]), k, "hybrid").hits
    texts = [f"{h.context}\n{h.text}" for h in hits]
    evidence = [str(e) for e in _strings(row.get("evidence"))]
    out = {
        "hit": float(any(e in t for e in evidence for t in texts)),
        "shown": float(_in_prompt(rag, str(row["question"]), evidence, k)),
    }
    if answers:
        started = time.perf_counter()
        answer = rag.answer(str(row["question"]), k)
        out["whole_s"] = time.perf_counter() - started
        t = answer.timings
        # What the page shows first, and when (a translated question's quotes wait for it).
        out["quotes_ms"] = t.retrieve_ms + (t.extract_ms or 0.0) + (t.translate_ms or 0.0)
        wanted = [a.lower() for a in _strings(row.get("answer_any"))]
        out["keyword"] = float(any(w in answer.answer.lower() for w in wanted))
        out["answered"] = float(answer.grounded)
        out["quoted"] = float(answer.answer_mode == "extracted")
        # Every sentence shown is supported: true by construction unless the check is
        # off or set to mark.
        support = answer.support
        out["supported"] = float(
            support is None or all(s.supported or not s.claim for s in support.sentences if s.shown)
        )
    return out


def _qa_row(
    name: str, outcomes: Sequence[dict[str, float]], refused: Sequence[bool], k: int, answers: bool
) -> Scores:
    n = max(len(outcomes), 1)

    def share(key: str) -> float:
        return sum(o[key] for o in outcomes) / n

    values = {
        f"evidence hit@{k}": share("hit"),
        "evidence in prompt": share("shown"),
        "questions": float(len(outcomes)),
    }
    if answers:
        values["answer keywords"] = share("keyword")
        values["answered"] = share("answered")
        values["quotes given"] = share("quoted")
        values["shown supported"] = share("supported")
        if outcomes:
            values["quotes ms p50"] = statistics.median(o["quotes_ms"] for o in outcomes)
            values["answer s p50"] = statistics.median(o["whole_s"] for o in outcomes)
            values["answer s max"] = max(o["whole_s"] for o in outcomes)
    if refused:
        values["off-topic refused"] = sum(refused) / len(refused)
        values["off-topic questions"] = float(len(refused))
    return Scores(name, values)


def _in_prompt(rag: RagService, question: str, wanted: Sequence[str], k: int = 5) -> bool:
    """Whether the sources the model would be shown hold one of `wanted`: retrieval can
    find the passage and the prompt budget still leave the answer out of it."""
    shown = rag.prompt(question, k).messages[-1]["content"]
    return any(w in shown for w in wanted)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
