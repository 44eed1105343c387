"""`ragqa check`'s look at the derived indexes: the FTS5 keyword index and the FAISS file,
each against the chunk rows in SQLite they are built from."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from filelock import FileLock, Timeout

from vectorstore.dense import index_kinds
from vectorstore.dense.faiss_index import DenseIndex
from vectorstore.dense.index_kinds import IndexChoice
from vectorstore.keyword import columns
from vectorstore.store.store import INDEX_FILE
from vectorstore.types import Finding

if TYPE_CHECKING:
    from numpy.typing import NDArray

REPAIR = "--repair rebuilds it from SQLite"
WRITE_LOCK = "write.lock"  # the Store's WriteLock file, which every ragqa writer holds
# A stored vector further than this from unit length was not written by an embedder
# (they all normalise): a flipped bit, which integrity_check cannot see in a blob.
UNIT_TOLERANCE = 1e-3


def keyword_findings(conn: sqlite3.Connection, meta: dict[str, str], db: Path) -> list[Finding]:
    version = meta.get("analyzer_version")
    if version != columns.VERSION:
        return [
            Finding(
                "keyword rows",
                True,
                f"built by analyzer {version}; the store rebuilds it with {columns.VERSION} "
                "when it is next opened",
            )
        ]
    return [_keyword_rows(conn), _fts_integrity(db)]


def _keyword_rows(conn: sqlite3.Connection) -> Finding:
    """One FTS row per chunk, holding what columns.rows makes of the chunk today."""
    missing, first_missing = conn.execute(
        "SELECT COUNT(*), MIN(id) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_fts)"
    ).fetchone()
    extra, first_extra = conn.execute(
        "SELECT COUNT(*), MIN(rowid) FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks)"
    ).fetchone()
    selected = ", ".join(f"f.{c}" for c in columns.COLUMNS)
    joined = conn.execute(
        f"SELECT c.document_id, c.id, c.context, c.text, {selected} FROM chunks c"
        " LEFT JOIN chunks_fts f ON f.rowid = c.id ORDER BY c.document_id, c.ord"
    )
    differ, first_differ = 0, None
    for _, group in itertools.groupby(joined, key=lambda r: r[0]):
        rows = list(group)
        expected = columns.rows([(r[1], r[2], r[3]) for r in rows])
        for row, want in zip(rows, expected, strict=True):
            if row[4] is not None and tuple(row[4:]) != want[1:]:
                differ += 1
                first_differ = first_differ or row[1]
    problems = []
    if missing:
        problems.append(f"{missing} chunks have no keyword row (e.g. chunk {first_missing})")
    if extra:
        problems.append(f"{extra} keyword rows belong to no chunk (e.g. row {first_extra})")
    if differ:
        problems.append(f"{differ} keyword rows differ from their chunk (e.g. {first_differ})")
    if problems:
        return Finding("keyword rows", False, "; ".join(problems) + f"; {REPAIR}", True)
    return Finding("keyword rows", True, "one row per chunk, each matching its chunk's text")


def _fts_integrity(db: Path) -> Finding:
    """FTS5's own integrity-check: its inverted index against the text it holds.

    FTS5 runs it as an INSERT, which the read-only connection refuses, so a second,
    writable connection runs it in a transaction that is rolled back. That connection
    closes while the read-only one is still open, so it is never the last one and does
    not checkpoint the WAL into the database file on its way out. It holds SQLite's write
    lock while it runs (seconds on a large store), so it runs only while no ragqa writer
    holds the store's lock: an ingest is never made to wait on a check.
    """
    name = "keyword index"
    lock = FileLock(str(db.parent / WRITE_LOCK))
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError) as exc:
        why = "a writer holds the store" if isinstance(exc, Timeout) else str(exc)
        return Finding(name, True, f"FTS5 integrity-check not run: {why}")
    try:
        rw = sqlite3.connect(f"file:{db}?mode=rw", uri=True, isolation_level=None, timeout=30)
        try:
            rw.execute("BEGIN")
            rw.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        finally:
            if rw.in_transaction:
                rw.execute("ROLLBACK")
            rw.close()
    except sqlite3.DatabaseError as exc:
        if "readonly" in str(exc) or "locked" in str(exc) or "unable to open" in str(exc):
            return Finding(name, True, f"FTS5 integrity-check not run: {exc}")
        return Finding(name, False, f"FTS5 integrity-check: {exc}; {REPAIR}", True)
    finally:
        lock.release()
    return Finding(name, True, "FTS5 integrity-check: ok")


def dense_findings(
    conn: sqlite3.Connection, meta: dict[str, str], folder: Path, index_kind: IndexChoice
) -> list[Finding]:
    """The stored vectors, the saved FAISS file, and the index a Store would search."""
    if meta.get("embedding_dimension") is None:
        leftover = " (a leftover dense.faiss is ignored)" if (folder / INDEX_FILE).exists() else ""
        return [Finding("dense index", True, f"none: the store holds no vectors{leftover}")]
    dimension = int(meta["embedding_dimension"])
    generation = int(meta.get("generation", "0"))
    ids = np.array([r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY id")], np.int64)
    saved, file_finding = _saved_file(folder / INDEX_FILE, dimension, generation, index_kind)
    reference = None
    if saved is not None:
        file_ids = saved.ids()
        order = np.argsort(file_ids, kind="stable")
        if np.array_equal(file_ids[order], ids):
            vectors = saved.flat_vectors()
            reference = None if vectors is None else vectors[order]
        else:
            file_finding = _id_mismatch(file_ids, ids, generation)
    embeddings, differ = _embeddings(conn, dimension, reference)
    if saved is not None and file_finding is None:
        if differ:
            file_finding = Finding(
                "dense file",
                False,
                f"claims generation {generation} but {differ} of its vectors differ from "
                f"SQLite's; the store would search it as it is: {REPAIR}",
                True,
            )
        else:
            what = "ids and vectors" if reference is not None else "ids"
            file_finding = Finding(
                "dense file",
                True,
                f"current (generation {generation}, {len(saved)} vectors, {saved.kind}): "
                f"{what} match SQLite",
            )
    assert file_finding is not None
    if saved is not None:
        serves = "the saved file" + (" (above)" if file_finding.ok else ", which disagrees")
        on_open = Finding("dense on open", file_finding.ok, f"loads {serves}", True)
    elif embeddings.ok:
        on_open = Finding("dense on open", True, f"built from SQLite's {len(ids)} embeddings")
    else:
        on_open = Finding("dense on open", False, "a build from SQLite meets the bad embeddings")
    return [embeddings, file_finding, on_open]


def _saved_file(
    path: Path, dimension: int, generation: int, index_kind: IndexChoice
) -> tuple[DenseIndex | None, Finding | None]:
    """The saved index when a Store would use it as it is (then the caller compares it
    with SQLite), or else why the Store passes it over and rebuilds."""
    name = "dense file"
    rebuilt = "the store rebuilds it from SQLite on open"
    if not path.exists():
        return None, Finding(name, True, f"none saved; {rebuilt}")
    loaded = DenseIndex.load(path, dimension)  # the Store's own loader: what it would accept
    if loaded is None:
        import faiss

        try:
            faiss.read_index(str(path))
        except RuntimeError as exc:
            # A SIGKILL cannot do this (saves go through a temporary file and a rename):
            # the file was damaged on disk, so the disk deserves a look too.
            reason = str(exc).strip().splitlines()[0]
            return None, Finding(name, False, f"unreadable ({reason}); {REPAIR}", True)
        sidecar = path.with_suffix(".json").name
        return None, Finding(
            name,
            True,
            f"passed over (another shape, or {sidecar} missing or from another save, as a "
            f"save cut short leaves it); {rebuilt}",
        )
    if loaded.generation != generation:
        return None, Finding(
            name, True, f"stale (generation {loaded.generation}, store at {generation}); {rebuilt}"
        )
    if not index_kinds.suits(loaded.kind, loaded.built_for, len(loaded), index_kind):
        return None, Finding(
            name, True, f"a {loaded.kind} index that no longer suits its size; {rebuilt}"
        )
    return loaded, None


def _id_mismatch(file_ids: NDArray[np.int64], ids: NDArray[np.int64], generation: int) -> Finding:
    missing = np.setdiff1d(ids, file_ids).size
    extra = np.setdiff1d(file_ids, ids).size
    repeated = file_ids.size - np.unique(file_ids).size
    return Finding(
        "dense file",
        False,
        f"claims generation {generation} but holds {file_ids.size} vectors for {ids.size} "
        f"chunks ({missing} missing, {extra} not in SQLite, {repeated} repeated); the store "
        f"would search it as it is: {REPAIR}",
        True,
    )


def _embeddings(
    conn: sqlite3.Connection, dimension: int, reference: NDArray[np.float32] | None
) -> tuple[Finding, int]:
    """Every stored vector: its size, finite, unit length; and how many differ from
    `reference` (the saved flat index's vectors in chunk id order), if given."""
    bad: dict[str, int] = {"of the wrong size": 0, "not finite": 0, "not of unit length": 0}
    first_bad: int | None = None
    differ = position = 0
    cursor = conn.execute("SELECT id, embedding FROM chunks ORDER BY id")
    while rows := cursor.fetchmany(4096):
        sized = [n for n, r in enumerate(rows) if len(r[1]) == 4 * dimension]
        if len(sized) < len(rows):
            bad["of the wrong size"] += len(rows) - len(sized)
            first_bad = first_bad or next(r[0] for r in rows if len(r[1]) != 4 * dimension)
        vectors = np.frombuffer(b"".join(rows[n][1] for n in sized), np.float32)
        vectors = vectors.reshape(len(sized), dimension)
        finite = np.asarray(np.isfinite(vectors).all(axis=1), dtype=bool)
        norms = np.linalg.norm(np.where(finite[:, None], vectors, 0), axis=1)
        off_unit = finite & (np.abs(norms - 1) > UNIT_TOLERANCE)
        for label, flags in (("not finite", ~finite), ("not of unit length", off_unit)):
            if flags.any():
                bad[label] += int(flags.sum())
                first_bad = first_bad or rows[sized[int(np.argmax(flags))]][0]
        if reference is not None:
            expected = reference[position + np.array(sized, dtype=np.int64)]
            differ += int((expected != vectors).any(axis=1).sum())
        position += len(rows)
    problems = [f"{n} {label}" for label, n in bad.items() if n]
    if problems:
        doc = conn.execute("SELECT document_id FROM chunks WHERE id = ?", (first_bad,)).fetchone()
        return Finding(
            "embeddings",
            False,
            f"{', '.join(problems)} (e.g. chunk {first_bad} of {doc[0]!r}); these are the "
            "source of truth: re-ingest the documents holding them",
        ), differ
    ok = Finding("embeddings", True, f"{position} vectors of {dimension} floats, unit length")
    return ok, differ
