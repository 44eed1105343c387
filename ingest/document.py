"""What loaders produce: a document as text parts, before chunking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Part:
    """A piece of a document that chunks never cross, e.g. one PDF page.

    `metadata` is copied onto every chunk cut from this part (`{"page": 3}`).
    """

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """One loaded document.

    `id` is the stable identity (a normalised path, or a JSONL record id); `source` is
    where it came from, shown to users (for a JSONL record: the file it is in).
    """

    id: str
    source: str
    parts: tuple[Part, ...]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # "markdown" lets the chunker follow headings; "text" is split by paragraphs only.
    format: str = "text"

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.parts)


class LoaderError(Exception):
    """A file could not be loaded; the message is the reason shown to the user."""


class UnsupportedContent(LoaderError):
    """No loader reads this kind of file (an image, an archive, ...): HTTP 415."""
