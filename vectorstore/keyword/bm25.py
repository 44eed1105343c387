"""One term's BM25 over the keyword index, worked out in numpy from FTS5's own counts.

Asking FTS5 for `bm25()` of every row a term matches pays an auxiliary function call and
a score formatted as text for each row; reading the same term's occurrences from an
`fts5vocab` 'instance' table and the row lengths from FTS5's `docsize` table costs a
fraction of that (docs/retrieval.md), and the arithmetic below is FTS5's own
(`fts5Bm25Function`: k1 1.2, b 0.75, IDF floored at 1e-6, weighted term counts, the
row's tokens over the table's mean), operation for operation, so the scores are the same
doubles. The lengths are read once and kept: a row's length never changes (an edit makes
new rows; only a keyword-index rebuild rewrites rows, and it bumps `EPOCH_KEY`).

The averages record and the docsize blobs are FTS5's internal format, not its documented
interface. They are read only under an FTS5 format version this module knows, and each
is checked for the shape it expects; otherwise `term_postings` answers None and the
keyword index asks FTS5's own bm25() (docs/retrieval.md).
"""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.keyword import columns
from vectorstore.store.schema import meta_value

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from vectorstore.keyword.term_scores import Postings

log = logging.getLogger("ragqa")

K1, B = 1.2, 0.75  # FTS5's constants (fts5_aux.c)
IDF_FLOOR = 1e-6
# meta key a keyword-index rebuild increments: row lengths read before it are stale.
EPOCH_KEY = "keywords_epoch"
# Per connection (TEMP): a read-only store cannot gain a table, and the vocabulary
# table reads the index by name on every query, so a rebuilt index is still the one read.
CREATE_INSTANCES = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_instances"
    " USING fts5vocab(main, chunks_fts, 'instance')"
)
_COLUMNS = len(columns.COLUMNS)
_WEIGHTS = np.array(columns.WEIGHTS, dtype=np.float64)
# Each occurrence as one integer, row * columns + column index: one list to read, not two.
# A CASE on the column's name costs SQLite one comparison until it matches, where a sum of
# `i * (col = name)` makes every comparison and product.
_CODE = (
    f"doc * {_COLUMNS} + CASE col "
    + " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(columns.COLUMNS))
    + " END"
)
_OCCURRENCES = f"SELECT group_concat({_CODE}) FROM temp.chunks_instances WHERE term = ?"
# FTS5's on-disk format versions whose averages record and docsize blobs this reads: the
# `version` row of the %_config table, 4, or 5 once secure-delete has been on (it changes
# leaf pages only; fts5Int.h). A SQLite that writes another is scored by bm25() itself.
KNOWN_VERSIONS = frozenset({4, 5})
# FTS5's averages record (the row count, then each column's token total) and the format
# version it is written in, in one statement.
_AVERAGES = (
    "SELECT (SELECT block FROM chunks_fts_data WHERE id = 1),"
    " (SELECT v FROM chunks_fts_config WHERE k = 'version')"
)
SMALL_BLOB = 64  # bytes of varints decoded without numpy


def open_instances(conn: sqlite3.Connection) -> bool:
    """Make the connection's occurrence table; False where it cannot have one (a
    connection set `query_only`), whose terms FTS5 then scores itself."""
    try:
        conn.execute(CREATE_INSTANCES)
    except sqlite3.OperationalError:
        return False
    return True


class UnknownFormatError(Exception):
    """FTS5's internal records are not laid out as this module reads them."""


class RowLengths:
    """Every keyword-index row's token count (all columns), by row id, shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch: str | None = None
        self._lengths = np.zeros(0, dtype=np.int32)
        self._read_to = 0  # rows with a larger id have not been read

    def get(self, conn: sqlite3.Connection, epoch: str, up_to: int) -> NDArray[np.int32]:
        """Lengths indexed by row id, covering every row up to `up_to`, read in the
        caller's transaction (so rows it sees are rows read here)."""
        with self._lock:
            if epoch != self._epoch:
                self._epoch, self._lengths, self._read_to = epoch, np.zeros(0, np.int32), 0
            if up_to > self._read_to:
                self._read_after(conn, self._read_to)
            return self._lengths

    def _read_after(self, conn: sqlite3.Connection, last: int) -> None:
        rows = conn.execute(
            "SELECT id, sz FROM chunks_fts_docsize WHERE id > ? ORDER BY id", (last,)
        ).fetchall()
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        counts = varints(b"".join(r[1] for r in rows))
        if len(counts) != len(rows) * _COLUMNS:  # a token count per column, nothing else
            raise UnknownFormatError("docsize blobs that are not one count a column")
        sizes = counts.reshape(len(rows), _COLUMNS).sum(axis=1)
        grown = np.zeros(int(ids[-1]) + 1, dtype=np.int32)
        grown[: len(self._lengths)] = self._lengths
        grown[ids] = sizes
        self._lengths, self._read_to = grown, int(ids[-1])


