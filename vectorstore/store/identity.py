"""Which embedding model built a store: checked on open, recorded by the first write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vectorstore.store.schema import meta_value
from vectorstore.types import EmbeddingMismatchError


def check_model(
    conn: sqlite3.Connection, folder: Path, model: str, dimension: int | None
) -> int | None:
    """The store's vector dimension, once the embedder is known to be the one that built
    it; an EmbeddingMismatchError that says what to do when it is not."""
    stored = meta_value(conn, "embedding_model")
    if stored is not None and stored != model:
        raise EmbeddingMismatchError(
            f"the store at {folder} was built with embedding model {stored!r}, "
            f"not {model!r}. Set RAGQA_EMBEDDING_MODEL={stored} to use it, or re-embed it "
            f"with the new model: `ragqa export store.jsonl --store {folder}`, then "
            f"`ragqa import store.jsonl --store NEW_FOLDER --embedding-model {model}` "
            "(or ingest your files into a new folder)."
        )
    stored_dim = meta_value(conn, "embedding_dimension")
    if stored_dim is None:
        return dimension
    if dimension is not None and int(stored_dim) != dimension:
        raise EmbeddingMismatchError(
            f"the store at {folder} holds {stored_dim}-d vectors but the embedder "
            f"makes {dimension}-d ones; delete the folder and re-ingest"
        )
    return int(stored_dim)


def record_model(conn: sqlite3.Connection, model: str, dimension: int) -> None:
    """Name the model and dimension in the store (kept if already there: the first write
    decides, and `check_model` has refused any other)."""
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('embedding_model', ?)", (model,))
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('embedding_dimension', ?)", (str(dimension),))
