"""The sources cut into windows once per answer: each sentence with its neighbours, a
table row with its header, a record under the line introducing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.grounding import exact, sentences, words

# Sentences on each side of the matching one that a claim may draw on ("It cuts memory
# threefold." goes on with the sentence before it).
WINDOW = 1


@dataclass(frozen=True)
class Window:
    n: int  # the source's number
    start: int  # the centre sentence's offsets in the source text
    end: int
    passage: words.Passage
    values: frozenset[str]
    centre: words.Passage  # the sentence alone: of windows that hold as much, its own best


@dataclass(frozen=True)
class Prepared:
    """The sources cut into windows once, for every sentence of an answer."""

    windows: list[Window]
    whole: list[frozenset[str]]  # each source's exact values, anywhere in it
    count: int
    asked: words.Passage | None = None  # the question, when known
    asked_values: frozenset[str] = frozenset()


def prepare(
    sources: Sequence[str], contexts: Sequence[str] | None = None, question: str = ""
) -> Prepared:
    """`sources[i]` is the text of source [i + 1] and `contexts[i]` its heading path, as
    the model was shown them; `question`, when given, tells a claim's answer from its echo."""
    contexts = contexts or [""] * len(sources)
    pairs = list(zip(sources, contexts, strict=True))
    windows = [w for n, (t, c) in enumerate(pairs, start=1) for w in source_windows(n, t, c)]
    whole = [exact.source_values(f"{c}\n{t}") for t, c in pairs]
    asked = words.passage(question) if question.strip() else None
    values = exact.source_values(question) if asked else frozenset()
    return Prepared(windows, whole, len(sources), asked, values)


def source_windows(n: int, text: str, context: str) -> list[Window]:
    units = sentences.source_units(text)
    lines = text.splitlines()
    out = []
    for i, (span, _) in enumerate(units):
        if span.text.startswith("|"):
            # A table row stands with its header only: its neighbours are other records.
            parts = [context, _table_header(lines, text, span.start), span.text]
        elif sentences.RECORD.match(span.text):
            # A short record ("2018 : GPT-1") stands alone, under the line introducing it.
            parts = [context, _lead(units, i), span.text]
        else:
            near = units[max(0, i - WINDOW) : i + WINDOW + 1]
            parts = [context, *(s.text for s, _ in near if not sentences.RECORD.match(s.text))]
        joined = "\n".join(p for p in parts if p)
        out.append(
            Window(
                n,
                span.start,
                span.end,
                words.passage(joined),
                exact.source_values(joined),
                words.passage(span.text),
            )
        )
    return out


def _lead(units: list[tuple[sentences.Span, int]], i: int) -> str:
    """The line before the records that unit `i` is one of, when it introduces them."""
    for span, _ in reversed(units[:i]):
        if not sentences.RECORD.match(span.text):
            return span.text if span.text.rstrip().endswith(":") else ""
    return ""


def _table_header(lines: list[str], text: str, offset: int) -> str:
    """The first row of the table the line at `offset` is in."""
    line_no = text.count("\n", 0, offset)
    first = line_no
    while first > 0 and lines[first - 1].lstrip().startswith("|"):
        first -= 1
    return lines[first] if first < line_no else ""
