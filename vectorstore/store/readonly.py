"""An existing store's database opened read-only, for `ragqa check` and `ragqa export`:
both must fail on a missing store rather than create one, and change nothing in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vectorstore.store.schema import SCHEMA_VERSION, connect
from vectorstore.store.store import DB_FILE
from vectorstore.types import StoreError


class StoreUnavailableError(StoreError):
    """No store at the path, or not one this version can read (the CLI exits 2)."""


def open_readonly(folder: Path) -> sqlite3.Connection:
    """A read-only connection to the store in `folder`, after checking it is one."""
    db = Path(folder) / DB_FILE
    if not db.is_file():
        raise StoreUnavailableError(f"no store at {folder}: {db} does not exist")
    try:
        conn = connect(db, readonly=True)
        # Belt and braces: mode=ro already refuses writes; query_only also refuses them
        # should the URI ever lose its mode.
        conn.execute("PRAGMA query_only = ON")
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailableError(f"{db} is not a readable ragqa store: {exc}") from exc
    if version is None or version[0] != SCHEMA_VERSION:
        found = "none" if version is None else repr(version[0])
        conn.close()
        raise StoreUnavailableError(
            f"{db} has schema version {found}; this ragqa reads version {SCHEMA_VERSION!r}"
        )
    return conn


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def recorded_model(folder: Path) -> tuple[str | None, int | None]:
    """The embedding model and dimension a store records; (None, None) for no store yet
    or one that has never stored a vector."""
    if not (Path(folder) / DB_FILE).is_file():
        return None, None
    conn = open_readonly(folder)
    try:
        values = meta(conn)
    finally:
        conn.close()
    dim = values.get("embedding_dimension")
    return values.get("embedding_model"), int(dim) if dim is not None else None
