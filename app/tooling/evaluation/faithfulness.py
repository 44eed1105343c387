"""The labelled answer-faithfulness set: its rows, the passages they cite, a checker's score."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ingest.chunking import CountTokens, chunk_document
from ingest.loaders import load_file
from vectorstore import NewChunk

REPO = Path(__file__).resolve().parents[3]
DEFAULT_SET = REPO / "tests" / "data" / "faithfulness.jsonl"
# ../shared ships beside CI's checkout, not in clones: rows over it are skipped without it.
DEFAULT_SEEDS = REPO.parent / "shared" / "corpus" / "seeds"
FAITHFUL_KINDS = frozenset(
    "verbatim paraphrase number-format cross-language multi-source right-answer".split()
)
# wrong-answer / right-answer: the question said again with a wrong / the source's answer.
UNFAITHFUL_KINDS = frozenset(
    "changed-number invented-name invented-url invented-date other-source wrong-citation "
    "negation contradiction wrong-answer".split()
)


class SentenceCheckLike(Protocol):
    """What score() reads of one checked sentence (app.grounding's SentenceCheck)."""

    @property
    def text(self) -> str: ...
    @property
    def supported(self) -> bool: ...
    @property
    def source(self) -> int | None: ...
    @property
    def cited(self) -> Sequence[int]: ...
    @property
    def reason(self) -> str | None: ...


class SupportReportLike(Protocol):
    @property
    def sentences(self) -> Sequence[SentenceCheckLike]: ...
    @property
    def corrected(self) -> bool: ...


# check(answer, source texts, their heading paths, question): as the model was shown them.
CheckAnswer = Callable[[str, Sequence[str], Sequence[str], str], SupportReportLike]


@dataclass(frozen=True)
class SourceRef:
    file: str  # "seeds/<name>" (under the seeds folder) or "docs/<name>" (this repo)
    contains: str  # occurs exactly once in the loaded file, and in the passage meant


@dataclass(frozen=True)
class FaithfulnessRow:
    id: str
    lang: str
    faithful: bool
    kind: str
    question: str
    sources: tuple[SourceRef, ...]
    answer: str
    note: str

    @property
    def needs_seeds(self) -> bool:
        return any(s.file.startswith("seeds/") for s in self.sources)


def load_rows(path: Path = DEFAULT_SET) -> list[FaithfulnessRow]:
    """The rows of a faithfulness JSONL file; ValueError naming the line when one is bad."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw: dict[str, Any] = json.loads(line)
            sources = tuple(SourceRef(str(s["file"]), str(s["contains"])) for s in raw["sources"])
            rows.append(
                FaithfulnessRow(
                    str(raw["id"]),
                    str(raw["lang"]),
                    bool(raw["faithful"]),
                    str(raw["kind"]),
                    str(raw["question"]),
                    sources,
                    str(raw["answer"]),
                    str(raw.get("note", "")),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: {exc!r}") from exc
    return rows


@dataclass(frozen=True)
class Passage:
    context: str  # heading path
    text: str

    @property
    def shown(self) -> str:
        """The passage as the checker gets it (the prompt shows the text under its heading)."""
        return f"{self.context}\n{self.text}" if self.context else self.text


def default_chunking() -> tuple[CountTokens, int, int]:
    """(token counter, max tokens, overlap) as ingestion chunks with the bundled embedder
    and the default chunk settings: RAGQA_CHUNK_TOKENS capped at what the model embeds."""
    from app.config import Settings
    from app.tooling.reliability.loader_contract import bundled_token_counter
    from vectorstore import BUNDLED_EMBEDDER, resolve_model

    config = json.loads(
        (Path(resolve_model(BUNDLED_EMBEDDER)) / "sentence_bert_config.json").read_text()
    )
    model_max = int(config["max_seq_length"]) - 2  # [CLS] and [SEP], as the embedders say
    fields = Settings.model_fields
    max_tokens = min(int(fields["chunk_tokens"].default), model_max)
    overlap = min(int(fields["chunk_overlap"].default), max_tokens // 2)  # as Pipeline
    return bundled_token_counter(), max_tokens, overlap


class PassageResolver:
    """Chunks each cited file once, as ingestion would, and finds the passage that holds a
    row's `contains`: the first chunk whose text has it, else the first whose heading has."""

    def __init__(
        self,
        seeds: Path | None = DEFAULT_SEEDS,
        docs: Path = REPO / "docs",
        chunking: tuple[CountTokens, int, int] | None = None,
    ) -> None:
        self.roots = {"seeds": seeds, "docs": docs}
        self._chunking = chunking
        self._files: dict[str, tuple[str, list[NewChunk]]] = {}

    def missing(self, row: FaithfulnessRow) -> str | None:
        """Why the row cannot be resolved here (a folder it needs is absent), or None."""
        for ref in row.sources:
            root = self.roots.get(ref.file.split("/", 1)[0])
            if root is None or not root.is_dir():
                return f"{ref.file}: {root or 'no such folder'} is absent"
        return None

    def _chunks(self, file: str) -> tuple[str, list[NewChunk]]:
        if file not in self._files:
            if self._chunking is None:
                self._chunking = default_chunking()
            count, max_tokens, overlap = self._chunking
            top, name = file.split("/", 1)
            root = self.roots[top]
            assert root is not None
            (doc,) = load_file(root / name, file).documents
            self._files[file] = (doc.text, chunk_document(doc, count, max_tokens, overlap))
        return self._files[file]

    def passage(self, ref: SourceRef) -> Passage:
        """The passage `ref` means; LookupError when its text is missing or ambiguous."""
        text, chunks = self._chunks(ref.file)
        if text.count(ref.contains) != 1:
            raise LookupError(f"{ref.file}: {ref.contains!r} occurs {text.count(ref.contains)}x")
        hit = next((c for c in chunks if ref.contains in c.text), None)
        hit = hit or next((c for c in chunks if ref.contains in c.context), None)
        if hit is None:
            raise LookupError(f"{ref.file}: no chunk holds {ref.contains!r}")
        return Passage(hit.context, hit.text)


@dataclass(frozen=True)
class ResolvedRow:
    row: FaithfulnessRow
    passages: tuple[Passage, ...]

    @property
    def sources(self) -> list[str]:
        return [p.text for p in self.passages]

    @property
    def contexts(self) -> list[str]:
        return [p.context for p in self.passages]


@dataclass(frozen=True)
class Resolution:
    rows: list[ResolvedRow]
    skipped: dict[str, str]  # row id -> why
    seconds: float


def resolve(rows: Iterable[FaithfulnessRow], resolver: PassageResolver) -> Resolution:
    """Each row with its passages; rows whose files are absent here are skipped with why."""
    start = time.perf_counter()
    out, skipped = [], {}
    for row in rows:
        reason = resolver.missing(row)
        if reason is not None:
            skipped[row.id] = reason
            continue
        out.append(ResolvedRow(row, tuple(resolver.passage(ref) for ref in row.sources)))
    return Resolution(out, skipped, time.perf_counter() - start)


@dataclass(frozen=True)
class Verdict:
    row: FaithfulnessRow
    flagged: bool  # a sentence unsupported, or a citation corrected
    details: tuple[str, ...]  # one line per sentence, as the checker judged it

    @property
    def correct(self) -> bool:
        return self.flagged != self.row.faithful


@dataclass
class FaithfulnessReport:
    verdicts: list[Verdict]
    skipped: dict[str, str] = field(default_factory=dict)

    def _rate(self, faithful: bool) -> float:
        mine = [v for v in self.verdicts if v.row.faithful == faithful]
        return sum(v.correct for v in mine) / len(mine) if mine else 0.0

    @property
    def passed(self) -> float:
        """Share of faithful answers with every sentence supported and nothing corrected."""
        return self._rate(True)

    @property
    def caught(self) -> float:
        """Share of unfaithful answers with a sentence unsupported or a citation corrected."""
        return self._rate(False)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind -> (judged right, rows)."""
        total = Counter(v.row.kind for v in self.verdicts)
        right = Counter(v.row.kind for v in self.verdicts if v.correct)
        return {k: (right[k], total[k]) for k in sorted(total)}

    @property
    def misjudged(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.correct]

    def summary(self) -> str:
        lines = [
            f"faithful passed {self.passed:.3f}, unfaithful caught {self.caught:.3f} "
            f"({len(self.verdicts)} rows, {len(self.skipped)} skipped)"
        ]
        lines += [f"  {k}: {r}/{n}" for k, (r, n) in self.by_kind().items()]
        for v in self.misjudged:
            label = "faithful, flagged" if v.row.faithful else "unfaithful, passed"
            lines.append(f"{v.row.id} ({v.row.kind}, {label}): {v.row.note}")
            lines += [f"    {d}" for d in v.details]
        return "\n".join(lines)


def score(rows: Iterable[ResolvedRow], check: CheckAnswer) -> FaithfulnessReport:
    """Run `check` on every row's answer over its passages and judge it against the label."""
    verdicts = []
    for resolved in rows:
        report = check(
            resolved.row.answer, resolved.sources, resolved.contexts, resolved.row.question
        )
        details = tuple(
            f"[{'ok' if s.supported else 'UNSUPPORTED'} source={s.source} "
            f"cited={list(s.cited)}] {s.text} -- {s.reason}"
            for s in report.sentences
        ) + (("citations corrected",) if report.corrected else ())
        flagged = report.corrected or any(not s.supported for s in report.sentences)
        verdicts.append(Verdict(resolved.row, flagged, details))
    return FaithfulnessReport(verdicts)
