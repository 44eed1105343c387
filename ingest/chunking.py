"""Token-aware chunking that follows Markdown headings, paragraphs and sentences. No I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.document import Document
from vectorstore import NewChunk

CountTokens = Callable[[Sequence[str]], list[int]]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# Sentence ends: Latin/CJK punctuation followed by space, or a Korean final ending ("다.").
# Lines that stand on their own even inside a paragraph: items, rows, quotes, headings.
_BLOCK_LINE = re.compile(r"^\s*(?:[-*+>|#]|\d+[.)]\s)")
_SHORT_RUN = 3
_LINE_ENDS = (".", "!", "?", "。", "！", "？", ":", "다", "요", "|")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=다\.)\s*|(?<=요\.)\s*")


@dataclass(frozen=True)
class _Unit:
    text: str
    sep: str  # joins this unit to the one before it


def _sections(text: str, markdown: bool) -> list[tuple[list[str], str]]:
    """Split into (heading path, body) pairs; headings inside code fences are ignored."""
    if not markdown:
        return [([], text)]
    sections: list[tuple[list[str], str]] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append(([h for _, h in stack], content))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2).strip()))
        else:
            body.append(line)
    flush()
    return sections


def _split(text: str, level: int) -> list[_Unit]:
    """Split text one level finer: paragraphs, then lines, then sentences, then words."""
    if level == 0:
        parts, sep = re.split(r"\n\s*\n", text), "\n\n"
    elif level == 1:
        parts, sep = _lines(text), "\n"
    elif level == 2:
        parts, sep = _SENTENCE_END.split(text), " "
    else:
        parts, sep = text.split(" "), " "
    return [_Unit(p.strip(), sep) for p in parts if p.strip()]


def _lines(text: str) -> list[str]:
    """A paragraph's lines, a hard-wrapped sentence kept on one: a chunk cut at a wrap
    starts mid-sentence ("Encoder가 맡으므로, ...") and its quotes read as fragments.
    List items, table rows, quotes, headings and code keep their own lines."""
    rows = text.split("\n")
    if any(_FENCE.match(row) for row in rows):
        return rows
    groups: list[list[str]] = []
    for row in rows:
        if groups and _wraps(groups[-1][-1], row):
            groups[-1].append(row)
        else:
            groups.append([row])
    out: list[str] = []
    for group in groups:
        # Notes written a line a thought, without full stops, are lines, not one sentence.
        if len(group) <= _SHORT_RUN or group[-1].rstrip().endswith(_LINE_ENDS):
            out.append("\n".join(group))
        else:
            out.extend(group)
    return out


def _wraps(before: str, row: str) -> bool:
    """Whether `row` goes on with the sentence `before` left open."""
    if not before.strip() or not row.strip() or _BLOCK_LINE.match(row):
        return False
    if before.lstrip().startswith(("|", "#")):
        return False
    return not before.rstrip().endswith(_LINE_ENDS)


class _Packer:
    """Packs units into chunks of at most `budget` tokens, with overlap between chunks."""

    def __init__(self, count: CountTokens, budget: int, overlap: int) -> None:
        self.count = count
        self.budget = budget
        self.overlap = overlap

    def units(self, text: str, level: int = 0) -> list[tuple[_Unit, int]]:
        """Units small enough to fit the budget, each with its token count."""
        pieces = _split(text, level)
        sizes = self.count([u.text for u in pieces])
        out: list[tuple[_Unit, int]] = []
        for unit, size in zip(pieces, sizes, strict=True):
            if size <= self.budget:
                out.append((unit, size))
            elif level < 3:
                sub = self.units(unit.text, level + 1)
                if sub:
                    sub[0] = (_Unit(sub[0][0].text, unit.sep), sub[0][1])
                out.extend(sub)
            else:
                out.extend(self._hard_split(unit))
        return out

    def _hard_split(self, unit: _Unit) -> list[tuple[_Unit, int]]:
        # A single "word" longer than the budget (a URL, a long CJK run): cut by characters.
        out: list[tuple[_Unit, int]] = []
        rest, sep = unit.text, unit.sep
        while rest:
            lo, hi = 1, len(rest)
            while lo < hi:  # largest prefix that fits
                mid = (lo + hi + 1) // 2
                if self.count([rest[:mid]])[0] <= self.budget:
                    lo = mid
                else:
                    hi = mid - 1
            piece = rest[:lo]
            out.append((_Unit(piece, sep), self.count([piece])[0]))
            rest, sep = rest[lo:], ""
        return out

    def pack(self, units: list[tuple[_Unit, int]]) -> list[str]:
        chunks: list[str] = []
        current: list[tuple[_Unit, int]] = []
        size = 0
        for unit, n in units:
            if current and size + n > self.budget:
                chunks.append(_join(current))
                current, size = self._carry(current, n)
            current.append((unit, n))
            size += n
        if current:
            chunks.append(_join(current))
        return chunks

    def _carry(self, previous: list[tuple[_Unit, int]], incoming: int) -> tuple[list, int]:
        """Trailing units of the previous chunk repeated at the start of the next."""
        carried: list[tuple[_Unit, int]] = []
        size = 0
        for unit, n in reversed(previous):
            if size + n > self.overlap or size + n + incoming > self.budget:
                break
            carried.insert(0, (unit, n))
            size += n
        return carried, size


def _join(units: list[tuple[_Unit, int]]) -> str:
    text = units[0][0].text
    for unit, _ in units[1:]:
        text += unit.sep + unit.text
    return text


def chunk_document(
    doc: Document, count_tokens: CountTokens, max_tokens: int, overlap: int
) -> list[NewChunk]:
    """Cut a document into chunks whose `indexed_text` fits in `max_tokens` embedder tokens."""
    drafts: list[NewChunk] = []
    markdown = doc.format == "markdown"
    for part in doc.parts:
        for path, body in _sections(part.text, markdown):
            heads = [doc.title] if doc.title else []
            heads += [h for h in path if h != doc.title]
            context, context_tokens = _fit_context(heads, count_tokens, max_tokens // 3)
            budget = max_tokens - context_tokens
            packer = _Packer(count_tokens, budget, min(overlap, budget // 2))
            for text in packer.pack(packer.units(body)):
                drafts.append(NewChunk(text, context, dict(part.metadata)))
    return _enforce_limit(drafts, count_tokens, max_tokens)


def _fit_context(heads: list[str], count_tokens: CountTokens, limit: int) -> tuple[str, int]:
    """The longest tail of the heading path that fits in `limit` tokens (deepest is most
    specific); Korean headings cost ~2.5 MiniLM tokens a syllable, so this matters."""
    candidates = [" › ".join(heads[i:]) for i in range(len(heads))]
    for text, size in zip(candidates, count_tokens(candidates), strict=True):
        if size + 1 <= limit:
            return text, size + 1
    return "", 0


def _enforce_limit(
    drafts: list[NewChunk], count_tokens: CountTokens, max_tokens: int
) -> list[NewChunk]:
    """Re-check whole chunks: joining units can merge tokens differently than counted apart."""
    sizes = count_tokens([d.indexed_text for d in drafts])
    out: list[NewChunk] = []
    for draft, size in zip(drafts, sizes, strict=True):
        if size <= max_tokens:
            out.append(draft)
            continue
        half = len(draft.text) // 2
        cut = draft.text.rfind(" ", 0, half)
        cut = cut if cut > 0 else half
        halves = [draft.text[:cut].strip(), draft.text[cut:].strip()]
        out.extend(
            _enforce_limit(
                [NewChunk(h, draft.context, draft.metadata) for h in halves if h],
                count_tokens,
                max_tokens,
            )
        )
    return out
