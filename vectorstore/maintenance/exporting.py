"""`ragqa export` / `ragqa import`: a whole store in one file, and back, without re-embedding.

The file is gzip-compressed JSON Lines, UTF-8 (a plain, uncompressed copy imports too):

    {"format": "ragqa-export", "version": 1, "embedding_model": str|null,
     "dimension": int|null, "documents": N, "chunks": M, "exported_at": ISO-8601}
    {"id", "source", "title", "content_hash", "metadata", "ingested_at",
     "chunks": [{"text", "context", "metadata", "embedding"}, ...]}     (N lines)
    {"end": true, "documents": N, "chunks": M}

`embedding` is the vector's little-endian float32 bytes in base64. The closing line makes
a file cut at a line boundary (which gzip alone may not notice) an error. Documents come in
the order their chunks were first written, so an import numbers rows in the same order and
FAISS breaks score ties the same way. The keyword and FAISS indexes are not exported: they
are derived, and rebuilt from the chunks.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from vectorstore.store.readonly import meta, open_readonly
from vectorstore.types import StoreError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from vectorstore.milvus.store import MilvusStore

FORMAT = "ragqa-export"
VERSION = 1


class ExportFormatError(StoreError):
    """The file is not a ragqa export this version reads, or it is damaged."""


@dataclass(frozen=True)
class ExportHeader:
    embedding_model: str | None
    dimension: int | None
    documents: int
    chunks: int


def export_store(folder: Path, out: Path) -> ExportHeader:
    """Write the store in `folder` to `out` from one read snapshot (a concurrent ingest
    is neither waited for nor half-seen). `out` appears only once complete."""
    conn = open_readonly(folder)
    tmp = out.with_name(out.name + ".partial")
    try:
        conn.execute("BEGIN")
        values = meta(conn)
        dim = values.get("embedding_dimension")
        header = ExportHeader(
            values.get("embedding_model"),
            int(dim) if dim is not None else None,
            int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]),
            int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]),
        )
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            _write_line(f, {"format": FORMAT, "version": VERSION, **_header_fields(header)})
            for doc in _stored_documents(conn):
                _write_line(f, doc)
            _write_line(f, {"end": True, "documents": header.documents, "chunks": header.chunks})
        os.replace(tmp, out)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a missing folder, a full disk: a message, no trace
            raise StoreError(f"cannot write {out}: {exc}") from exc
        if isinstance(exc, sqlite3.DatabaseError | ValueError):  # damage, or bad metadata JSON
            raise StoreError(f"reading {folder} failed: {exc}; `ragqa check` says more") from exc
        raise
    finally:
        conn.close()
    return header


def export_milvus(store: MilvusStore, out: Path) -> ExportHeader:
    """Write a store in Milvus to `out`, a document at a time (each read as one version:
    Milvus has no snapshot, so a document written meanwhile may or may not be in it). The
    header must count what follows, so the documents go to a scratch file first."""
    tmp = out.with_name(out.name + ".partial")
    body = out.with_name(out.name + ".body")
    documents = chunks = 0
    try:
        with body.open("w", encoding="utf-8") as f:
            for doc_id in sorted(store.all_documents()):
                found = store.document_rows(doc_id)
                if found is not None:  # else deleted since listed
                    info, stored = found
                    rows = (
                        (c.text, c.context, c.metadata, np.asarray(v, np.float32).tobytes())
                        for c, v in stored
                    )
                    _write_line(f, _record(asdict(info), rows))
                    documents += 1
                    chunks += len(stored)
        model = store.embedding_model if store.dimension else None
        header = ExportHeader(model, store.dimension, documents, chunks)
        with gzip.open(tmp, "wt", encoding="utf-8") as f, body.open(encoding="utf-8") as lines:
            _write_line(f, {"format": FORMAT, "version": VERSION, **_header_fields(header)})
            for line in lines:
                f.write(line)
            _write_line(f, {"end": True, "documents": documents, "chunks": chunks})
        os.replace(tmp, out)
    except OSError as exc:
        raise StoreError(f"cannot write {out}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        body.unlink(missing_ok=True)
    return header


_DOCUMENT_FIELDS = ("id", "source", "title", "content_hash", "metadata", "ingested_at")


def _record(
    document: Mapping[str, Any], chunks: Iterable[tuple[str, str, dict[str, Any], bytes]]
) -> dict[str, Any]:
    """A document's line: its fields, and each chunk's (text, heading path, metadata, raw
    float32 vector)."""
    return {
        **{key: document[key] for key in _DOCUMENT_FIELDS},
        "chunks": [
            {
                "text": text,
                "context": context,
                "metadata": metadata,
                "embedding": base64.b64encode(vector).decode("ascii"),
            }
            for text, context, metadata, vector in chunks
        ],
    }


def _header_fields(header: ExportHeader) -> dict[str, Any]:
    return {
        "embedding_model": header.embedding_model,
        "dimension": header.dimension,
        "documents": header.documents,
        "chunks": header.chunks,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _write_line(f: IO[str], record: dict[str, Any]) -> None:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _stored_documents(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    docs = conn.execute(
        "SELECT d.*, (SELECT MIN(c.id) FROM chunks c WHERE c.document_id = d.id) AS first"
        " FROM documents d ORDER BY first IS NULL, first, d.id"
    )
    for d in docs:
        chunks = conn.execute(
            "SELECT text, context, metadata, embedding FROM chunks WHERE document_id = ?"
            " ORDER BY ord",
            (d["id"],),
        )
        document = {**dict(d), "metadata": json.loads(d["metadata"])}
        rows = ((c[0], c[1], json.loads(c[2]), c[3]) for c in chunks)
        yield _record(document, rows)


# -- reading ------------------------------------------------------------------------------


def read_header(path: Path) -> ExportHeader:
    """The first line, checked: a clear error for a file that is no export of ours."""
    for _, record in _records(path):
        if record.get("format") != FORMAT:
            raise ExportFormatError(
                f"{path} is not a ragqa export (its first line names no format {FORMAT!r}); "
                "make one with `ragqa export FILE`"
            )
        if record.get("version") != VERSION:
            raise ExportFormatError(
                f"{path} is a ragqa export of format version {record.get('version')!r}; "
                f"this ragqa reads version {VERSION}"
            )
        try:
            dim = record["dimension"]
            return ExportHeader(
                _optional_str(record["embedding_model"]),
                None if dim is None else _positive(dim),
                _count(record["documents"]),
                _count(record["chunks"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportFormatError(f"{path}: line 1 is a damaged header ({exc})") from exc
    raise ExportFormatError(f"{path} is empty, not a ragqa export")


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every line; any damage becomes an ExportFormatError."""
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ExportFormatError(
                        f"{path}: line {number} is not JSON ({exc.msg}); "
                        + ("not a ragqa export" if number == 1 else "the file is damaged")
                    ) from exc
                if not isinstance(record, dict):
                    raise ExportFormatError(f"{path}: line {number} is not a JSON object")
                yield number, record
    except FileNotFoundError as exc:
        raise ExportFormatError(f"{path} does not exist") from exc
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        # gzip.BadGzipFile is an OSError; EOFError is a gzip stream cut short.
        raise ExportFormatError(f"{path} is truncated or damaged: {exc}") from exc


