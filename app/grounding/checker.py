"""Each sentence of an answer checked against the sources the model was shown.

A sentence is supported by a source when a few sentences of it (with the table header or
heading above them) hold every exact token the sentence states (numbers, dates, URLs),
every name it uses, and enough of its other content words. Its [n] must name such a
source: a wrong one is corrected to the best that does, or removed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.grounding import exact, sentences, words
from app.rag.language import is_korean

# Share of a claim's content words a passage must hold, in the claim's own language, and
# across languages (an English sentence over a Korean note shares its names, numbers and
# loanwords with it, rarely its verbs).
MIN_COVERAGE = 0.7
# Korean says a thing again with other predicates ("크게 낮았어요" for "충격을 줌") more
# often than English does, and its words match by stem only.
MIN_COVERAGE_KOREAN = 0.6
MIN_COVERAGE_ACROSS = 0.3
NAME_WEIGHT = 2.0
# A model stuck in a loop inside one sentence: a stretch said three times running.
_REPEATED = re.compile(r"(\S.{7,}?)\s*\1\s*\1")
# Sentences on each side of the matching one that a claim may draw on ("It cuts memory
# threefold." goes on with the sentence before it).
WINDOW = 1


@dataclass(frozen=True)
class SentenceCheck:
    text: str  # as the answer wrote it, markers included
    start: int  # offsets in the answer
    end: int
    claim: bool  # states something checkable (a bare "Sure." does not)
    supported: bool
    source: int | None  # the n of the source that supports it best
    source_start: int | None  # the supporting sentence's offsets in that source's text
    source_end: int | None
    cited: list[int]  # the [n] the answer wrote
    citations: list[int]  # the [n] it should carry: supporting sources only
    coverage: float  # share of its content words the best passage holds
    reason: str | None  # why it is not supported, or why its citation changed


@dataclass
class SupportReport:
    sentences: list[SentenceCheck] = field(default_factory=list)

    @property
    def claims(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.claim]

    @property
    def share(self) -> float:
        """Supported claims over claims; 1.0 for an answer that claims nothing."""
        claims = self.claims
        return sum(s.supported for s in claims) / len(claims) if claims else 1.0

    @property
    def corrected(self) -> bool:
        return any(s.cited and s.cited != s.citations for s in self.sentences)


@dataclass(frozen=True)
class _Window:
    n: int  # the source's number
    start: int  # the centre sentence's offsets in the source text
    end: int
    passage: words.Passage
    values: frozenset[str]
    centre: words.Passage  # the sentence alone: of windows that hold as much, its own best


@dataclass(frozen=True)
class _Verdict:
    n: int
    ok: bool
    coverage: float
    missing: str | None  # what the passage lacks
    window: _Window
    own: float = 0.0  # the share its centre sentence holds alone


def _windows(n: int, text: str, context: str) -> list[_Window]:
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
            _Window(
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


def _judge(
    claim: str,
    exacts: list[exact.Exact],
    content: list[words.Word],
    window: _Window,
    source_values: frozenset[str],
) -> _Verdict:
    held = [words.holds(window.passage, w) for w in content]
    coverage = _share(content, held)
    for token in exacts:
        have = source_values if token.kind in ("url", "email") else window.values
        if not exact.supported(token, have):
            return _Verdict(window.n, False, coverage, token.text, window)
    for word, ok in zip(content, held, strict=True):
        if word.name and not ok:
            return _Verdict(window.n, False, coverage, word.text, window)
    across = is_korean(claim) != window.passage.korean
    if across:
        need = MIN_COVERAGE_ACROSS
    else:
        need = MIN_COVERAGE_KOREAN if window.passage.korean else MIN_COVERAGE
    anchored = bool(exacts) or any(
        ok and (w.name or any(not words.is_hangul(t) for t in w.terms))
        for w, ok in zip(content, held, strict=True)
    )
    if across and not anchored:
        need = 1.1  # across languages, some name, number or loanword must match
    own = _share(content, [words.holds(window.centre, w) for w in content])
    return _Verdict(window.n, coverage >= need, coverage, None, window, own)


@dataclass(frozen=True)
class Prepared:
    """The sources cut into windows once, for every sentence of an answer."""

    windows: list[_Window]
    whole: list[frozenset[str]]  # each source's exact values, anywhere in it
    count: int


def prepare(sources: Sequence[str], contexts: Sequence[str] | None = None) -> Prepared:
    """`sources[i]` is the text of source [i + 1] and `contexts[i]` its heading path, as
    the model was shown them."""
    contexts = contexts or [""] * len(sources)
    pairs = list(zip(sources, contexts, strict=True))
    windows = [w for n, (t, c) in enumerate(pairs, start=1) for w in _windows(n, t, c)]
    whole = [exact.source_values(f"{c}\n{t}") for t, c in pairs]
    return Prepared(windows, whole, len(sources))


def _share(content: list[words.Word], held: list[bool]) -> float:
    """The weighted share of the words held; a name says more than a common word."""
    weights = [NAME_WEIGHT if w.name else 1.0 for w in content]
    total = sum(weights)
    return sum(w for w, ok in zip(weights, held, strict=True) if ok) / total if total else 1.0


def check_answer(
    answer: str, sources: Sequence[str], contexts: Sequence[str] | None = None
) -> SupportReport:
    """Check every sentence of `answer` against the sources (see `prepare`)."""
    prepared = prepare(sources, contexts)
    return SupportReport([check_sentence(s, prepared) for s in sentences.split(answer)])


def check_sentence(span: sentences.Span, prepared: Prepared) -> SentenceCheck:
    """One sentence of an answer, `span` giving its offsets in the answer."""
    windows, whole, count = prepared.windows, prepared.whole, prepared.count
    claim = sentences.plain(span.text)
    written = sentences.cited(span.text)
    valid = [n for n in written if 1 <= n <= count]
    exacts = exact.exact_tokens(claim)
    rest = claim
    for token in exacts:  # "175B" is checked as a number, not as a name
        # Only the token itself: "4" of "4-bit" must not cut "491MB" into "91MB".
        rest = re.sub(rf"(?<![\w.]){re.escape(token.text)}(?![A-Za-z0-9])", " ", rest, count=1)
    content = words.content_words(rest)
    # A question states nothing: a model that echoes the question has not answered it.
    if (not exacts and not content) or claim.rstrip().endswith(("?", "？")):
        return SentenceCheck(
            span.text,
            span.start,
            span.end,
            False,
            True,
            None,
            None,
            None,
            written,
            valid,
            1.0,
            None,
        )
    if _REPEATED.search(claim):
        return _unsupported(span, written, 0.0, "it repeats itself")
    verdicts = [_judge(claim, exacts, content, w, whole[w.n - 1]) for w in windows]
    best: dict[int, _Verdict] = {}
    for v in verdicts:
        kept = best.get(v.n)
        if kept is None or (v.ok, v.coverage, v.own) > (kept.ok, kept.coverage, kept.own):
            best[v.n] = v
    supporting = sorted((v for v in best.values() if v.ok), key=lambda v: (-v.coverage, v.n))
    if not supporting:
        top = max(best.values(), key=lambda v: v.coverage, default=None)
        if top is not None and top.missing:
            elsewhere = any(
                exact.supported(t, values)
                for t in exacts
                if t.text == top.missing
                for values in whole
            ) or any(
                words.holds(w.passage, word)
                for w in windows
                for word in content
                if word.text == top.missing
            )
            where = "not where the sources say the rest" if elsewhere else "in no source"
            reason = f"{top.missing!r} is {where}"
        else:
            share = top.coverage if top else 0.0
            reason = f"the sources hold {share:.0%} of what it says"
        return _unsupported(span, written, top.coverage if top else 0.0, reason)
    citations = [n for n in valid if n in best and best[n].ok]
    note: str | None = None
    if not citations:
        citations = [supporting[0].n]
        if written:
            shown = ", ".join(f"[{n}]" for n in written)
            note = f"{shown} does not say this; [{supporting[0].n}] does"
    elif citations != written:
        dropped = ", ".join(f"[{n}]" for n in written if n not in citations)
        note = f"{dropped} does not say this"
    chosen = best[citations[0]]
    return SentenceCheck(
        span.text,
        span.start,
        span.end,
        True,
        True,
        chosen.n,
        chosen.window.start,
        chosen.window.end,
        written,
        citations,
        chosen.coverage,
        note,
    )


def _unsupported(
    span: sentences.Span, written: list[int], coverage: float, reason: str
) -> SentenceCheck:
    """A claim no source supports: no source, no citation, and why."""
    return SentenceCheck(
        span.text,
        span.start,
        span.end,
        True,
        False,
        None,
        None,
        None,
        written,
        [],
        coverage,
        reason,
    )
