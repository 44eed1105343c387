"""Read-only queries over the store's SQLite tables (documents, chunks, keyword index)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore import analyzer, bm25, keywords
from vectorstore.cache import Memo
from vectorstore.schema import meta_value
from vectorstore.term_counts import FrequentTerms
from vectorstore.term_scores import Postings, TermScores, best
from vectorstore.types import DocumentInfo, StoredChunk

if TYPE_CHECKING:
    from numpy.typing import NDArray


# Query terms held by more than this share of chunks are left out of the keyword query
# when a rarer term remains. SciFact test nDCG@10 lexical / hybrid: all terms 0.7034 /
# 0.7444; share 0.3: 0.7037 / 0.7442; 0.2: 0.6999 / 0.7391; 0.1: 0.6841 / 0.7301.
COMMON_SHARE = 0.3
DF_CACHE_TERMS = 100_000
# And the rarest terms are kept only while their rows add up to this many: a term's scores
# cost time in proportion to its rows (~0.3 us each worked out by vectorstore.bm25, ~1 us
# from FTS5's bm25()), so this bounds a keyword query's first reading at any store size.
# SciFact test lexical / hybrid: 4,000 rows 0.6939 / 0.7343; 8,000 0.7035 / 0.7438; no
# budget 0.7037 / 0.7442. At 100k chunks p50 went 40 -> ~8 ms.
POSTING_BUDGET = 8000
# Start-up waits this long for the frequent terms' counts (vectorstore.term_counts).
WARM_WAIT_S = 5.0
# SQLite integers are signed 64-bit; a larger Python int raises OverflowError on binding.
_SQLITE_MAX_INT = 2**63 - 1


class StoreQueries:
    """The reading half of the Store; every method runs on the calling thread's connection."""

    folder: Path
    embedding_model: str
    dimension: int | None
    # The chunk count and term counts of one store generation (every write bumps it).
    _counted: tuple[int, int, Memo[str, int]] | None = None
    _term_scores: TermScores
    _frequent_terms: FrequentTerms
    _row_lengths: bm25.RowLengths
    _local: threading.local  # per thread: its connection, whether it has an occurrence table

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _connect(self) -> sqlite3.Connection:
        """A new connection of the caller's own, to close when done."""
        raise NotImplementedError

    def generation(self) -> int:
        raise NotImplementedError

    def get_info(self, doc_id: str) -> DocumentInfo | None:
        row = self._conn().execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else _info(row)

    def get_chunks(self, doc_id: str) -> list[StoredChunk]:
        rows = self._conn().execute(
            "SELECT * FROM chunks WHERE document_id = ? ORDER BY ord", (doc_id,)
        )
        return [_chunk(r) for r in rows]

    def list_documents(self, offset: int = 0, limit: int = 100) -> tuple[list[DocumentInfo], int]:
        conn = self._conn()
        total = int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        # An offset past SQLite's range is past every row: clamped, it returns none, where
        # bound as it is it raised OverflowError (a 500 from `GET /api/documents`).
        bounds = (min(limit, _SQLITE_MAX_INT), min(offset, _SQLITE_MAX_INT))
        sql = "SELECT * FROM documents ORDER BY id LIMIT ? OFFSET ?"
        rows = conn.execute(sql, bounds).fetchall()
        return [_info(r) for r in rows], total

    def all_documents(self) -> dict[str, DocumentInfo]:
        """Every stored document by id, in one query (ingest compares hashes against it)."""
        return {r["id"]: _info(r) for r in self._conn().execute("SELECT * FROM documents")}

    def stats(self) -> dict[str, Any]:
        conn = self._conn()
        size = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        return {
            "documents": int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]),
            "chunks": int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]),
            "embedding_model": self.embedding_model,
            "embedding_dimension": self.dimension,
            "store_path": str(self.folder),
            "store_bytes": size,
            "generation": self.generation(),
        }

    def fetch_chunks(self, row_ids: Sequence[int]) -> dict[int, tuple[StoredChunk, DocumentInfo]]:
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn().execute(
            f"SELECT c.id AS row_id, c.document_id, c.ord, c.text, c.context, c.metadata,"
            f" d.id, d.source, d.title, d.content_hash, d.chunk_count, d.ingested_at,"
            f" d.metadata AS doc_metadata FROM chunks c JOIN documents d ON d.id = c.document_id"
            f" WHERE c.id IN ({marks})",
            list(row_ids),
        )
        out = {}
        for r in rows:
            out[int(r["row_id"])] = (_chunk(r), _info(r, "doc_metadata"))
        return out

    def stored_coverage(self, row_ids: Sequence[int]) -> dict[int, float]:
        """The vocabulary coverage stored at ingest (vectorstore/vocab_coverage.py) of those rows
        that have one: a store written before it was stored has none, nor its chunks."""
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        try:
            rows = self._conn().execute(
                f"SELECT id, known FROM chunk_coverage WHERE id IN ({marks})", list(row_ids)
            )
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # an older store opened read-only
                return {}
            raise
        return {int(r[0]): float(r[1]) for r in rows}

    def embeddings(self, row_ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn().execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", list(row_ids)
        )
        return {int(r[0]): np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def keyword_terms(self, row_ids: Sequence[int]) -> dict[int, frozenset[str]]:
        """Each chunk's analyzer terms (heading and text) as the keyword index stores them:
        reading them back costs ~10 us a chunk, analysing the text again ~0.5 ms (stemming).
        Rows the index lacks (a rebuild under way) are left out."""
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn().execute(
            f"SELECT rowid, context, body FROM chunks_fts WHERE rowid IN ({marks})",
            list(row_ids),
        )
        return {int(r[0]): frozenset(f"{r[1]} {r[2]}".split()) for r in rows}

    def sample_embeddings(self, size: int, seed: int = 0) -> NDArray[np.float32]:
        """Up to `size` chunk vectors drawn at random (all of them if there are fewer):
        what an IVF index trains on, and the real vectors `ragqa bench` scales up from."""
        conn = self._conn()
        ids = np.array([r[0] for r in conn.execute("SELECT id FROM chunks")], dtype=np.int64)
        if len(ids) > size:
            ids = np.sort(np.random.default_rng(seed).choice(ids, size, replace=False))
        blobs: list[bytes] = []
        for start in range(0, len(ids), 500):  # under SQLite's limit on bound parameters
            part = ids[start : start + 500].tolist()
            marks = ",".join("?" * len(part))
            sql = f"SELECT embedding FROM chunks WHERE id IN ({marks})"
            blobs.extend(r[0] for r in conn.execute(sql, part))
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32)
        return vectors.reshape(len(blobs), -1) if blobs else vectors.reshape(0, 0)

    def lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the keyword index: (row id, score), best first; score > 0."""
        terms = self._selective(analyzer.query_terms(query))
        if not terms:
            return []
        postings = self._term_scores.get(self.generation(), terms, self._term_postings)
        return best(postings, limit)

    def _term_postings(self, term: str) -> Postings:
        """Every chunk holding `term` with its BM25 for that term alone, as FTS5 scores
        it: worked out from the term's occurrences (vectorstore.bm25), or asked of FTS5
        for a term that is not one token of its vocabulary."""
        conn = self._conn()
        worked_out = None
        if self._local.instances:  # set by _conn() for this thread's connection
            worked_out = bm25.term_postings(conn, self._row_lengths, term)
        return _matched_postings(conn, term) if worked_out is None else worked_out

    def warm_keywords(self) -> None:
        """Read now what the first keyword search would otherwise read: row lengths and
        the frequent terms' counts (0.57 s at 100k chunks; a store so large that they
        take longer than WARM_WAIT_S goes on reading them in the background)."""
        conn = self._conn()
        if self._local.instances:
            bm25.read_lengths(conn, self._row_lengths)
        self._frequent_terms.get(self.generation())
        self._frequent_terms.wait(WARM_WAIT_S)

    def _selective(self, terms: list[str]) -> list[str]:
        """The query's rarer terms: without those most chunks hold, and only as many of
        the rest, rarest first, as POSTING_BUDGET rows allow (always at least one).

        FTS5 computes bm25() for every row any term matches: at 100k chunks one common
        word ("cell") matches 40k rows and costs ~30 ms, while its IDF adds little.
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

    def _generation_counts(self) -> tuple[int, int, Memo[str, int]]:
        """The generation, its chunk count and a memo of its term counts. COUNT(*) walks
        a whole index (~2 ms at 100k chunks) and fts5vocab walks a term's postings (4 ms
        for "cell" at 100k), so neither is repeated per query."""
        counted = self._counted
        generation = self.generation()
        if counted is None or counted[0] != generation:
            total = int(self._conn().execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            counted = self._counted = (generation, total, Memo(DF_CACHE_TERMS))
        return counted

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each term (terms in none left out), and how many chunks
        there are. Frequent terms' counts come from one read of the whole vocabulary
        (vectorstore.term_counts) once it is in; the rest are asked of FTS5 per term."""
        generation, total, memo = self._generation_counts()
        frequent = self._frequent_terms.get(generation)
        if frequent is None:
            counts = memo.get(terms, self._count_terms)
        else:
            rare = [t for t in terms if t not in frequent]
            asked = dict(zip(rare, memo.get(rare, self._count_terms), strict=True))
            counts = [frequent[t] if t in frequent else asked[t] for t in terms]
        return {t: n for t, n in zip(terms, counts, strict=True) if n}, total

    def _read_frequent_terms(self, min_rows: int) -> tuple[int, dict[str, int]]:
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

    def _count_terms(self, terms: list[str]) -> list[int]:
        marks = ",".join("?" * len(terms))
        sql = f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})"
        rows = dict(self._conn().execute(sql, terms))
        return [int(rows.get(t, 0)) for t in terms]


def _matched_postings(conn: sqlite3.Connection, term: str) -> Postings:
    """FTS5's bm25() of every row matching `term`. One row of two lists: fetching
    thousands of rows one by one costs more in Python than FTS5 takes to score them."""
    # LIMIT -1 keeps SQLite from flattening the subquery: bm25() works only directly on an
    # FTS5 scan.
    row = conn.execute(
        f"SELECT group_concat(r), group_concat(s) FROM (SELECT rowid AS r,"
        f" -{keywords.BM25} AS s FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT -1)",
        (analyzer.fts_match([term]),),
    ).fetchone()
    if row is None or row[0] is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return np.fromstring(row[0], dtype=np.int64, sep=","), np.fromstring(row[1], sep=",")


def _info(row: sqlite3.Row, metadata: str = "metadata") -> DocumentInfo:
    return DocumentInfo(
        id=row["id"],
        source=row["source"],
        title=row["title"],
        content_hash=row["content_hash"],
        chunks=row["chunk_count"],
        ingested_at=row["ingested_at"],
        metadata=json.loads(row[metadata]),
    )


def _chunk(row: sqlite3.Row) -> StoredChunk:
    return StoredChunk(
        f"{row['document_id']}#{row['ord']}",
        row["document_id"],
        row["ord"],
        row["text"],
        row["context"],
        json.loads(row["metadata"]),
    )
