"""How well an embedder's vocabulary covers a text: 1 fully, 0 not at all.

Dense similarity between texts the model only sees as sub-character pieces is noise;
fusing that noise drowns good keyword hits (docs/retrieval.md, "Why the dense weight
depends on vocabulary coverage"), so the retriever weighs the dense side by the coverage
of the query and of its hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vectorstore.embedders.base import count_letters

if TYPE_CHECKING:
    from vectorstore.embedders.base import Embedder

# Tokens per letter at which an embedder stops "knowing" a script. all-MiniLM-L6-v2 spends
# ~0.25 on English but ~2.5 on Korean (Hangul is split into jamo); a multilingual model
# stays well under 1 on both, so its dense side keeps full weight.
FERTILITY_KNOWN, FERTILITY_UNKNOWN = 0.8, 2.0
# A passage's opening is as good a sample of its script as the whole, at a fraction of
# the tokenizing.
SAMPLE_CHARS = 500


def vocab_coverage(embedder: Embedder, texts: Sequence[str]) -> list[float]:
    """Each text's coverage: the share of its letters the model has pieces for, times 1
    while the model spends few tokens a letter, falling to 0 at FERTILITY_UNKNOWN."""
    if not texts:
        return []
    counts = embedder.count_tokens(texts)
    unknown = embedder.unknown_letters(texts)
    span = FERTILITY_UNKNOWN - FERTILITY_KNOWN
    out = []
    for text, tokens, missing in zip(texts, counts, unknown, strict=True):
        letters = count_letters(text)
        seen = letters - missing  # letters the model has pieces for
        fertility = tokens / seen if seen > 0 else FERTILITY_UNKNOWN
        fertile = min(1.0, max(0.0, (FERTILITY_UNKNOWN - fertility) / span))
        out.append(fertile * seen / letters if letters else 1.0)  # digits, symbols
    return out


def passage_coverage(embedder: Embedder, passages: Sequence[str]) -> list[float]:
    """vocab_coverage() of each stored passage (`StoredChunk.passage`), from its opening: worked
    out at ingest and stored, and at query time for chunks stored without it."""
    return vocab_coverage(embedder, [passage[:SAMPLE_CHARS] for passage in passages])
