"""The keyword index: BM25 search over the store's FTS5 table, and its upkeep on write.

It reads and writes through the Store's connections (the Store owns the database and its
transactions); what it keeps between queries (term scores, row lengths, term counts) is
tied to the store's generation, so any write anywhere makes it stale.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Sequence

import numpy as np

from vectorstore.cache import Memo
from vectorstore.keyword import analyzer, bm25, columns
from vectorstore.keyword.term_counts import FrequentTerms
from vectorstore.keyword.term_scores import Postings, TermScores, best
from vectorstore.store.schema import meta_value

# Query terms held by more than this share of chunks are left out of the keyword query
# when a rarer term remains: they cost the most and rank the least (docs/retrieval.md).
COMMON_SHARE = 0.3
DF_CACHE_TERMS = 100_000
# And the rarest terms are kept only while their rows add up to this many: a term's scores
# cost time in proportion to its rows, so this bounds a keyword query's first reading at
# any store size (docs/retrieval.md).
POSTING_BUDGET = 8000
# Start-up waits this long for the frequent terms' counts (term_counts.py).
WARM_WAIT_S = 5.0
# How long close() waits for a background read of the term counts.
CLOSE_WAIT_S = 10.0


class KeywordIndex:
    """BM25 over the FTS5 index; every read runs on the calling thread's connection."""

    def __init__(
        self,
        conn: Callable[[], sqlite3.Connection],
        connect: Callable[[], sqlite3.Connection],
        generation: Callable[[], int],
    ) -> None:
        """`conn` gives the calling thread's connection, `connect` a new one of the
        caller's own (to close when done), `generation` the store's current one."""
        self._conn = conn
        self._connect = connect
        self._generation = generation
        # The chunk count and term counts of one store generation (every write bumps it).
        self._counted: tuple[int, int, Memo[str, int]] | None = None
        self.term_scores = TermScores()
        self.row_lengths = bm25.RowLengths()
        self.frequent_terms = FrequentTerms(self.read_frequent_terms)
        self._local = threading.local()  # per thread: whether its connection has instances

    def attach(self, conn: sqlite3.Connection) -> None:
        """Prepare a thread's new connection for reading term occurrences."""
        self._local.instances = bm25.open_instances(conn)

    # -- searching ------------------------------------------------------------------------

    def lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the keyword index: (row id, score), best first; score > 0."""
        terms = self.selective(analyzer.query_terms(query))
        if not terms:
            return []
        postings = self.term_scores.get(self._generation(), terms, self.term_postings)
        return best(postings, limit)

    def term_postings(self, term: str) -> Postings:
        """Every chunk holding `term` with its BM25 for that term alone, as FTS5 scores
        it: worked out from the term's occurrences (bm25.py), or asked of FTS5 for a term
        that is not one token of its vocabulary."""
        conn = self._conn()
        worked_out = None
        if getattr(self._local, "instances", False):  # set by attach() for this thread
            worked_out = bm25.term_postings(conn, self.row_lengths, term)
        return _matched_postings(conn, term) if worked_out is None else worked_out

    def warm(self) -> None:
        """Read now what the first keyword search would otherwise read: row lengths and
        the frequent terms' counts (a store so large that they take longer than
        WARM_WAIT_S goes on reading them in the background)."""
        conn = self._conn()
        if getattr(self._local, "instances", False):
            bm25.read_lengths(conn, self.row_lengths)
        self.frequent_terms.get(self._generation())
        self.frequent_terms.wait(WARM_WAIT_S)

    def selective(self, terms: list[str]) -> list[str]:
        """The query's rarer terms: without those most chunks hold, and only as many of
        the rest, rarest first, as POSTING_BUDGET rows allow (always at least one).

        FTS5 computes bm25() for every row any term matches: one common word matches
        a large share of the store and costs the most, while its IDF adds little.
        """
        if len(terms) < 2:
            return terms
        df, total = self.document_frequencies(terms)
        chosen: set[str] = set()
        spent = 0
        for term in sorted(terms, key=lambda t: df.get(t, 0)):
            rows = df.get(term, 0)
            if chosen and (rows > COMMON_SHARE * total or spent + rows > POSTING_BUDGET):
                break
            chosen.add(term)
            spent += rows
        return [t for t in terms if t in chosen]

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each term (terms in none left out), and how many chunks
        there are. Frequent terms' counts come from one read of the whole vocabulary
        (term_counts.py) once it is in; the rest are asked of FTS5 per term."""
        generation, total, memo = self._generation_counts()
        frequent = self.frequent_terms.get(generation)
        if frequent is None:
            counts = memo.get(terms, self.count_terms)
        else:
            rare = [t for t in terms if t not in frequent]
            asked = dict(zip(rare, memo.get(rare, self.count_terms), strict=True))
            counts = [frequent[t] if t in frequent else asked[t] for t in terms]
        return {t: n for t, n in zip(terms, counts, strict=True) if n}, total

    def _generation_counts(self) -> tuple[int, int, Memo[str, int]]:
        """The generation, its chunk count and a memo of its term counts: COUNT(*) walks a
        whole index and fts5vocab a term's postings, so neither is repeated per query."""
        counted = self._counted
        generation = self._generation()
        if counted is None or counted[0] != generation:
            total = int(self._conn().execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            counted = self._counted = (generation, total, Memo(DF_CACHE_TERMS))
        return counted

    def read_frequent_terms(self, min_rows: int) -> tuple[int, dict[str, int]]:
        """The generation and every term held by `min_rows` chunks or more, with its
        count, from one snapshot (its own connection: this runs in a background thread)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            generation = int(meta_value(conn, "generation") or 0)
            sql = "SELECT term, doc FROM chunks_vocab WHERE doc >= ?"
            counts = {str(t): int(n) for t, n in conn.execute(sql, (min_rows,))}
            conn.execute("COMMIT")
        finally:
            conn.close()
        return generation, counts

    def count_terms(self, terms: list[str]) -> list[int]:
        marks = ",".join("?" * len(terms))
        sql = f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})"
        rows = dict(self._conn().execute(sql, terms))
        return [int(rows.get(t, 0)) for t in terms]

    def chunk_terms(self, row_ids: Sequence[int]) -> dict[int, frozenset[str]]:
        """Each chunk's analyzer terms (heading and text) as the index stores them: read
        back, not analysed again (stemming is the slow part). Rows the index lacks (a
        rebuild under way) are left out."""
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn().execute(
            f"SELECT rowid, context, body FROM chunks_fts WHERE rowid IN ({marks})",
            list(row_ids),
        )
        return {int(r[0]): frozenset(f"{r[1]} {r[2]}".split()) for r in rows}

    # -- writing (inside the Store's transaction) ----------------------------------------

    def add(self, conn: sqlite3.Connection, chunks: Sequence[tuple[int, str, str]]) -> None:
        """Index one document's chunks: (row id, heading path, text) each."""
        conn.executemany(columns.INSERT, columns.rows(chunks))

    def remove(self, conn: sqlite3.Connection, row_ids: Sequence[int]) -> None:
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in row_ids])

    def rebuild(self, conn: sqlite3.Connection) -> None:
        """The whole index again from the chunk rows, for this version of the analyzer."""
        # Dropped, not emptied: the columns may have changed with the version.
        conn.execute("DROP TABLE IF EXISTS chunks_vocab")
        conn.execute("DROP TABLE IF EXISTS chunks_fts")
        for statement in columns.CREATE:  # not executescript: it would commit
            conn.execute(statement)
        rows = conn.execute(
            "SELECT document_id, id, context, text FROM chunks ORDER BY document_id, ord"
        ).fetchall()
        for _, group in itertools.groupby(rows, key=lambda r: r[0]):
            self.add(conn, [(r[1], r[2], r[3]) for r in group])
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('analyzer_version', ?)", (columns.VERSION,)
        )
        # Rows keep their ids but not their lengths: readers' kept lengths are stale.
        conn.execute(
            "INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE"
            " SET value = CAST(value AS INTEGER) + 1",
            (bm25.EPOCH_KEY,),
        )

    def close(self) -> None:
        """Wait for a background read of the term counts: it has a connection of its own,
        closed before the store's files are left alone."""
        self.frequent_terms.wait(CLOSE_WAIT_S)


def _matched_postings(conn: sqlite3.Connection, term: str) -> Postings:
    """FTS5's bm25() of every row matching `term`. One row of two lists: fetching
    thousands of rows one by one costs more in Python than FTS5 takes to score them."""
    # LIMIT -1 keeps SQLite from flattening the subquery: bm25() works only directly on an
    # FTS5 scan.
    row = conn.execute(
        f"SELECT group_concat(r), group_concat(s) FROM (SELECT rowid AS r,"
        f" -{columns.BM25} AS s FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT -1)",
        (analyzer.fts_match([term]),),
    ).fetchone()
    if row is None or row[0] is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return np.fromstring(row[0], dtype=np.int64, sep=","), np.fromstring(row[1], sep=",")
