"""Focused sources: the sentences of the retrieved passages that bear on the question.

On a CPU reading the prompt takes most of the time to the first token, so the sources'
length sets it. Cutting whole passages off the end of the list (or a passage's tail) drops
the answer whenever it sits in a lower-ranked passage or late in one; choosing sentences
by the question's terms keeps it, and spares a small model the noise around it
(docs/BENCHMARKS.md, docs/EVALUATION.md).

Notes are Markdown: a table row means little without the table's header ("| 2020.06.11
| GPT-3 | 1,750억 |" answers "how many parameters" only under "| 공개일 | 모델 | 파라미터
수 |"), and a list item often only under the line that introduces it. Such a line is the
unit's parent: its terms count for the unit (at half weight), and it is shown with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from vectorstore import SearchHit, analyzer

# A sentence ends at ., !, ? or 。 before a space (Korean prose ends its sentences with
# "다." like English); a line break always ends one.
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")
# Each passage further down the ranking weighs its sentences this much less: retrieval's
# order is evidence too, and ties (a question sharing no term with the text, as English
# questions over Korean notes often do) fall back to it.
RANK_DISCOUNT = 0.1
# A sentence right after a matching one often goes on with its subject ("It cuts memory
# threefold."): it scores this share of its predecessor's score when that is more.
NEXT_SHARE = 0.5
# Terms found only in a unit's parent line or its passage's heading path count this much.
PARENT_SHARE = 0.5
GAP = " … "


@dataclass(frozen=True)
class Excerpt:
    hit: SearchHit
    text: str  # the chosen sentences, in the passage's order


@dataclass(frozen=True)
class Unit:
    rank: int  # the passage's place in the ranking
    line: int  # the line's place in its passage
    part: int  # the sentence's place in its line
    text: str
    parent: int | None  # the line it belongs under (a table's header, a list's lead)
    terms: frozenset[str]


def split_sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, joiner) pairs in order; the joiner is "\n" at a line break."""
    return [(u.text, " " if u.part else "\n") for u in _units(0, text)]


def _units(rank: int, text: str) -> list[Unit]:
    out: list[Unit] = []
    raw = text.splitlines()
    lines = [line.strip() for line in raw]
    # Open outline levels: (indent, line) of the lines a list item may belong under,
    # innermost last; a plain line opens a new outline at indent -1.
    outline: list[tuple[int, int]] = []
    header: int | None = None  # the current table's first row
    for n, line in enumerate(lines):
        if not line or (_TABLE_RULE.match(line) and "-" in line):
            if not line:
                header = None
            continue
        parent: int | None = None
        if line.startswith("|"):
            if header is None:
                header = n
            else:
                parent = header
        else:
            header = None
            indent = len(raw[n]) - len(raw[n].lstrip())
            if _LIST_ITEM.match(line):
                while outline and outline[-1][0] >= indent:
                    outline.pop()
                parent = outline[-1][1] if outline else None
                outline.append((indent, n))
            else:
                outline = [(-1, n)]
        pieces = [p.strip() for p in _SENTENCE_END.split(line) if p.strip()]
        for part, piece in enumerate(pieces):
            out.append(Unit(rank, n, part, piece, parent, frozenset(analyzer.terms(piece))))
    return out


@dataclass(frozen=True)
class Scored:
    """The passages' sentences, each scored for how much of the question it holds."""

    units: list[Unit]
    scores: list[float]
    lines: dict[tuple[int, int], list[Unit]]  # (rank, line) -> its sentences
    share: Callable[[frozenset[str]], float]  # the weighted share of the question in terms


def score_sentences(
    query: str, hits: Sequence[SearchHit], term_weights: Mapping[str, float] | None = None
) -> Scored:
    """Every sentence's score: the share of the query's (IDF-weighted) terms it holds,
    its parent line's and heading path's at half weight, discounted by its passage's rank.
    `term_weights` weighs the query's terms (the store's IDF); without it, their IDF among
    these sentences does."""
    units = [u for rank, hit in enumerate(hits) for u in _units(rank, hit.text)]
    groups = query_groups(query)
    terms = [t for g in groups for t in g]
    context = [frozenset(analyzer.terms(hit.context)) for hit in hits]
    # Terms found in a heading path count too: a list of advantages under "LoRA › 장점"
    # answers "LoRA의 장점은?" without naming LoRA in any item.
    found = set().union(*(u.terms for u in units), *context)
    if term_weights is None:
        weights = _idf(terms, units)
    else:  # the store's IDF: "PETM" is rare in the notes even where these passages repeat it
        weights = {t: term_weights.get(t, 0.0) for t in terms if t in found}
    # A query word weighs what its terms weigh on average, and a sentence holds it to the
    # share of its terms there: "GPT-3" is gpt, 3 and gpt3; a Korean word its bigrams.
    word_weight = [
        sum(weights.get(t, 0.0) for t in g) / len(g) if any(t in weights for t in g) else 0.0
        for g in groups
    ]
    total = sum(word_weight) or 1.0
    lines: dict[tuple[int, int], list[Unit]] = {}
    for u in units:
        lines.setdefault((u.rank, u.line), []).append(u)

    def share(present: frozenset[str]) -> float:
        held = sum(
            w * sum(1 for t in g if t in present) / len(g)
            for g, w in zip(groups, word_weight, strict=True)
        )
        return held / total

    own = [share(u.terms) for u in units]
    around = []
    for u, mine in zip(units, own, strict=True):
        inherited = context[u.rank]
        if u.parent is not None:
            inherited = inherited.union(*(p.terms for p in lines[(u.rank, u.parent)]))
        around.append(mine + PARENT_SHARE * share(inherited - u.terms))
    scores = [
        max(around[i], NEXT_SHARE * own[i - 1] if i and units[i - 1].rank == u.rank else 0.0)
        * (1 - RANK_DISCOUNT * u.rank)
        for i, u in enumerate(units)
    ]
    return Scored(units, scores, lines, share)


