"""Sentences with their offsets: of a generated answer (with its [n] markers) and of a source."""

from __future__ import annotations

import re
from dataclasses import dataclass

# [1], [2, 3], [1][2], [1-2] are all forms small models write.
MARKER = re.compile(r"\[(\d+(?:\s*[,\-–]\s*\d+)*)\]")
# A sentence ends at ., !, ?, 。 or a closing citation run before white space, or at a line
# break; decimals ("3.8") and versions never end one, as no space follows their dot.
_BREAK = re.compile(r"(?<=[.!?。])[ \t]+|\n+")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+(?:\s*[,\-–]\s*\d+)*\])+")
# Markdown a model wraps its prose in: bullets, numbering, headings, emphasis, table pipes.
_DECOR = re.compile(r"^\s*(?:[-*+•>]|#{1,6}|\d+[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__|`")


@dataclass(frozen=True)
class Span:
    text: str
    start: int  # offsets into the text it was cut from
    end: int


def numbers_in(marker: str) -> list[int]:
    """The source numbers one marker's inside names: "1, 2" and "1-3" alike."""
    out: list[int] = []
    for part in re.split(r"\s*,\s*", marker):
        bounds = re.split(r"\s*[\-–]\s*", part)
        if len(bounds) == 2:
            lo, hi = int(bounds[0]), int(bounds[1])
            out.extend(range(lo, hi + 1) if 0 < hi - lo < 20 else [lo, hi])
        else:
            out.append(int(bounds[0]))
    return out


def cited(text: str) -> list[int]:
    """The numbers `text` cites, in order, once each."""
    return list(dict.fromkeys(n for m in MARKER.finditer(text) for n in numbers_in(m.group(1))))


# The prompt's source header (`[1] from "title › heading":`), which small models copy.
FRAME = re.compile(r'^\s*(?:\[\d+\]\s*)?from\s+"[^"\n]*":\s*')


def plain(text: str) -> str:
    """The sentence's claim: markers, a copied source header, Markdown decoration and
    table pipes taken out."""
    text = MARKER.sub(" ", FRAME.sub("", text))
    text = _DECOR.sub("", text)
    text = _EMPHASIS.sub("", text).replace("|", " ")
    return " ".join(text.split())


def split(text: str) -> list[Span]:
    """The sentences of `text`; markers right after a sentence's end belong to it
    ("... parameters. [1]" cites [1] for that sentence, not the next)."""
    spans: list[Span] = []
    pos = 0
    for m in _BREAK.finditer(text):
        spans.append(Span(text[pos : m.start()], pos, m.start()))
        pos = m.end()
    spans.append(Span(text[pos:], pos, len(text)))
    out: list[Span] = []
    for span in spans:
        lead = _LEADING_MARKERS.match(span.text)
        if lead and out:
            prev = out[-1]
            out[-1] = Span(
                text[prev.start : span.start + lead.end()], prev.start, span.start + lead.end()
            )
            rest = span.text[lead.end() :]
            skip = len(rest) - len(rest.lstrip())
            span = Span(rest.strip(), span.start + lead.end() + skip, span.end)
        stripped = span.text.rstrip()
        if stripped.strip():
            lead_ws = len(stripped) - len(stripped.lstrip())
            out.append(Span(stripped.lstrip(), span.start + lead_ws, span.start + len(stripped)))
    return out


# A line that starts a new unit, not the next line of a hard-wrapped paragraph.
_BLOCK_START = re.compile(r"^\s*(?:[-*+•>|#]|\d+[.)]\s|```|$)")
# A short "key : value" line ("2018 : GPT-1"): a record of its own, like a table row.
RECORD = re.compile(r"^.{1,40}\s:\s.{1,40}$")
_SOURCE_BREAK = re.compile(r"(?<=[.!?。])\s+|\n")


def source_units(text: str) -> list[tuple[Span, int]]:
    """The sentences of a source, each with the number of its block (a paragraph, a list
    item, a table row, a heading): a hard-wrapped paragraph's lines join into its
    sentences, and a sentence's neighbours are those of its own block."""
    flat = list(text)
    lines = text.split("\n")
    pos = 0
    for i, line in enumerate(lines[:-1]):
        pos += len(line)
        following = lines[i + 1]
        standalone = _is_unit(line) or RECORD.match(line) or RECORD.match(following)
        if line.strip() and not _BLOCK_START.match(following) and not standalone:
            flat[pos] = " "  # the paragraph goes on: a space, not a break
        pos += 1
    joined = "".join(flat)
    out: list[tuple[Span, int]] = []
    block = 0
    start = 0
    for m in _SOURCE_BREAK.finditer(joined + "\n"):
        piece = joined[start : m.start()]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(
                (Span(piece.strip(), start + lead, start + lead + len(piece.strip())), block)
            )
        if "\n" in m.group():
            block += 1
        start = m.end()
    return out


def _is_unit(line: str) -> bool:
    """A heading, table row or a line that stands alone (a list item continues)."""
    stripped = line.lstrip()
    return stripped.startswith(("#", "|", "```"))
