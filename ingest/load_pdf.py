"""PDF files: one Part per page that has text, with its 1-based page number."""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from ingest.document import Document, LoaderError, Part
from ingest.surrogates import replace_surrogates

# Titles that PDF producers write when the author gave none.
_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document"})


def load_pdf(data: bytes, doc_id: str, stem: str) -> Document:
    """A .pdf file as one Document with a Part per page (`metadata={"page": n}`).

    Pages without text are skipped; a PDF with none at all (a scan) is an error, as is
    one that is malformed or needs a password.
    """
    # Some producers put junk before the header; readers accept it within the first 1 KiB.
    if b"%PDF-" not in data[:1024]:
        raise LoaderError("not a PDF (no %PDF- header)")
    # pypdf raises a wide and changing set of exception types on damaged files (its own,
    # but also KeyError, ValueError, RecursionError ...), so anything it raises while
    # reading is reported as a malformed PDF rather than escaping as a crash.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader)
        pages = list(reader.pages)
    except LoaderError:
        raise
    except Exception as exc:
        raise LoaderError(f"malformed PDF: {_reason(exc)}") from exc

    parts: list[Part] = []
    first_error: Exception | None = None
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text()
        except Exception as exc:  # one damaged page should not cost the others
            first_error = first_error or exc
            continue
        # pypdf decodes a font's ToUnicode map as given, lone surrogates included.
        text = replace_surrogates(text.replace("\x00", "")).strip()
        if text:
            parts.append(Part(text, {"page": number}))
    if not parts:
        if first_error is not None:
            raise LoaderError(f"malformed PDF: {_reason(first_error)}")
        raise LoaderError("no extractable text (scanned PDF?)")
    return Document(
        id=doc_id,
        source=doc_id,
        parts=tuple(parts),
        title=_title(reader) or stem,
        metadata={"pages": len(pages)},
        format="text",
    )


def _decrypt(reader: PdfReader) -> None:
    # Many "encrypted" PDFs only restrict printing or copying and open with an empty
    # password, as any viewer does without asking.
    try:
        result = reader.decrypt("")
    except DependencyError as exc:
        raise LoaderError(f"encrypted PDF, cannot decrypt: {exc}") from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise LoaderError("encrypted PDF (needs a password)")


def _title(reader: PdfReader) -> str | None:
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except Exception:  # a broken info dictionary costs the title, not the document
        return None
    if not isinstance(title, str):
        return None
    title = replace_surrogates(title).strip()
    if not title or title.lower() in _PLACEHOLDER_TITLES:
        return None
    return title


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
