"""Uploaded files -> documents, through the same loaders and pipeline as the CLI."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath, PureWindowsPath

from ingest.document import Document, LoaderError, UnsupportedContent
from ingest.loaders import load_file
from ingest.pipeline import DocResult, Pipeline


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


class UploadError(Exception):
    """An upload that cannot be ingested; `status` is the HTTP status that fits."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def safe_name(filename: str) -> str:
    """The client's file name reduced to a base name: it is an id, never a server path."""
    base = PureWindowsPath(PurePosixPath(filename).name).name
    base = re.sub(r"[\x00-\x1f]", "", base).strip().lstrip(".")
    return base[:200] or "upload"


def load_uploads(uploads: Sequence[Upload]) -> list[Document]:
    """Load every file first, so one bad file rejects the request before anything is stored."""
    docs: list[Document] = []
    with tempfile.TemporaryDirectory(prefix="ragqa-upload-") as tmp:
        for i, upload in enumerate(uploads):
            name = safe_name(upload.filename)
            if not upload.data:
                raise UploadError(400, f"{name}: the file is empty")
            # Our own temporary name, keeping the suffix the loader dispatches on.
            path = Path(tmp) / f"{i}-{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"
            try:
                path.write_bytes(upload.data)
            except OSError as exc:  # the temporary folder's disk is full, say
                raise UploadError(503, f"{name}: cannot stage the upload: {exc}") from exc
            try:
                result = load_file(path, name)
            except LoaderError as exc:
                # A binary file behind a text name is as unreadable as an image: 415.
                binary = isinstance(exc, UnsupportedContent) or "binary" in str(exc)
                status = 415 if binary else 422
                raise UploadError(status, f"{name}: {exc}") from exc
            if result.skipped and not result.documents:
                raise UploadError(422, f"{name}: " + "; ".join(result.errors[:3]))
            # Marked so that `ingest --delete-missing` never takes an upload for a lost file.
            docs.extend(
                replace(d, metadata={**d.metadata, "origin": "upload"}) for d in result.documents
            )
    return docs


def ingest_uploads(pipeline: Pipeline, uploads: Sequence[Upload]) -> list[DocResult]:
    docs = load_uploads(uploads)
    # No flush here: the in-memory index is already current, and the saved file is derived
    # data that the server writes at shutdown (or any process rebuilds from SQLite).
    with pipeline.store.writer():
        return pipeline.ingest(docs)
