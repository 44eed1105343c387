"""Follow-up questions: evidence hit@k for each way of turning a conversation into a query."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from app.generators.base import ChatMessage, complete
from app.rag.conversation import retrieval_query, search_query
from app.rag.service import RagService
from app.schemas import Source
from app.tooling.evaluation.runner import Scores
from vectorstore import reciprocal_rank_fusion

REWRITE = (
    "Rewrite the last question of this conversation as one question that can be understood "
    "on its own, in the same language. Reply with the rewritten question only."
)

Searcher = Callable[[RagService, str, list[ChatMessage], int], list[Source]]


def alone(rag: RagService, question: str, history: list[ChatMessage], k: int) -> list[Source]:
    return rag.search(question, k, "hybrid")


def previous(rag: RagService, question: str, history: list[ChatMessage], k: int) -> list[Source]:
    return rag.search(retrieval_query(question, history, turns=1), k, "hybrid")


def served(rag: RagService, question: str, history: list[ChatMessage], k: int) -> list[Source]:
    """What /api/ask searches for: the previous question is added unless the store's
    vocabulary says the question stands alone (app/rag/conversation.py)."""
    return rag.search(search_query(question, history, rag.retriever), k, "hybrid")


def all_earlier(rag: RagService, question: str, history: list[ChatMessage], k: int) -> list[Source]:
    return rag.search(retrieval_query(question, history, turns=len(history)), k, "hybrid")


def fused(rag: RagService, question: str, history: list[ChatMessage], k: int) -> list[Source]:
    """Reciprocal rank fusion of the question alone and with the previous question."""
    lists = [alone(rag, question, history, k), previous(rag, question, history, k)]
    by_id = {s.chunk_id: s for hits in reversed(lists) for s in hits}
    ranked = reciprocal_rank_fusion([[s.chunk_id for s in hits] for hits in lists])
    return [by_id[chunk_id] for chunk_id, _ in ranked[:k]]


def rewritten(rag: RagService, question: str, history: list[ChatMessage], k: int) -> list[Source]:
    """The service's own generator rewrites the follow-up as a standalone question."""
    lines = [f"{m['role']}: {m['content']}" for m in history]
    messages: list[ChatMessage] = [
        {"role": "system", "content": REWRITE},
        {"role": "user", "content": "\n".join([*lines, f"last question: {question}"])},
    ]
    text = complete(rag.generator, messages, max_new_tokens=48).strip()
    return rag.search(text or question, k, "hybrid")


REWRITTEN = "rewritten by the generator"
STRATEGIES: dict[str, Searcher] = {
    "question alone": alone,
    "+ previous question, always": previous,
    "+ previous question (served)": served,
    "+ all earlier questions": all_earlier,
    "fused (RRF of both)": fused,
    REWRITTEN: rewritten,
}


def followup_scores(
    rag: RagService, rows: Sequence[Mapping[str, object]], k: int, strategies: Sequence[str]
) -> list[Scores]:
    """One row per strategy: evidence hit@k and the share answered (`grounded: true`: a
    source reaches the service's minimum relevance) for each `kind` of row (follow-up,
    topic switch), and the share refused of `off_topic` rows."""
    out = []
    for name in strategies:
        search = STRATEGIES[name]
        figures: dict[str, list[bool]] = {}
        for row in rows:
            sources = search(rag, str(row["question"]), _messages(row.get("history")), k)
            answered = max((s.relevance for s in sources), default=0.0) >= rag.min_relevance
            if row.get("off_topic"):
                figures.setdefault("off-topic refused", []).append(not answered)
                continue
            texts = [f"{s.context}\n{s.text}" for s in sources]
            evidence = _strings(row.get("evidence"))
            kind = row.get("kind", "follow-up")
            figures.setdefault(f"{kind} hit@{k}", []).append(
                any(e in t for e in evidence for t in texts)
            )
            figures.setdefault(f"{kind} answered", []).append(answered)
        out.append(Scores(name, {key: sum(v) / len(v) for key, v in figures.items()}))
    return out


def _messages(value: object) -> list[ChatMessage]:
    turns = value if isinstance(value, list) else []
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in turns]


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
