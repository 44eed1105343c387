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
from app.grounding.windows import Prepared, Window, prepare
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
# Why a sentence that only says the question again is left out: it claims nothing, and
# what it seems to assert is made of the question's own words.
ECHO = "it only says the question again"
# A model stuck in a loop inside one sentence: a stretch said three times running.
_REPEATED = re.compile(r"(\S.{7,}?)\s*\1\s*\1")


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
    # Why it is not supported, why its citation changed, or why a non-claim is left out.
    reason: str | None


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
class _Verdict:
    n: int
    ok: bool
    coverage: float
    missing: str | None  # what the passage lacks
    window: Window
    own: float = 0.0  # the share its centre sentence holds alone


def _judge(
    claim: str,
    exacts: list[exact.Exact],
    content: list[words.Word],
    window: Window,
    source_values: frozenset[str],
    added: list[bool],
    added_exacts: int,
) -> _Verdict:
    """`added[i]`: whether `content[i]` is not among the question's words; `added_exacts`:
    how many of `exacts` the question does not state."""
    held = [words.holds(window.passage, w) for w in content]
    coverage = _share(content, held)
    if any(added) and coverage >= MIN_COVERAGE_ACROSS:
        # The question's own words said again are the user's framing, not a claim of the
        # answer's ("당시 ... 밝힌 인물의 이름은 윤석양이었다" over a passage that words the
        # question otherwise): those the passage lacks do not count against it. What the
        # sentence adds is held to the full share below; names and numbers always are.
        kept = [(w, ok) for w, ok, a in zip(content, held, added, strict=True) if a or ok]
        coverage = _share([w for w, _ in kept], [ok for _, ok in kept])  # never lower
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
    # The words a sentence adds to the question are its answer: the echo of the question
    # must not carry a wrong answer past the share.
    if coverage >= need and any(added):
        new = [(w, ok) for w, ok, a in zip(content, held, added, strict=True) if a]
        # Its numbers and dates, already found in the window, count as names do.
        if _share([w for w, _ in new], [ok for _, ok in new], added_exacts) < need:
            missing = next(w.text for w, ok in new if not ok)
            return _Verdict(window.n, False, coverage, missing, window, own)
    return _Verdict(window.n, coverage >= need, coverage, None, window, own)


def _share(content: list[words.Word], held: list[bool], exacts: int = 0) -> float:
    """The weighted share of the words held, with `exacts` exact tokens held besides; a
    name (or a number) says more than a common word."""
    weights = [NAME_WEIGHT if w.name else 1.0 for w in content]
    total = sum(weights) + NAME_WEIGHT * exacts
    got = sum(w for w, ok in zip(weights, held, strict=True) if ok) + NAME_WEIGHT * exacts
    return got / total if total else 1.0


def check_answer(
    answer: str,
    sources: Sequence[str],
    contexts: Sequence[str] | None = None,
    question: str = "",
) -> SupportReport:
    """Check every sentence of `answer` against the sources (see `prepare`)."""
    prepared = prepare(sources, contexts, question)
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
    asked = prepared.asked
    added = [asked is None or not words.holds(asked, w) for w in content]
    new_exacts = sum(
        1 for t in exacts if asked is None or not exact.supported(t, prepared.asked_values)
    )
    # A question states nothing, and neither does a sentence that only says the question
    # again ("X was called Y by X"): a model that echoes the question has not answered it.
    echo = asked is not None and bool(exacts or content) and not new_exacts and not any(added)
    asks = claim.rstrip().endswith(("?", "？"))
    if (not exacts and not content) or echo or asks:
        why = ECHO if echo and not asks else None
        return SentenceCheck(
            span.text, span.start, span.end, False, True, None, None, None, written, valid, 1.0, why
        )
    if _REPEATED.search(claim):
        return _unsupported(span, written, 0.0, "it repeats itself")
    verdicts = [
        _judge(claim, exacts, content, w, whole[w.n - 1], added, new_exacts) for w in windows
    ]
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