def focus(
    query: str,
    hits: Sequence[SearchHit],
    budget: int,
    count_tokens: Callable[[str], int],
    overhead: Callable[[int, SearchHit], int],
    term_weights: Mapping[str, float] | None = None,
) -> list[Excerpt]:
    """The passages' most relevant sentences within `budget` tokens, best passages first.

    Sentences (scored by `score_sentences`) are taken best first while they fit, each with
    its parent line (only those that score, unless none does: then in the ranking's
    order), and `overhead(n, hit)` (the tokens a passage's frame costs as source n) is
    paid once per passage used. Passages with no sentence chosen are left out.
    """
    scored = score_sentences(query, hits, term_weights)
    units, scores, lines = scored.units, scored.scores, scored.lines
    if not units:
        return []
    ranked = sorted(range(len(units)), key=lambda i: (-scores[i], units[i].rank, units[i].line))
    if scores[ranked[0]] > 0:  # sentences about nothing asked are noise, and cost time
        ranked = [i for i in ranked if scores[i] > 0]
    chosen: dict[int, set[Unit]] = {}
    left = budget
    for unit in (units[i] for i in ranked):
        taken = chosen.get(unit.rank, set())
        if unit in taken:
            continue  # already in, as a parent
        extra = [unit]
        if unit.parent is not None:
            extra = [p for p in lines[(unit.rank, unit.parent)] if p not in taken] + extra
        cost = sum(count_tokens(u.text) + 1 for u in extra)
        if unit.rank not in chosen:
            cost += overhead(len(chosen) + 1, hits[unit.rank])
        if cost <= left:
            chosen.setdefault(unit.rank, set()).update(extra)
            left -= cost
        if left <= 1:
            break
    return [Excerpt(hits[rank], _join(chosen[rank])) for rank in sorted(chosen)]


# Korean particles that end a query word ("부분을", "모델의", "데이터에서"): their bigrams
# ("분을") would favour sentences that use the word with the same particle.
_PARTICLES = tuple(
    sorted(
        "은 는 이 가 을 를 의 에 와 과 도 로 만 으로 에서 에게 까지 부터 처럼 보다 이란 란".split(),
        key=len,
        reverse=True,
    )
)
_HANGUL_END = re.compile(r"[\uac00-\ud7a3]$")


def query_groups(query: str) -> list[list[str]]:
    """The query's content words, each as its analyzer terms; particles, stop words and
    question words left out (analyzer.query_terms does the same for the whole query)."""
    wanted = set(analyzer.query_terms(query))
    groups: list[list[str]] = []
    seen: set[str] = set()
    for word in query.split():
        core = analyzer.strip_question(word).rstrip("?!.,")
        if _HANGUL_END.search(core):
            for particle in _PARTICLES:
                if core.endswith(particle) and len(core) > len(particle):
                    core = core[: -len(particle)]
                    break
        group = [t for t in dict.fromkeys(analyzer.terms(core)) if t in wanted and t not in seen]
        if group:
            groups.append(group)
            seen.update(group)
    return groups


def _idf(terms: Sequence[str], units: Sequence[Unit]) -> dict[str, float]:
    """Weights of the query's terms among these sentences: a term in every sentence
    tells them apart no better than one in none."""
    n = len(units)
    out = {}
    for term in terms:
        df = sum(1 for u in units if term in u.terms)
        if df:
            out[term] = math.log(1 + n / df)
    return out


def _join(units: set[Unit]) -> str:
    ordered = sorted(units, key=lambda u: (u.line, u.part))
    parts = ["… " if (ordered[0].line, ordered[0].part) != (0, 0) else "", ordered[0].text]
    for before, unit in zip(ordered, ordered[1:], strict=False):
        if unit.line == before.line and unit.part == before.part + 1:
            parts.append(" ")
        elif unit.line > before.line and unit.part == 0:
            # Rows of one table stay one table: a gap line would end it.
            table = unit.text.startswith("|") and before.text.startswith("|")
            parts.append("\n" if unit.line == before.line + 1 or table else "\n…\n")
        else:
            parts.append(GAP)
        parts.append(unit.text)
    return "".join(parts)
