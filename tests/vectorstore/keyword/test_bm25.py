"""A term's BM25 worked out from FTS5's counts is FTS5's bm25() to the last bit: over
weighted columns and rows of every length, after deletes, and after a keyword-index
rebuild that rewrites rows under the same ids. Where FTS5's internal records are not in a
format it reads, the keyword index asks bm25() itself."""

from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.keyword import analyzer, bm25, columns
from vectorstore.keyword import index as keyword_index
from vectorstore.keyword.term_scores import Postings
from vectorstore.store.store import DocumentWrite, Store
from vectorstore.types import NewChunk

WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega rho".split()


def _write(store: Store, emb: HashEmbedder, doc_id: str, chunks: list[NewChunk]) -> None:
    vectors = emb.embed([c.indexed_text for c in chunks])
    store.write_documents([DocumentWrite(doc_id, doc_id, None, doc_id, {}, chunks, vectors)])


def _fts5_scores(store: Store, term: str) -> dict[int, float]:
    rows = store._conn().execute(
        f"SELECT rowid, -{columns.BM25} FROM chunks_fts WHERE chunks_fts MATCH ?",
        (analyzer.fts_match([term]),),
    )
    return {int(r[0]): float(r[1]) for r in rows}


def _worked_out(store: Store, term: str) -> dict[int, float]:
    found = bm25.term_postings(store._conn(), store.keywords.row_lengths, term)
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
    assert bm25.term_postings(store._conn(), store.keywords.row_lengths, "saturn") is None
    # A term FTS5 would split is asked of FTS5 as a phrase.
    rows, scores = store.keywords.term_postings("to-the")
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
    assert store.keywords.row_lengths._read_to == last
    _assert_exact(store)


# -- an FTS5 whose records are not what bm25.py reads: bm25() scores the terms -------------


def _asked_of_fts5(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The terms the keyword index hands to FTS5's bm25() from now on."""
    asked: list[str] = []
    original = keyword_index._matched_postings

    def spy(conn: sqlite3.Connection, term: str) -> Postings:
        asked.append(term)
        return original(conn, term)

    monkeypatch.setattr(keyword_index, "_matched_postings", spy)
    return asked


def _searched(store: Store, term: str) -> dict[int, float]:
    """A one-term keyword search over every row, as the store answers it."""
    return dict(store.lexical(term, 10_000))


def _assert_fts5s(got: dict[int, float], fts5: dict[int, float]) -> None:
    """The rows bm25() matches, with its scores as the fallback reads them back: as text,
    which SQLite writes to 15 significant digits."""
    assert sorted(got) == sorted(fts5)
    np.testing.assert_allclose([got[r] for r in fts5], list(fts5.values()), rtol=1e-14, atol=0)


def test_an_fts5_format_version_not_known_here_is_scored_by_bm25(
    store: Store,
    embedder: HashEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SQLite that writes a format version this module was not written for (here: one
    that knows only a made-up version) gets FTS5's own scores, and the log says so."""
    _fill(store, embedder, 8, seed=5)
    asked = _asked_of_fts5(monkeypatch)
    monkeypatch.setattr(bm25, "KNOWN_VERSIONS", frozenset({99}))
    bm25._falls_back.cache_clear()
    caplog.set_level(logging.WARNING, logger="ragqa")
    for term in WORDS:
        assert bm25.term_postings(store._conn(), store.keywords.row_lengths, term) is None
        _assert_fts5s(_searched(store, term), _fts5_scores(store, term))
    assert asked == WORDS
    assert "FTS5 format version 4" in caplog.text


def test_an_averages_record_of_another_shape_is_scored_by_bm25(
    store: Store, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FTS5 reads the counts it knows from its averages record and ignores what follows;
    summed as one more column's tokens, a count more would change every mean length."""
    _fill(store, embedder, 8, seed=6)
    store._conn().execute(
        "UPDATE chunks_fts_data SET block = CAST(block || x'05' AS BLOB) WHERE id = 1"
    )
    asked = _asked_of_fts5(monkeypatch)
    for term in WORDS:
        assert bm25.term_postings(store._conn(), store.keywords.row_lengths, term) is None
        _assert_fts5s(_searched(store, term), _fts5_scores(store, term))
    assert asked == WORDS


def test_docsize_blobs_of_another_layout_are_scored_by_bm25(
    store: Store, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FTS5 itself refuses a docsize blob with more counts than columns, so the check is
    # shown on a table of its own: four counts a row where the index has three columns.
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE chunks_fts_docsize (id INTEGER PRIMARY KEY, sz BLOB)")
    conn.executemany(
        "INSERT INTO chunks_fts_docsize VALUES (?, ?)", [(1, bytes(4 * [1])), (2, bytes(4 * [2]))]
    )
    lengths = bm25.RowLengths()
    with pytest.raises(bm25.UnknownFormatError):
        lengths.get(conn, "0", 2)
    assert lengths.get(conn, "0", 0).tolist() == []  # nothing of it was kept
    # And a store whose lengths read so (the same check, on that table) scores every
    # term with bm25().
    _fill(store, embedder, 8, seed=7)
    read_after = bm25.RowLengths._read_after
    monkeypatch.setattr(lengths, "_read_after", lambda _, last: read_after(lengths, conn, last))
    monkeypatch.setattr(store.keywords, "row_lengths", lengths)
    asked = _asked_of_fts5(monkeypatch)
    for term in WORDS:
        _assert_fts5s(_searched(store, term), _fts5_scores(store, term))
    assert asked == WORDS
    conn.close()


def test_a_connection_without_the_instance_table_is_scored_by_bm25(
    store: Store, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite whose fts5vocab cannot make the 'instance' table (here: a type it does
    not know): that connection's terms are asked of bm25()."""
    _fill(store, embedder, 8, seed=8)
    expected = {term: _fts5_scores(store, term) for term in WORDS}
    monkeypatch.setattr(
        bm25, "CREATE_INSTANCES", bm25.CREATE_INSTANCES.replace("'instance'", "'no-such-type'")
    )
    asked = _asked_of_fts5(monkeypatch)
    # A new thread opens a new connection, which cannot have the table.
    with ThreadPoolExecutor(1) as pool:
        got = pool.submit(lambda: {t: _searched(store, t) for t in WORDS}).result()
    for term in WORDS:
        _assert_fts5s(got[term], expected[term])
    assert asked == WORDS