@dataclass(frozen=True)
class ExportedDocument:
    id: str
    source: str
    title: str | None
    content_hash: str
    metadata: dict[str, Any]
    ingested_at: str | None
    texts: list[tuple[str, str, dict[str, Any]]]  # (text, context, metadata) per chunk
    embeddings: NDArray[np.float32]


def read_documents(path: Path) -> Iterator[ExportedDocument]:
    """Every document, checked line by line; the closing line's counts are checked last,
    so a consumer must read to the end before it may trust what it has taken."""
    header = read_header(path)
    seen: set[str] = set()
    chunks = 0
    end: dict[str, Any] | None = None
    for number, record in _records(path):
        if number == 1:
            continue
        if end is not None:
            raise ExportFormatError(f"{path}: line {number} follows the closing line")
        if record.get("end") is True:
            end = record
            continue
        try:
            doc = _document(record, header.dimension)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ExportFormatError(f"{path}: line {number} is a damaged document ({exc})") from exc
        if doc.id in seen:
            raise ExportFormatError(f"{path}: line {number} repeats document {doc.id!r}")
        seen.add(doc.id)
        chunks += len(doc.texts)
        yield doc
    counted = {"documents": len(seen), "chunks": chunks}
    if end is None:
        raise ExportFormatError(f"{path} is truncated: it has no closing line")
    expected = {"documents": header.documents, "chunks": header.chunks}
    closing = {k: end.get(k) for k in counted}
    if not counted == expected == closing:
        raise ExportFormatError(
            f"{path} is damaged: it holds {counted}, its header says {expected} and its "
            f"closing line {closing}"
        )


def verify_export(path: Path) -> ExportHeader:
    """Read the whole file as an import would, writing nothing: its header once every
    line and the closing counts have checked out."""
    for _ in read_documents(path):
        pass
    return read_header(path)


def _document(record: dict[str, Any], dimension: int | None) -> ExportedDocument:
    texts: list[tuple[str, str, dict[str, Any]]] = []
    blobs: list[bytes] = []
    for chunk in record["chunks"]:
        texts.append((_str(chunk["text"]), _str(chunk["context"]), _dict(chunk["metadata"])))
        blob = base64.b64decode(_str(chunk["embedding"]), validate=True)
        if dimension is None or len(blob) != 4 * dimension:
            raise ValueError(f"a {len(blob)}-byte embedding where {dimension}-d is declared")
        blobs.append(blob)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32)
    return ExportedDocument(
        _str(record["id"]),
        _str(record["source"]),
        _optional_str(record["title"]),
        _str(record["content_hash"]),
        _dict(record["metadata"]),
        _optional_str(record["ingested_at"]),
        texts,
        vectors.reshape(len(texts), dimension or 0),
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a count, got {value!r}")
    return value


def _positive(value: Any) -> int:
    if _count(value) == 0:
        raise ValueError("a dimension of 0")
    return int(value)
