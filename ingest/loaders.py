"""File -> documents: picks the loader for a file and reports what it could not load."""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ingest.document import Document, LoaderError, UnsupportedContent
from ingest.load_html import load_html
from ingest.load_jsonl import RecordError, iter_jsonl
from ingest.load_pdf import load_pdf
from ingest.load_text import load_text

# Longest first, so that ".jsonl.gz" is matched before anything shorter could be.
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".jsonl.gz",
    ".markdown",
    ".jsonl",
    ".html",
    ".htm",
    ".txt",
    ".pdf",
    ".md",
)
# A file that is mostly bad lines would otherwise carry one message per line.
MAX_ERRORS = 20
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class LoadResult:
    """What one file yielded, and what was skipped on the way.

    Only record files (JSONL) are loaded in part: a bad line costs its record, not the
    file. `skipped` counts those records; `errors` says why for the first MAX_ERRORS of
    them ("line 7: invalid JSON ..."). Other formats load whole or raise LoaderError.
    """

    documents: list[Document]
    errors: list[str] = field(default_factory=list)
    skipped: int = 0


def suffix_of(path: Path | str) -> str | None:
    """The supported suffix `path` ends with (lower case), or None."""
    name = str(path).lower()
    return next((s for s in SUPPORTED_SUFFIXES if name.endswith(s)), None)


def is_supported(path: Path | str) -> bool:
    """Whether load_file has a loader for this file name."""
    return suffix_of(path) is not None


# Formats no loader reads, by their first bytes: named in the 415's reason.
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x7fELF", "an executable"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document"),
)
# Names that say "not text" (no loader for them): refused by name even before content.
_FOREIGN_SUFFIXES = frozenset(
    ".docx .doc .xlsx .xls .pptx .ppt .odt .ods .odp .epub .rtf .png .jpg .jpeg .gif "
    ".webp .bmp .tiff .svgz .ico .zip .gz .tgz .bz2 .xz .zst .tar .7z .rar .exe .dll .so "
    ".dylib .bin .class .jar .pyc .o .a .mp3 .mp4 .wav .flac .ogg .mov .avi .mkv .sqlite "
    ".sqlite3 .db .parquet .npy .pkl".split()
)
# PDF readers accept the header anywhere in the first kilobyte.
_PDF_WINDOW = 1024


def sniff(path: Path, name: str) -> str:
    """The loader's suffix for this file, decided by its content as well as its name.

    A PDF is read as a PDF whatever its name; an image or archive is refused whatever its
    name; a file with an unknown name is read as text when its bytes are text (the text
    loader refuses binary). Raises UnsupportedContent for what no loader reads.
    """
    suffix = suffix_of(name) or suffix_of(path)
    try:
        with path.open("rb") as f:
            head = f.read(_PDF_WINDOW)
    except OSError as exc:
        raise LoaderError(f"cannot read file: {exc.strerror or exc}") from exc
    # Anywhere in the window for a .pdf; at the start otherwise, since a JSONL or text
    # file may well quote "%PDF-".
    if head.lstrip().startswith(b"%PDF-") or (suffix == ".pdf" and b"%PDF-" in head):
        return ".pdf"
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            raise UnsupportedContent(f"unsupported content: the file is {what}")
    if suffix == ".pdf":
        raise UnsupportedContent("unsupported content: named .pdf but not a PDF (no %PDF- header)")
    if head.startswith(_GZIP_MAGIC) and suffix not in (".jsonl", ".jsonl.gz"):
        raise UnsupportedContent("unsupported content: gzip data (only .jsonl.gz is read)")
    if suffix is None:
        foreign = PurePosixPath(name.lower()).suffix
        if foreign in _FOREIGN_SUFFIXES:
            supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
            raise UnsupportedContent(f"unsupported file type {foreign!r} ({supported})")
        start = head.lstrip()[:15].lower()
        return ".html" if start.startswith((b"<!doctype html", b"<html")) else ".txt"
    return suffix


def load_file(path: Path, doc_id: str) -> LoadResult:
    """Load one file; `doc_id` is its document id, also used as every document's source.

    The loader is chosen by suffix and content (see `sniff`). Raises LoaderError, with the
    reason as its message (UnsupportedContent for what no loader reads), for a file that
    is unreadable, empty, binary where text was expected, or yields no document at all.
    """
    suffix = sniff(path, doc_id)
    if suffix in (".jsonl", ".jsonl.gz"):
        return _load_records(path, doc_id)
    data = _read(path)
    # The user-facing name, not the path: an upload may sit in a temporary file.
    stem = PurePosixPath(doc_id.replace("\\", "/")).stem or path.stem
    if suffix == ".pdf":
        document = load_pdf(data, doc_id, stem)
    elif suffix in (".html", ".htm"):
        document = load_html(data, doc_id, stem)
    else:
        document = load_text(data, doc_id, stem, markdown=suffix != ".txt")
    return LoadResult([document])


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise LoaderError("empty file")
    return data


def _open_records(path: Path) -> gzip.GzipFile | io.BufferedReader:
    """The file's bytes, decompressed if it is gzip whatever its name says."""
    try:
        with path.open("rb") as probe:
            magic = probe.read(2)
        return gzip.open(path, "rb") if magic == _GZIP_MAGIC else path.open("rb")
    except OSError as exc:
        raise LoaderError(f"cannot read file: {exc.strerror or exc}") from exc


def _load_records(path: Path, doc_id: str) -> LoadResult:
    documents: list[Document] = []
    errors: list[str] = []
    skipped = 0
    with _open_records(path) as stream:
        try:
            head = stream.read(_SNIFF_BYTES)
            stream.seek(0)
            if not head.strip():
                raise LoaderError("empty file")
            if b"\x00" in head:
                raise LoaderError("looks binary (NUL bytes), not JSON lines")
            for item in iter_jsonl(stream, doc_id):
                if isinstance(item, RecordError):
                    skipped += 1
                    if len(errors) < MAX_ERRORS:
                        errors.append(str(item))
                else:
                    documents.append(item)
        except (OSError, EOFError, zlib.error) as exc:
            # A truncated or corrupt archive: what was read before the damage is good.
            if not documents:
                raise LoaderError(f"cannot read file: {exc}") from exc
            errors.append(f"stopped reading after {len(documents)} records: {exc}")
    if not documents:
        reason = f": {'; '.join(errors[:3])}" if errors else ""
        raise LoaderError(f"no valid records{reason}")
    return LoadResult(documents, errors, skipped)
