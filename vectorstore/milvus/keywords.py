"""Keyword terms for Milvus's BM25: the store's analyzer output, weighted by repetition.

FTS5 weighs a chunk's heading path, its text and its neighbours' text apart
(keyword/columns.py); Milvus's BM25 reads one field, so the heading's terms are written
into it twice, the text's and the neighbours' once. Fields searched apart and summed
ranked worse (DECISIONS.md, "The whole store in Milvus").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vectorstore.keyword import analyzer, columns
from vectorstore.milvus.collections import fit

# Times the heading path's, the chunk's and its neighbours' terms are written into the field.
REPEATS = (2, 1, 1)
# The standard tokenizer splits at what is not a word character; the analyzer's terms
# keep a few ("gpt-3"), so those become "_" on both sides.
_SPLITS = re.compile(r"[^\w]")


def term(text: str) -> str:
    return _SPLITS.sub("_", text)


def rows(
    chunks: Sequence[tuple[str, str]], repeats: tuple[int, int, int] | None = None
) -> list[tuple[str, str]]:
    """For one document's chunks in order, (heading path, text) each: the BM25 field
    (heading, text and neighbours' text, each repeated as REPEATS says) and the chunk's
    own terms as the analyzer wrote them (what `Retriever` reads back)."""
    heading_n, body_n, around_n = repeats or REPEATS
    bodies = [analyzer.terms(text) for _, text in chunks]
    out = []
    for n, (context, _) in enumerate(chunks):
        heading = analyzer.terms(context)
        around = [t for terms in bodies[max(0, n - columns.WINDOW) : n] for t in terms]
        around += [t for terms in bodies[n + 1 : n + 1 + columns.WINDOW] for t in terms]
        field = heading * heading_n + bodies[n] * body_n + around * around_n
        out.append((_fit(" ".join(term(t) for t in field)), _fit(" ".join(heading + bodies[n]))))
    return out


def query(text: str) -> str:
    """The query as the BM25 field holds its terms ("" when it has none)."""
    return " ".join(term(t) for t in analyzer.query_terms(text))


def _fit(text: str) -> str:
    """What the field holds, cut at a space: a very long chunk loses its last terms whole."""
    kept = fit(text)
    return kept if kept == text else kept.rsplit(" ", 1)[0]
