"""Inputs the fuzzers found crashing the loaders (each was a 500 on upload), kept as
regression cases: name -> (file name, bytes)."""

from __future__ import annotations


def _deep(opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + closing * depth


FOUND: dict[str, tuple[str, bytes]] = {
    # json.loads turns "\ud800" escapes into lone surrogates; SQLite refused them.
    "jsonl surrogate in text": ("r.jsonl", b'{"id": "a", "text": "x \\ud800 y"}\n'),
    "jsonl surrogate in id": ("r.jsonl", b'{"id": "\\udc00", "text": "some text"}\n'),
    "jsonl surrogate in metadata": (
        "r.jsonl",
        b'{"id": "a", "text": "t", "title": "\\udfff", "metadata": {"\\ud800": ["\\udc80"]}}\n',
    ),
    # json.loads raised RecursionError, which no loader caught.
    "jsonl nested 100k deep": (
        "r.jsonl",
        b'{"id": "a", "text": "t", "metadata": ' + _deep(b"[", b"]", 100_000) + b"}\n",
    ),
    # PyYAML: a quoted "\ud800" escape is a lone surrogate too...
    "front matter surrogate": ("n.md", b'---\ntitle: "a\\ud800"\ntags: "\\udc00"\n---\nBody.\n'),
    # ...its composer recurses per nesting level...
    "front matter nested 5k deep": ("n.md", b"---\nx: " + _deep(b"[", b"]", 5000) + b"\n---\nB\n"),
    # ...and its constructors raise ValueError, not YAMLError, for impossible values.
    "front matter impossible date": ("n.md", b"---\ndate: 2024-02-30\n---\nBody.\n"),
    "front matter year zero": ("n.md", b"---\ndate: 0000-01-01\n---\nBody.\n"),
    "front matter bad int": ("n.md", b"---\nx: !!int 0x\n---\nBody.\n"),
}
