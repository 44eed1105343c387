"""Keyword ranking from kept per-term BM25 scores: the same ranking FTS5's bm25() gives,
never stale after a write, and bounded in memory."""

from __future__ import annotations

import numpy as np
import pytest

from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.keyword import analyzer, columns
from vectorstore.keyword.term_scores import Postings, TermScores, best
from vectorstore.store.store import DocumentWrite, Store
from vectorstore.types import NewChunk

WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega rho".split()


def _postings(rows: list[int], scores: list[float]) -> Postings:
    return np.array(rows, dtype=np.int64), np.array(scores, dtype=np.float64)


def _write(store: Store, emb: HashEmbedder, doc_id: str, texts: list[str]) -> None:
    chunks = [NewChunk(text, doc_id) for text in texts]
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite(doc_id, doc_id, None, doc_id, {}, chunks, vectors)])


def _fts5(store: Store, query: str, limit: int) -> list[tuple[int, float]]:
    """What the keyword search was before: FTS5 ranks every matching row itself."""
    terms = store.keywords.selective(analyzer.query_terms(query))
    rows = store._conn().execute(
        f"SELECT rowid, -{columns.BM25} FROM chunks_fts WHERE chunks_fts MATCH ?"
        f" ORDER BY {columns.BM25} LIMIT ?",
        (analyzer.fts_match(terms), limit),
    )
    return [(int(r[0]), float(r[1])) for r in rows]


def _same_ranking(ours: list[tuple[int, float]], theirs: list[tuple[int, float]]) -> None:
    """Equal scores in order; rows may differ only among equal scores."""
    assert len(ours) == len(theirs)
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-12)
    by_score: dict[float, set[int]] = {}
    for row, score in theirs:
        by_score.setdefault(round(score, 9), set()).add(row)
    cut = round(theirs[-1][1], 9) if theirs else None
    for row, score in ours:
        if round(score, 9) != cut:  # above the cut, the very rows
            assert row in by_score[round(score, 9)]


def test_best_sums_each_rows_term_scores_and_breaks_ties_by_row_id() -> None:
    a = _postings([1, 4, 7, 9], [1.0, 2.0, 0.5, 1.0])
    b = _postings([4, 5, 9], [1.0, 3.0, 0.5])
    assert best([a, b], 10) == [(4, 3.0), (5, 3.0), (9, 1.5), (1, 1.0), (7, 0.5)]
    assert best([a, b], 2) == [(4, 3.0), (5, 3.0)]
    # Ties at the cut go to the lower row ids, whatever order the rows came in.
    c = _postings([30, 10, 20, 40], [1.0, 1.0, 2.0, 1.0])
    assert best([c], 3) == [(20, 2.0), (10, 1.0), (30, 1.0)]
    assert best([], 5) == []
    assert best([_postings([], [])], 5) == []
    assert best([a], 0) == []


def test_kept_scores_are_loaded_once_and_bounded() -> None:
    kept = TermScores(max_postings=5)
    loads: list[str] = []

    def load(term: str) -> Postings:
        loads.append(term)
        n = {"x": 2, "y": 3, "z": 2, "huge": 9}[term]
        return _postings(list(range(n)), [1.0] * n)

    kept.get(1, ["x", "y"], load)
    kept.get(1, ["x", "y"], load)
    assert loads == ["x", "y"]
    kept.get(1, ["z"], load)  # 7 postings > 5: the least recently used ("x") goes
    kept.get(1, ["y", "z"], load)
    assert loads == ["x", "y", "z"]
    kept.get(1, ["x"], load)
    assert loads == ["x", "y", "z", "x"]
    # A term larger than the whole budget is served but not kept.
    assert len(kept.get(1, ["huge"], load)[0][0]) == 9
    kept.get(1, ["huge"], load)
    assert loads.count("huge") == 2
    # A new store generation (any write) starts empty.
    kept.get(2, ["x"], load)
    assert loads.count("x") == 3


def test_keyword_search_ranks_as_fts5_bm25_does(store: Store, embedder: HashEmbedder) -> None:
    rng = np.random.default_rng(7)
    for d in range(12):
        texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 30))) for _ in range(4)]
        _write(store, embedder, f"doc{d}.md", texts)
    queries = ["alpha", "alpha beta", "gamma delta omega", "sigma rho kappa theta", "zeta"]
    for query in queries:
        for limit in (1, 5, 200):
            _same_ranking(store.lexical(query, limit), _fts5(store, query, limit))
    assert store.lexical("nothingmatches", 5) == []


def test_kept_scores_follow_every_write(store: Store, embedder: HashEmbedder) -> None:
    """A write changes every term's IDF and the average length: a search after it must
    not rank with the scores kept before it."""
    _write(store, embedder, "a.md", ["rockets fly to the moon", "the moon is bright"])
    before = store.lexical("moon rockets", 5)
    _same_ranking(before, _fts5(store, "moon rockets", 5))
    _write(store, embedder, "b.md", ["moon " * 5, "rockets and rockets"])
    after = store.lexical("moon rockets", 5)
    _same_ranking(after, _fts5(store, "moon rockets", 5))
    assert dict(after)[before[0][0]] != pytest.approx(before[0][1])
    store.delete_document("b.md")
    _same_ranking(store.lexical("moon rockets", 5), before)
