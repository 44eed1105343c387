"""The keyword index's rows: a chunk's heading path, its own text, and its neighbours' text.

BM25 over lone chunks misses evidence that a chunk boundary split (a claim's terms spread
over one abstract's two chunks), and weighs a title no more than any other line. Each row
therefore has three columns that FTS5's bm25() weighs apart (WEIGHTS, chosen on SciFact
train: DECISIONS.md, "Retrieval quality"). Hits stay chunks, so citations point at the
passage itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from vectorstore.keyword import analyzer

# Stores rebuild their keyword index when this differs from the one that built it.
LAYOUT = "2"
VERSION = f"{analyzer.VERSION}.{LAYOUT}"

COLUMNS = ("context", "body", "neighbours")
WEIGHTS = (3.0, 1.0, 0.5)
# Chunks on each side whose text counts as the chunk's neighbourhood.
WINDOW = 1

CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5({', '.join(COLUMNS)},"
    " tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row')",
)
DDL = "".join(f"{statement};\n" for statement in CREATE)
INSERT = f"INSERT INTO chunks_fts (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?)"
BM25 = f"bm25(chunks_fts, {', '.join(str(w) for w in WEIGHTS)})"


def rows(chunks: Sequence[tuple[int, str, str]]) -> list[tuple[int, str, str, str]]:
    """Index rows for one document's chunks, given in order as (row id, context, text)."""
    bodies = [analyzer.terms(text) for _, _, text in chunks]
    out = []
    for n, (row_id, context, _) in enumerate(chunks):
        around = bodies[max(0, n - WINDOW) : n] + bodies[n + 1 : n + 1 + WINDOW]
        out.append(
            (
                row_id,
                " ".join(analyzer.terms(context)),
                " ".join(bodies[n]),
                " ".join(t for terms in around for t in terms),
            )
        )
    return out
