"""How much of a document's text its chunks show the model: pure, no model needed."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence

from vectorstore import NewChunk

CountTokens = Callable[[Sequence[str]], list[int]]

_WORD = re.compile(r"\S+")
# A Markdown heading line: the chunker moves its text into the chunks' context.
_HEADING = re.compile(r"(?m)^[ \t]*#{1,6}[ \t]+(.+?)[ \t#]*$")


def covered_tokens(
    text: str, chunks: Sequence[NewChunk], count: CountTokens, max_tokens: int
) -> tuple[int, int]:
    """(tokens of `text` that some chunk shows the model, all tokens of `text`).

    Embedded tokens over text tokens is not a share: overlap and heading context repeat
    text. So coverage is measured per word instead: a word of the text counts as embedded
    when a chunk's model-visible text contains it (compared without whitespace, since the
    chunker re-joins pieces with its own separators) or, for a Markdown heading line, when
    the heading is in a chunk's context. Words are weighed by their token counts, whose
    sum is the text's token count for BERT-style tokenizers (they split on whitespace).
    Where a passage repeats verbatim, a chunk may be placed on an earlier copy: the share
    can then come out low, never high.
    """
    words = list(_WORD.finditer(text))
    if not words:
        return 0, 0
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word.group())
    flat = "".join(w.group() for w in words)
    covered = bytearray(len(flat))
    cursor = end = 0
    for seen in _visible_texts(chunks, count, max_tokens):
        needle = "".join(seen.split())
        if not needle:
            continue
        # Chunks come in text order and each reaches past the one before (the overlap
        # repeats only its tail), which also places them right in repetitive text.
        at = flat.find(needle, max(cursor, end - len(needle) + 1))
        at = at if at >= 0 else flat.find(needle)
        if at < 0:
            continue  # text the chunker changed beyond whitespace: counted as not embedded
        covered[at : at + len(needle)] = b"\x01" * len(needle)
        cursor, end = at + 1, max(end, at + len(needle))
    heads = {h for c in chunks for h in c.context.split(" › ") if h}
    offsets = [w.start() for w in words]
    for line in _HEADING.finditer(text):
        if line.group(1).strip() not in heads:
            continue
        i = bisect.bisect_left(offsets, line.start())
        while i < len(words) and offsets[i] < line.end():
            size = len(words[i].group())
            covered[starts[i] : starts[i] + size] = b"\x01" * size
            i += 1
    sizes = count([w.group() for w in words])
    embedded = sum(
        size
        for word, start, size in zip(words, starts, sizes, strict=True)
        if all(covered[start : start + len(word.group())])
    )
    return embedded, sum(sizes)


def _visible_texts(chunks: Sequence[NewChunk], count: CountTokens, max_tokens: int) -> list[str]:
    """Each chunk's text as far as the model reads it: a longer input would be truncated."""
    sizes = count([c.indexed_text for c in chunks])
    out = []
    for chunk, size in zip(chunks, sizes, strict=True):
        if size <= max_tokens:
            out.append(chunk.text)
            continue
        room = max_tokens - (count([chunk.context + "\n"])[0] if chunk.context else 0)
        kept: list[str] = []
        for word, n in zip(chunk.text.split(), count(chunk.text.split()), strict=True):
            room -= n
            if room < 0:
                break
            kept.append(word)
        out.append(" ".join(kept))
    return out
