"""Retrieval and answer metrics as BEIR, SQuAD and KorQuAD define them. Pure functions."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with graded relevance and the linear gain BEIR's pytrec_eval uses."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def documents_in_order(chunk_document_ids: Sequence[str]) -> list[str]:
    """Chunks ranked -> documents ranked by their best chunk (how BEIR scores passages)."""
    return list(dict.fromkeys(chunk_document_ids))


def _normalize(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    return float(any(_normalize(prediction) == _normalize(a) for a in answers))


def _f1(pred: list[str], gold: list[str]) -> float:
    common = sum((Counter(pred) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: Sequence[str], *, characters: bool = False) -> float:
    """Best F1 over the gold answers. SQuAD counts words; KorQuAD's official script counts
    characters (`characters=True`), since Korean words carry particles."""

    def tokens(text: str) -> list[str]:
        if characters:  # KorQuAD also drops quotes and brackets such as 《》「」 and spaces
            kept = (c for c in _normalize(text) if not unicodedata.category(c).startswith("P"))
            return [c for c in kept if not c.isspace()]
        return _normalize(text).split()

    return max((_f1(tokens(prediction), tokens(a)) for a in answers), default=0.0)