def term_postings(conn: sqlite3.Connection, lengths: RowLengths, term: str) -> Postings | None:
    """(row ids ascending, BM25 of `term` alone), exactly as FTS5's bm25() scores each row;
    None where the vocabulary has no such token (a term FTS5 would split into a phrase) or
    FTS5's records are not in a format read here: bm25() then scores the term."""
    with _snapshot(conn):  # occurrences, lengths and averages agree
        found = conn.execute(_OCCURRENCES, (term,)).fetchone()[0]
        if found is None:
            return None
        codes = np.fromstring(found, dtype=np.int64, sep=",")
        block, version = conn.execute(_AVERAGES).fetchone()
        if version not in KNOWN_VERSIONS:
            _falls_back(f"FTS5 format version {version}")
            return None
        averages = varints(block or b"")
        if len(averages) != 1 + _COLUMNS:  # the row count, then a total per column
            _falls_back(f"an averages record of {len(averages)} counts")
            return None
        # Occurrences come ordered by row, then column, then offset.
        rows = codes // _COLUMNS
        try:
            row_length = lengths.get(conn, _epoch(conn), int(rows[-1]))
        except UnknownFormatError as exc:
            _falls_back(str(exc))
            return None
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    hit_rows = rows[starts]
    freq = np.add.reduceat(_WEIGHTS[codes % _COLUMNS], starts)
    total_rows, total_tokens = int(averages[0]), int(averages[1:].sum())
    idf = math.log((total_rows - len(hit_rows) + 0.5) / (len(hit_rows) + 0.5))
    idf = idf if idf > 0.0 else IDF_FLOOR
    avgdl = total_tokens / total_rows
    size = row_length[hit_rows].astype(np.float64)
    scores = idf * ((freq * (K1 + 1.0)) / (freq + K1 * (1 - B + B * size / avgdl)))
    return hit_rows, scores


def read_lengths(conn: sqlite3.Connection, lengths: RowLengths) -> None:
    """Read every row's length now, at start-up, not on the first search."""
    with _snapshot(conn):
        last = conn.execute("SELECT max(id) FROM chunks_fts_docsize").fetchone()[0]
        try:
            lengths.get(conn, _epoch(conn), int(last or 0))
        except UnknownFormatError as exc:
            _falls_back(str(exc))


@functools.cache
def _falls_back(reason: str) -> None:
    """Say once per reason that FTS5 scores the terms: slower, its scores to 15 digits."""
    log.warning("keyword scores asked of FTS5's bm25(): its index has %s", reason)


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        yield
    finally:
        if began:
            conn.execute("COMMIT")


def _epoch(conn: sqlite3.Connection) -> str:
    return meta_value(conn, EPOCH_KEY) or "0"


def varints(blob: bytes) -> NDArray[np.int64]:
    """SQLite's big-endian base-128 varints, back to back, as FTS5 writes its counts.
    Counts of tokens and rows stay far below 2**56, so the 9-byte form never occurs."""
    if len(blob) <= SMALL_BLOB:
        # The averages record, read for every new term, is a few bytes: a plain loop
        # decodes it faster than numpy's per-call overheads allow.
        out: list[int] = []
        value = 0
        for byte in blob:
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                out.append(value)
                value = 0
        return np.array(out, dtype=np.int64)
    data = np.frombuffer(blob, dtype=np.uint8)
    ends = np.flatnonzero(data < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    sizes = ends - starts + 1
    values = np.zeros(len(ends), dtype=np.int64)
    for k in range(int(sizes.max()) if len(sizes) else 0):
        more = sizes > k
        values[more] = (values[more] << 7) | (data[starts[more] + k] & 0x7F)
    return values
