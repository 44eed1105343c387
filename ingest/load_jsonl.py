"""JSONL record files (BEIR corpora as they are): one Document per record."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ingest.document import Document, Part
from ingest.surrogates import replace_surrogates, replace_surrogates_in

_ID_KEYS = ("id", "_id")
_KNOWN_KEYS = frozenset({*_ID_KEYS, "title", "text", "metadata"})
# Deeper records are refused: metadata is serialised to JSON again on every write and
# read, recursively, and a hostile line ten thousand brackets deep made json.loads raise
# RecursionError, which escaped as a crash rather than a bad line.
MAX_DEPTH = 32


@dataclass(frozen=True)
class RecordError:
    """A line of a record file that yielded no document, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def iter_jsonl(lines: Iterable[bytes], source: str) -> Iterator[Document | RecordError]:
    """Each record of a JSONL file as a Document, or a RecordError for a line without one.

    A record is `{"id" or "_id", "title", "text", "metadata"}`: id and a non-blank text
    are required; other top-level keys join the metadata (its own keys win). Blank lines
    are skipped. A repeated id keeps the first record and reports the later one, so a
    file streams in one pass and a record never silently replaces another.
    """
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield RecordError(number, "not UTF-8")
            continue
        except json.JSONDecodeError as exc:
            yield RecordError(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            yield RecordError(number, f"JSON nested more than {MAX_DEPTH} levels deep")
            continue
        result = _document(record, source)
        if isinstance(result, str):
            yield RecordError(number, result)
        elif result.id in first_line:
            yield RecordError(
                number, f"duplicate id {result.id!r} (first on line {first_line[result.id]})"
            )
        else:
            first_line[result.id] = number
            yield result


def _document(record: Any, source: str) -> Document | str:
    """The record as a Document, or the reason it is not one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if _depth(record) > MAX_DEPTH:
        return f"JSON nested more than {MAX_DEPTH} levels deep"
    record_id = next((record[k] for k in _ID_KEYS if record.get(k) is not None), None)
    # Some corpora number their records; bool is an int to Python but never an id.
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str) or not record_id.strip():
        return 'no "id" or "_id" (a non-empty string)'
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return 'no "text" (a non-empty string)'
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        return '"title" is not a string'
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return '"metadata" is not an object'
    extra = {k: v for k, v in record.items() if k not in _KNOWN_KEYS}
    return Document(
        id=replace_surrogates(record_id),
        source=source,
        parts=(Part(replace_surrogates(text.strip())),),
        # BEIR writes "" for records without a title.
        title=replace_surrogates((title or "").strip()) or None,
        metadata=replace_surrogates_in({**extra, **metadata}),
        format="text",
    )


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (0 for a scalar), level by level, not recursively;
    it stops counting past MAX_DEPTH."""
    depth, level = 0, [value]
    while depth <= MAX_DEPTH:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            break
        depth += 1
        level = [c for v in containers for c in (v.values() if isinstance(v, dict) else v)]
    return depth
