"""The labelled faithfulness set: well-formed rows, passages that resolve, the checker's score."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path

import pytest

from app.tooling.evaluation.faithfulness import (
    FAITHFUL_KINDS,
    UNFAITHFUL_KINDS,
    FaithfulnessRow,
    PassageResolver,
    load_rows,
    resolve,
    score,
)
from tests.conftest import SHARED, shared_path

ROWS = load_rows()
DOCS_ROWS = [r for r in ROWS if not r.needs_seeds]
SEEDS_ROWS = [r for r in ROWS if r.needs_seeds]
CITATION = re.compile(r"\[(\d+)\]")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def resolver() -> PassageResolver:
    return PassageResolver(seeds=SHARED / "corpus" / "seeds")


def row_problems(row: FaithfulnessRow) -> list[str]:
    problems = []
    kinds = FAITHFUL_KINDS if row.faithful else UNFAITHFUL_KINDS
    if row.kind not in kinds:
        problems.append(f"kind {row.kind!r} is not one of {sorted(kinds)}")
    if row.lang not in ("ko", "en"):
        problems.append(f"lang {row.lang!r}")
    elif (row.lang == "ko") != bool(HANGUL.search(row.answer)):
        problems.append(f"a {row.lang} answer {'without' if row.lang == 'ko' else 'with'} Hangul")
    if not row.sources or not row.question.strip() or not row.answer.strip():
        problems.append("no sources, question or answer")
    for ref in row.sources:
        if not ref.file.startswith(("seeds/", "docs/")) or not ref.contains.strip():
            problems.append(f"source {ref}")
        if "\n" in ref.contains:  # chunking rejoins lines: a snippet stays on one
            problems.append(f"`contains` spans lines: {ref.contains!r}")
    cited = {int(n) for n in CITATION.findall(row.answer)}
    if not cited or not cited <= set(range(1, len(row.sources) + 1)):
        problems.append(f"citations {sorted(cited)} for {len(row.sources)} source(s)")
    if row.kind == "wrong-citation" and len(row.sources) < 2:
        problems.append("a wrong citation needs a second source to be right about")
    return problems


def test_every_row_is_well_formed() -> None:
    problems = {r.id: row_problems(r) for r in ROWS}
    assert {k: v for k, v in problems.items() if v} == {}
    assert len({r.id for r in ROWS}) == len(ROWS), "ids must be unique"


def test_the_set_has_both_labels_both_languages_and_runs_without_shared() -> None:
    counts = Counter((r.lang, r.faithful) for r in ROWS)
    assert len(ROWS) >= 120
    assert all(counts[lang, label] >= 25 for lang in ("ko", "en") for label in (True, False))
    assert len(DOCS_ROWS) >= 30
    kinds = Counter(r.kind for r in ROWS)
    for kind in ("paraphrase", "number-format", "cross-language", "multi-source"):
        assert kinds[kind] >= 5, kind
    for kind in ("changed-number", "invented-name", "invented-url", "invented-date"):
        assert kinds[kind] >= 5, kind
    for kind in ("other-source", "wrong-citation"):
        assert kinds[kind] >= 5, kind


def _check_resolves(rows: list[FaithfulnessRow], resolver: PassageResolver) -> None:
    resolution = resolve(rows, resolver)
    assert resolution.skipped == {}
    for resolved in resolution.rows:
        for ref, passage in zip(resolved.row.sources, resolved.passages, strict=True):
            assert ref.contains in passage.shown, resolved.row.id
        # Two sources of one row are two passages: a wrong citation must have somewhere else
        # to point.
        shown = resolved.sources
        assert len(set(shown)) == len(shown), f"{resolved.row.id}: sources share a passage"


def test_docs_rows_resolve_to_one_passage_each(resolver: PassageResolver) -> None:
    _check_resolves(DOCS_ROWS, resolver)


@pytest.mark.shared
def test_seeds_rows_resolve_to_one_passage_each() -> None:
    _check_resolves(SEEDS_ROWS, PassageResolver(seeds=shared_path("corpus", "seeds")))


def test_rows_over_absent_seeds_are_skipped_with_the_reason(tmp_path: Path) -> None:
    resolution = resolve(ROWS, PassageResolver(seeds=tmp_path / "nowhere"))
    assert set(resolution.skipped) == {r.id for r in SEEDS_ROWS}
    assert all("nowhere" in why for why in resolution.skipped.values())
    assert len(resolution.rows) == len(DOCS_ROWS)


def test_the_checker_passes_the_faithful_and_catches_the_unfaithful(
    resolver: PassageResolver,
) -> None:
    if importlib.util.find_spec("app.grounding.checker") is None:
        pytest.skip("app/grounding/checker.py does not exist yet")
    from app.grounding.checker import check_answer

    resolution = resolve(ROWS, resolver)
    report = score(resolution.rows, check_answer)
    report.skipped = resolution.skipped
    caught, passed = report.caught, report.passed  # plain floats: pytest shows them as such
    assert caught >= 0.95 and passed >= 0.95, report.summary()
