"""The extractive answer: the retrieved passages' own sentences that answer the question.

No model call: it is ready within milliseconds of retrieval, in the documents' words and
language, each sentence with its [n]. It is the answer mode `extract`, what the page shows
first while a generator writes, and what replaces a generated answer that its sources do
not support.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from app.grounding import sentences
from app.rag.focus import Scored, Unit, query_groups, score_sentences
from vectorstore import SearchHit, analyzer

# A sentence answers when it holds at least half of the question (its weighted content
# words, a table row with its header), and is within reach of the best one.
MIN_SCORE = 0.5
NEAR_BEST = 0.6
MAX_SENTENCES = 3
MAX_CHARS = 700
# A sentence next to a quote that holds this much more of the question joins it: the
# answer is often the line before or after the one that repeats the question's words
# ("이것은 ... 최초로 ... 맡은 것이다" after the line that names the show).
NEIGHBOUR_GAIN = 0.1
# A question whose words the passages mostly lack ("What does LoRA stand for?" over notes
# that never spell it out) is not answered by the sentences that hold the rest.
MAX_UNFOUND = 0.4
# Words inside quotes are mentioned, not used: "LoRA가 뭐예요?" quoted as an example
# question says nothing about LoRA.
_QUOTED = re.compile(
    "|".join(
        f"{o}(?:[^{c}\\n]|\\n(?!\\n)){{0,300}}{c}"  # a quote may wrap, not span paragraphs
        for o, c in ('""', "“”", "‘’", "``", "「」")  # not ': it is an apostrophe
    )
)


@dataclass(frozen=True)
class Quote:
    n: int  # the source's number
    chunk_id: str
    text: str
    start: int  # offsets in the source's text
    end: int
    score: float


def extract(
    query: str,
    hits: Sequence[SearchHit],
    term_weights: Mapping[str, float] | None = None,
) -> list[Quote]:
    """The sentences that answer `query`, in the passages' order (hits[i] is source i + 1);
    none when no sentence holds enough of it."""
    scored = score_sentences(query, hits, term_weights)
    units, scores = scored.units, scored.scores
    groups = query_groups(query)
    everywhere = set().union(*(u.terms for u in units), *(analyzer.terms(h.context) for h in hits))
    unfound = [g for g in groups if not any(t in everywhere for t in g)]
    if not groups or len(unfound) > MAX_UNFOUND * len(groups):
        return []
    # Names the question asks about ("PETM", "LoRA") must be where the sentence is read:
    # in it, its parent line or its heading path.
    names = asked_names(query)
    parents = {(u.rank, u.parent) for u in units if u.parent is not None}
    candidates = []
    for i, u in enumerate(units):
        if scores[i] < MIN_SCORE or u.text.rstrip().endswith(("?", "？")):
            continue  # a question answers nothing
        if (u.rank, u.line) in parents and u.text.startswith("|"):
            continue  # a table's header alone is no answer; it comes with its rows
        if names:
            around = set(u.terms) | set(analyzer.terms(hits[u.rank].context))
            if u.parent is not None:
                around.update(*(p.terms for p in scored.lines[(u.rank, u.parent)]))
            if not all(any(t in around for t in g) for g in names):
                continue
        # Quotes are judged on the whole sentence: a hard wrap can split one.
        hit = hits[u.rank]
        at = _offset(hit.text, u.line, u.text)
        start, end = _whole_sentence(hit.text, at, at + len(u.text))
        whole = hit.text[start:end]
        if scored.lines[(u.rank, u.line)][0].text.startswith("|"):  # a table row is read
            lines = [(u.rank, u.line)]  # whole, under its header: either may hold the question
            lines += [(u.rank, u.parent)] if u.parent is not None else []
            whole = " ".join(p.text for line in lines for p in scored.lines[line])
        unquoted = _mentions(query).sub(" ", _QUOTED.sub(" ", whole))
        if unquoted != whole:
            said = frozenset(analyzer.terms(unquoted))
            if scored.share(said) < 0.5 * scored.share(frozenset(analyzer.terms(whole))):
                continue
        candidates.append(i)
    if not candidates:
        return []
    candidates.sort(key=lambda i: (-scores[i], units[i].rank, units[i].line, units[i].part))
    best = scores[candidates[0]]
    chosen: list[int] = []
    seen: set[str] = set()
    chars = 0
    for i in candidates:
        u = units[i]
        key = " ".join(u.text.lower().split())
        if scores[i] < NEAR_BEST * best or key in seen:
            continue
        if chosen and chars + len(u.text) > MAX_CHARS:
            break
        chosen.append(i)
        seen.add(key)
        chars += len(u.text)
        if len(chosen) == MAX_SENTENCES:
            break
    chosen += _neighbours(chosen, units, scored, MAX_CHARS - chars)
    picked = {units[i] for i in chosen}
    for i in chosen:  # a table row or list item reads under the line it belongs to
        u = units[i]
        if u.parent is not None:
            picked.update(scored.lines[(u.rank, u.parent)])
    score_of = {units[i]: scores[i] for i in range(len(units))}
    quotes: list[Quote] = []
    for u in sorted(picked, key=lambda u: (u.rank, u.line, u.part)):
        hit = hits[u.rank]
        start = _offset(hit.text, u.line, u.text)
        start, end = _whole_sentence(hit.text, start, start + len(u.text))
        if quotes and quotes[-1].n == u.rank + 1 and quotes[-1].end >= end:
            continue  # a hard-wrapped sentence's other line, already quoted whole
        text = " ".join(hit.text[start:end].split()) if not u.text.startswith("|") else u.text
        if end >= len(hit.text.rstrip()) and not text.endswith(_CLOSED):
            text += " …"  # the passage ends mid-sentence: say so rather than seem whole
        quotes.append(Quote(u.rank + 1, hit.chunk_id, text, start, end, score_of[u]))
    return quotes


def _neighbours(chosen: list[int], units: Sequence[Unit], scored: Scored, room: int) -> list[int]:
    """For each chosen sentence, the one before or after it in its passage that adds the
    most of the question the quotes lack, if that is at least NEIGHBOUR_GAIN and fits."""
    have = frozenset().union(*(units[i].terms for i in chosen))
    added: list[int] = []
    for i in chosen:
        best, pick = NEIGHBOUR_GAIN, None
        held = scored.share(have)
        for j in (i - 1, i + 1):
            if not 0 <= j < len(units) or j in chosen or j in added:
                continue
            u = units[j]
            if u.rank != units[i].rank or u.text.startswith("|") or len(u.text) > room:
                continue  # another passage, a table row (read under its header), too long
            if u.text.rstrip().endswith(("?", "？")):
                continue
            gain = scored.share(have | u.terms) - held
            if gain >= best:
                best, pick = gain, j
        if pick is not None:
            added.append(pick)
            have |= units[pick].terms
            room -= len(units[pick].text)
    return added


def asked_names(question: str) -> list[list[str]]:
    """The terms of the names the question asks about ("PETM", "GPT-3", "LoRA")."""
    wanted = set(analyzer.query_terms(question))
    out = []
    for word in question.split():
        if _NAME.search(word):
            group = [t for t in dict.fromkeys(analyzer.terms(word)) if t in wanted]
            if group:
                out.append(group)
    return out


@lru_cache(maxsize=64)
def _mentions(query: str) -> re.Pattern[str]:
    """The question itself written in a passage (a table of example questions, an FAQ
    that lists it): mentioned there, like a quote, not answered."""
    words = query.strip().rstrip("?？.!").split()
    if len(words) < 2:
        return re.compile(r"(?!)")  # one word is a term, not a question written out
    return re.compile(r"\s+".join(re.escape(w) for w in words) + r"[?？]?", re.IGNORECASE)


def addressed(question: str, text: str, *, names: bool = True) -> float:
    """The share of the question's content words that `text` holds: an answer that names
    none of what was asked answers something else. With `names`, 0 unless it holds every
    name the question asks about."""
    groups = query_groups(question)
    if not groups:
        return 1.0
    # A question quoted ('The question "What is LoRA?" is answered in ...') is mentioned,
    # not answered; names in backticks are used as they are.
    have = set(analyzer.terms(_SPOKEN.sub(" ", text)))
    if names and not all(any(t in have for t in g) for g in asked_names(question)):
        return 0.0  # about something else than the "PETM" asked about
    return sum(any(t in have for t in g) for g in groups) / len(groups)


@lru_cache(maxsize=64)
def _sentence_spans(text: str) -> tuple[sentences.Span, ...]:
    # Asked once per candidate line and again per quote: a passage is cut once.
    return tuple(span for span, _ in sentences.source_units(text))


def _whole_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The offsets of the sentence a line of a hard-wrapped paragraph belongs to."""
    for span in _sentence_spans(text):
        if span.start <= start < span.end or start <= span.start < end:
            return min(span.start, start), max(span.end, end)
    return start, end


_SPOKEN = re.compile(
    "|".join(f"{o}(?:[^{c}\\n]|\\n(?!\\n)){{0,300}}{c}" for o, c in ('""', "“”", "‘’", "「」"))
)
_CLOSED = (".", "!", "?", "。", "|", ")", ":", "다")
_NAME = re.compile(r"[A-Z].*[A-Z0-9]|[A-Za-z]+-?\d")


def _offset(text: str, line: int, piece: str) -> int:
    starts = [0]
    for row in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(row))
    at = text.find(piece, starts[min(line, len(starts) - 1)])
    return max(at, 0)


def render(quotes: Sequence[Quote]) -> str:
    """The quotes as an answer: each passage's sentences together, then its [n]."""
    parts: list[str] = []
    for i, q in enumerate(quotes):
        last_of_source = i + 1 == len(quotes) or quotes[i + 1].n != q.n
        text = q.text + (f" [{q.n}]" if last_of_source else "")
        if parts:
            table = q.text.startswith("|") and quotes[i - 1].text.startswith("|")
            same = quotes[i - 1].n == q.n
            parts.append("\n" if table or not same else " ")
        parts.append(text)
    return "".join(parts)
