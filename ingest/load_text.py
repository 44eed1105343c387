"""Plain text and Markdown files: decoding, front matter, title."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml
from charset_normalizer import from_bytes

from ingest.document import Document, LoaderError, Part
from ingest.surrogates import replace_surrogates, replace_surrogates_in

# More control characters than this (as a share of all characters) means the bytes only
# happened to decode; real text has tabs and newlines and next to nothing else from Cc.
_MAX_CONTROL_SHARE = 0.01
# Unicode category Cc less tab, newline, vertical tab, form feed, carriage return and escape.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
# charset-normalizer ranks single-byte Latin code pages by a "chaos" score that ties or
# nearly ties on short texts, and then often names a Baltic or Central European page for
# plain French or English. Windows-1252 (a superset of Latin-1) is by far the likeliest of
# them, so it wins whenever it is within this margin of the best guess.
_CP1252_MARGIN = 0.1

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^#{1,6}[ \t]+\S")
_TITLE = re.compile(r"^#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
# `![alt](url "title"){: .align-center}`: the URL and the kramdown attribute list are noise
# to retrieval, the alt text may not be.
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)(?:\{:[^}]*\})?")
_SIMPLE_KEY = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*)$")
_LIST_ITEM = re.compile(r"^[ \t]+-[ \t]+(.*)$")


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding name); LoaderError when the bytes are not text."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _checked(data[3:].decode("utf-8", errors="replace")), "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _checked(data.decode("utf-16", errors="replace")), "utf-16"
    # UTF-16 without a BOM is the only text with NUL bytes, and it is rare enough that a
    # NUL is the cheapest and surest sign of a binary file.
    if b"\x00" in data:
        raise LoaderError("looks binary (NUL bytes), not text")
    try:
        return _checked(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise LoaderError("looks binary: no text encoding fits its bytes")
    for match in matches:
        if match.encoding == "cp1252" and match.chaos <= best.chaos + _CP1252_MARGIN:
            best = match
            break
    return _checked(str(best)), best.encoding


def _checked(text: str) -> str:
    controls = sum(1 for _ in _CONTROL.finditer(text))
    if controls > _MAX_CONTROL_SHARE * max(len(text), 1):
        raise LoaderError("looks binary (control characters), not text")
    # A guessed codec such as UTF-7 can decode to lone surrogates, which no store takes.
    return replace_surrogates(text)


def load_text(data: bytes, doc_id: str, stem: str, *, markdown: bool) -> Document:
    """A .txt/.md file as one Document.

    `markdown` forces format="markdown" (the suffix said so); otherwise a text file counts
    as Markdown when it has front matter or a heading, as notes saved as .txt often do.
    """
    text, encoding = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text, front = split_front_matter(text)
    text = _strip_images(text).strip()
    if not text:
        raise LoaderError("no text (empty file or front matter only)")
    title = front.pop("title", None)
    if title is None:
        title = first_heading(text) or stem
    is_markdown = markdown or bool(front) or has_heading(text)
    metadata = {**front, "encoding": encoding}
    return Document(
        id=doc_id,
        source=doc_id,
        parts=(Part(text),),
        title=title,
        metadata=metadata,
        format="markdown" if is_markdown else "text",
    )


def split_front_matter(text: str) -> tuple[str, dict[str, Any]]:
    """Remove a leading `---` ... `---` block; return the rest and its simple keys.

    A leading block that is not a mapping (a horizontal rule, say) is left in the text.
    """
    match = _FRONT_MATTER.match(text)
    if match is None:
        return text, {}
    block = match.group(1) or ""
    if not block.strip():
        return text[match.end() :], {}
    try:
        parsed = yaml.safe_load(block)
    except Exception:
        # Blog front matter is often not valid YAML (`title: [TIL] day 3`), yet readable.
        # Not only YAMLError: PyYAML's constructors raise ValueError for `date: 2024-02-30`
        # or `!!int 0x`, and its composer RecursionError for `x: [[[[...` thousands deep.
        parsed = _parse_simple(block)
    if not isinstance(parsed, dict) or not parsed:
        return text, {}
    fields: dict[str, Any] = {}
    for key, value in parsed.items():
        simple = _simple_value(value)
        if simple is not None:
            fields[str(key)] = simple
    if "title" in fields:
        fields["title"] = _unquote(str(fields["title"])) or None
        if fields["title"] is None:
            del fields["title"]
    # YAML's "\ud800" escape is a lone surrogate once parsed; the values are shallow.
    return text[match.end() :], replace_surrogates_in(fields)


def _parse_simple(block: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    last_key: str | None = None
    for line in block.splitlines():
        if (key_match := _SIMPLE_KEY.match(line)) is not None:
            last_key, value = key_match.group(1), key_match.group(2).strip()
            fields[last_key] = _unquote(value) if value else []
        elif (item := _LIST_ITEM.match(line)) is not None and last_key is not None:
            if isinstance(fields[last_key], list):
                fields[last_key].append(_unquote(item.group(1).strip()))
    return fields


def _simple_value(value: Any) -> Any:
    """Scalars and lists of scalars, as JSON-friendly values; None for anything else."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        items = [_simple_value(v) for v in value if not isinstance(v, dict | list)]
        kept = [v for v in items if v is not None]
        return kept or None
    return None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def _lines_outside_fences(text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is Markdown prose (True) or inside a code fence."""
    lines: list[tuple[str, bool]] = []
    fence: str | None = None
    for line in text.split("\n"):
        opener = _FENCE.match(line)
        if fence is None and opener is not None:
            fence = opener.group(1)
            lines.append((line, False))
        elif fence is not None:
            if opener is not None and opener.group(1).startswith(fence):
                fence = None
            lines.append((line, False))
        else:
            lines.append((line, True))
    return lines


def _strip_images(text: str) -> str:
    return "\n".join(
        _IMAGE.sub(r"\1", line) if prose else line for line, prose in _lines_outside_fences(text)
    )


def first_heading(text: str) -> str | None:
    """The text of the first `# ` heading outside code blocks, if any."""
    for line, prose in _lines_outside_fences(text):
        if prose and (match := _TITLE.match(line)) is not None:
            return match.group(1).strip()
    return None


def has_heading(text: str) -> bool:
    """Whether a Markdown ATX heading (`#` to `######`) appears outside code blocks."""
    return any(prose and _HEADING.match(line) for line, prose in _lines_outside_fences(text))
