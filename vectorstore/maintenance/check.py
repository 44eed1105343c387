"""`ragqa check`: whether a store's SQLite tables, keyword index and FAISS file agree.

It reads one snapshot through a read-only connection, takes no lock and changes nothing:
a check that quietly healed what it found (as opening a Store may) could never report it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vectorstore.dense.index_kinds import IndexChoice
from vectorstore.maintenance import check_indexes
from vectorstore.store.readonly import meta, open_readonly
from vectorstore.store.schema import SCHEMA_VERSION
from vectorstore.store.store import DB_FILE, Store
from vectorstore.types import Finding


def check_store(
    folder: Path,
    index_kind: IndexChoice = "auto",
    configured_model: str | None = None,
) -> list[Finding]:
    """Every check, in order; raises StoreUnavailableError when there is no store to read.
    `configured_model`, if given, is compared with the recorded one (a note, not a fault:
    the store is sound, the service just refuses to open it under another model)."""
    conn = open_readonly(folder)
    try:
        conn.execute("BEGIN")  # one snapshot: a concurrent writer's commits stay invisible
        sqlite = _integrity(conn)
        if not sqlite.ok:
            return [sqlite]  # later queries would read damaged pages: say only this
        values = meta(conn)
        findings = [sqlite, _model(conn, values, configured_model), _documents(conn)]
        findings += check_indexes.keyword_findings(conn, values, Path(folder) / DB_FILE)
        findings += check_indexes.dense_findings(conn, values, Path(folder), index_kind)
        return findings
    except sqlite3.DatabaseError as exc:
        # Damage integrity_check did not see (it skips virtual tables' own structures).
        return [Finding("sqlite", False, f"reading the store failed: {exc}")]
    finally:
        conn.close()


def repair_store(folder: Path, index_kind: IndexChoice = "auto") -> None:
    """Rebuild the keyword index and the saved FAISS file from the chunk rows, under the
    store's write lock. The documents and chunks themselves are never changed."""
    conn = open_readonly(folder)
    try:
        values = meta(conn)
    finally:
        conn.close()
    dimension = values.get("embedding_dimension")
    # The recorded model, whatever is configured: repair must not trip the model guard.
    model = values.get("embedding_model", "unrecorded")
    store = Store(folder, model, int(dimension) if dimension else None, index_kind)
    try:
        with store.writer():
            store.rebuild_indexes()
    finally:
        store.close()


def _integrity(conn: sqlite3.Connection) -> Finding:
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    if rows == ["ok"]:
        return Finding("sqlite", True, "PRAGMA integrity_check: ok")
    shown = "; ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
    return Finding(
        "sqlite",
        False,
        f"PRAGMA integrity_check: {shown}. The source of truth itself is damaged, which "
        "--repair cannot mend: restore a backup or an export (`ragqa import`)",
    )


def _model(conn: sqlite3.Connection, values: dict[str, str], configured: str | None) -> Finding:
    model, dim = values.get("embedding_model"), values.get("embedding_dimension")
    chunks = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    if model is None or dim is None:
        if chunks:
            return Finding("model", False, f"{chunks} chunks but no embedding model recorded")
        return Finding("model", True, "none recorded yet (no vectors stored)")
    if not dim.isdigit() or int(dim) <= 0:
        return Finding("model", False, f"recorded dimension {dim!r} is not a positive integer")
    detail = f"{model}, {dim}-d (schema {SCHEMA_VERSION})"
    if configured is not None and configured != model:
        detail += (
            f"; note: the configured model is {configured!r}, so search and serve refuse "
            f"this store until RAGQA_EMBEDDING_MODEL={model}"
        )
    return Finding("model", True, detail)


def _documents(conn: sqlite3.Connection) -> Finding:
    docs = int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    chunks = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    problems: list[str] = []
    # chunk_count is what the document list shows; ords must run 0..n-1 for citations.
    uneven = conn.execute(
        "SELECT d.id FROM documents d LEFT JOIN chunks c ON c.document_id = d.id"
        " GROUP BY d.id HAVING d.chunk_count != COUNT(c.id)"
        " OR (COUNT(c.id) > 0 AND (MIN(c.ord) != 0 OR MAX(c.ord) != COUNT(c.id) - 1))"
    ).fetchall()
    if uneven:
        problems.append(
            f"{len(uneven)} documents whose chunk_count or chunk order disagrees with their "
            f"chunks (e.g. {uneven[0][0]!r})"
        )
    orphans = conn.execute("PRAGMA foreign_key_check(chunks)").fetchall()
    if orphans:
        problems.append(f"{len(orphans)} chunks of no stored document (e.g. row {orphans[0][1]})")
    bad_json = int(
        conn.execute(
            "SELECT (SELECT COUNT(*) FROM documents WHERE NOT json_valid(metadata))"
            " + (SELECT COUNT(*) FROM chunks WHERE NOT json_valid(metadata))"
        ).fetchone()[0]
    )
    if bad_json:
        problems.append(f"{bad_json} rows whose metadata is not valid JSON")
    if problems:
        return Finding("documents", False, "; ".join(problems) + "; re-ingest the documents named")
    return Finding("documents", True, f"{docs} documents, {chunks} chunks, all consistent")
