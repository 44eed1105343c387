"""A term's BM25 worked out from FTS5's counts is FTS5's bm25() to the last bit: over
weighted columns and rows of every length, after deletes, and after a keyword-index
rebuild that rewrites rows under the same ids."""

from __future__ import annotations

import numpy as np

from vectorstore import analyzer, bm25, keywords
from vectorstore.embedder import HashEmbedder
from vectorstore.store import DocumentWrite, Store
from vectorstore.types import NewChunk

WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega rho".split()


def _write(store: Store, emb: HashEmbedder, doc_id: str, chunks: list[NewChunk]) -> None:
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite(doc_id, doc_id, None, doc_id, {}, chunks, vectors)])


def _fts5_scores(store: Store, term: str) -> dict[int, float]:
    rows = store._conn().execute(
        f"SELECT rowid, -{keywords.BM25} FROM chunks_fts WHERE chunks_fts MATCH ?",
        (analyzer.fts_match([term]),),
    )
    return {int(r[0]): float(r[1]) for r in rows}


def _worked_out(store: Store, term: str) -> dict[int, float]:
    found = bm25.term_postings(store._conn(), store._row_lengths, term)
    assert found is not None, term
    rows, scores = found
    assert list(rows) == sorted(rows)
    return dict(zip(rows.tolist(), scores.tolist(), strict=True))


def _fill(store: Store, emb: HashEmbedder, docs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for d in range(docs):
        chunks = [
            NewChunk(
                # Up to 400 words: row lengths past 127 and 16,383 tokens in all take
                # two- and three-byte varints.
                " ".join(rng.choice(WORDS, size=rng.integers(1, 400))),
                " ".join(rng.choice(WORDS, size=rng.integers(0, 3))),  # the heading column
            )
            for _ in range(rng.integers(1, 5))
        ]
        _write(store, emb, f"doc{seed}-{d}.md", chunks)


def _assert_exact(store: Store) -> None:
    for term in WORDS:
        assert _worked_out(store, term) == _fts5_scores(store, term), term


def test_worked_out_scores_are_fts5s_bm25_exactly(store: Store, embedder: HashEmbedder) -> None:
    _fill(store, embedder, 25, seed=1)
    _assert_exact(store)
    # Deletes change the row count and the mean length; new rows extend the kept lengths.
    for d in range(0, 25, 3):
        store.delete_document(f"doc1-{d}.md")
    _fill(store, embedder, 10, seed=2)
    _assert_exact(store)


def test_a_rebuild_rewrites_lengths_under_the_same_row_ids(
    store: Store, embedder: HashEmbedder
) -> None:
    _fill(store, embedder, 8, seed=3)
    _assert_exact(store)  # lengths kept
    conn = store._conn()
    # The rebuilt index holds other text under the same ids (as a new analyzer would).
    conn.execute("UPDATE chunks SET text = text || ' ' || text")
    store.rebuild_indexes()
    _assert_exact(store)


def test_terms_outside_the_vocabulary(store: Store, embedder: HashEmbedder) -> None:
    _write(store, embedder, "a.md", [NewChunk("rockets fly to the moon", "")])
    assert bm25.term_postings(store._conn(), store._row_lengths, "saturn") is None
    # A term FTS5 would split is asked of FTS5 as a phrase.
    rows, scores = store._term_postings("to-the")
    assert rows.tolist() == list(_fts5_scores(store, "to-the"))
    assert scores.tolist() == list(_fts5_scores(store, "to-the").values())


def test_varints_decode_sqlites_format() -> None:
    values = [0, 1, 127, 128, 300, 16383, 16384, 2_097_151, 2_097_152, 2**40]
    blob = b""
    for v in values:
        groups = [v & 0x7F]
        v >>= 7
        while v:
            groups.append(0x80 | (v & 0x7F))
            v >>= 7
        blob += bytes(reversed(groups))
    assert bm25.varints(blob).tolist() == [
        0,
        1,
        127,
        128,
        300,
        16383,
        16384,
        2_097_151,
        2_097_152,
        2**40,
    ]
    assert bm25.varints(b"").tolist() == []
    # Past SMALL_BLOB bytes numpy decodes them: the same values either way.
    assert len(blob) <= bm25.SMALL_BLOB < len(blob * 4)
    assert bm25.varints(blob * 4).tolist() == bm25.varints(blob).tolist() * 4


def test_start_up_reads_every_rows_length(store: Store, embedder: HashEmbedder) -> None:
    _fill(store, embedder, 6, seed=4)
    store.warm_keywords()
    last = store._conn().execute("SELECT max(id) FROM chunks").fetchone()[0]
    assert store._row_lengths._read_to == last
    _assert_exact(store)
