"""What every loader and the chunker promise for any input; the fuzzers check it.

A file either loads into documents that the store can keep and the API can return, or it
raises LoaderError (the per-file error that uploads turn into a 4xx and `ragqa ingest`
into a `failed` count). Anything else escaping is a crash: a 500 for an upload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ingest.chunking import chunk_document
from ingest.document import Document, LoaderError
from ingest.loaders import LoadResult, load_file
from vectorstore import NewChunk

CountTokens = Callable[[Sequence[str]], list[int]]
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class ContractViolation(AssertionError):
    """A loader or the chunker broke its promise; the message says which and how."""


def _require(condition: bool, message: str) -> None:
    # Not `assert`: the atheris harness and `python -O` must still see violations.
    if not condition:
        raise ContractViolation(message)


def load_bytes(data: bytes, name: str, folder: Path) -> LoadResult | None:
    """`data` uploaded as a file called `name`, loaded as ingest/uploads.py loads it (a
    temporary file keeping the name's suffix); None when the loader refused it."""
    path = folder / f"0-{_UNSAFE_NAME.sub('_', name)}"
    path.write_bytes(data)
    try:
        result = load_file(path, name)
    except LoaderError:
        return None
    _require(bool(result.documents), f"{name}: no documents and no LoaderError")
    for doc in result.documents:
        check_document(doc)
    return result


def check_document(doc: Document) -> None:
    """A document the store can write and the API can serialise."""
    _require(bool(doc.id) and bool(doc.parts), f"empty id or no parts: {doc!r:.200}")
    for part in doc.parts:
        _require(bool(part.text.strip()), f"{doc.id!r}: a blank part")
    # SQLite binds text as UTF-8 and metadata is stored as JSON: a lone surrogate (from a
    # JSON "\ud800" escape, say) would raise UnicodeEncodeError on the write.
    fields = [doc.id, doc.source, doc.title or "", *(p.text for p in doc.parts)]
    fields += [json.dumps(doc.metadata, ensure_ascii=False)]
    fields += [json.dumps(p.metadata, ensure_ascii=False) for p in doc.parts]
    for text in fields:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ContractViolation(f"{doc.id!r:.80}: not storable as UTF-8: {exc}") from exc


def check_chunks(doc: Document, count: CountTokens, max_tokens: int, overlap: int) -> None:
    """Chunks are non-blank, fit `max_tokens`, and together hold every character of the
    text except whitespace and the Markdown heading lines (those go into `context`)."""
    chunks = chunk_document(doc, count, max_tokens, overlap)
    for chunk in chunks:
        _require(isinstance(chunk.text, str) and bool(chunk.text.strip()), "a blank chunk")
    sizes = count([c.indexed_text for c in chunks])
    _require(all(n <= max_tokens for n in sizes), f"a chunk over {max_tokens} tokens: {sizes}")
    expected = _visible(doc)
    _require(_is_subsequence(expected, _joined(chunks)), f"text lost: {expected[:200]!r}")


def _visible(doc: Document) -> str:
    markdown = doc.format == "markdown"
    lines = (
        line
        for part in doc.parts
        # splitlines(), as the chunker splits sections: it knows more line breaks than \n.
        for line in part.text.splitlines()
        if not (markdown and line.startswith("#"))
    )
    return "".join("".join(line.split()) for line in lines)


def _joined(chunks: Sequence[NewChunk]) -> str:
    return "".join("".join(c.text.split()) for c in chunks)


def _is_subsequence(needle: str, haystack: str) -> bool:
    """Overlap repeats text between chunks, so the text is a subsequence of the chunks
    joined, not a substring."""
    rest = iter(haystack)
    return all(char in rest for char in needle)


def exercise(
    data: bytes, name: str, folder: Path, count: CountTokens, max_tokens: int, overlap: int
) -> LoadResult | None:
    """Load `data` as `name` and chunk what loads; ContractViolation, or the loader's
    own exception, when a promise is broken."""
    result = load_bytes(data, name, folder)
    for doc in result.documents if result is not None else []:
        check_chunks(doc, count, max_tokens, overlap)
    return result


def bundled_token_counter() -> CountTokens:
    """The bundled embedder's own WordPiece counts, as ingestion chunks with them, from its
    tokenizer.json alone: no model, no ONNX export, a tenth of a second."""
    from tokenizers import Tokenizer

    from vectorstore import BUNDLED_EMBEDDER, resolve_model

    tokenizer = Tokenizer.from_file(str(Path(resolve_model(BUNDLED_EMBEDDER)) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return count
