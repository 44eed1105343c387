"""What the bench ingests and asks: the first N documents of a BEIR set, or a docs folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ingest.document import Document, LoaderError, Part
from ingest.loaders import load_file
from ingest.sources import discover, normalise

DEFAULT_CORPUS = Path("../shared/eval/scifact")
# Korean paragraphs and questions mixed into the synthetic search store, when present.
KORQUAD = Path("../shared/eval/korquad_v1_dev/KorQuAD_v1.0_dev.json")
# The project's own documentation: the corpus a clone without ../shared always has.
DOCS_FOLDER = Path(__file__).resolve().parents[3] / "docs"
# Questions about ragqa itself, for the docs folder, which comes with no query file.
FALLBACK_QUERIES = (
    "How does hybrid search work?",
    "What happens when the answer is not in the documents?",
    "How is the FAISS index kept in sync with SQLite?",
    "Which embedding model does ragqa use?",
    "How do I change the generator model?",
    "What does the relevance gate do?",
    "ragqa는 한국어 문서를 어떻게 검색하나요?",
    "How are documents split into chunks?",
)
EDIT_SENTENCE = " This sentence was appended by ragqa bench to change the document."


class CorpusError(Exception):
    """The corpus cannot be used; the message says why, for the user."""


@dataclass(frozen=True)
class BenchCorpus:
    name: str  # shown in the report: a folder name
    documents: list[Document]
    queries: list[str]


def load_corpus(folder: Path, limit: int | None) -> BenchCorpus:
    """A BEIR folder (corpus.jsonl[.gz] + queries.jsonl) or any folder `ragqa ingest` reads."""
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist (give one with --corpus DIR)")
    if any((folder / n).exists() for n in ("corpus.jsonl", "corpus.jsonl.gz")):
        return _beir(folder, limit)
    return _files(folder, limit)


def _beir(folder: Path, limit: int | None) -> BenchCorpus:
    from app.tooling.evaluation.datasets import load_beir

    try:
        data = load_beir(folder)
    except FileNotFoundError as exc:
        raise CorpusError(str(exc)) from exc
    # As `ragqa eval beir` and `ragqa ingest` read a record file: one loader, same ids.
    try:
        loaded = load_file(data.corpus, normalise(str(data.corpus)))
    except LoaderError as exc:
        raise CorpusError(f"{data.corpus}: {exc}") from exc
    queries = list(data.queries.values())
    if not queries:
        raise CorpusError(f"{folder}/queries.jsonl has no judged queries to search with")
    return BenchCorpus(folder.resolve().name, loaded.documents[:limit], queries)


def _files(folder: Path, limit: int | None) -> BenchCorpus:
    # Discovery and loaders as `ragqa ingest FOLDER` uses them: same order, same ids.
    documents: list[Document] = []
    for item in discover([str(folder)]).files:
        if limit is not None and len(documents) >= limit:
            break
        try:
            documents.extend(load_file(item.path, item.doc_id).documents)
        except LoaderError:
            continue  # an unreadable file is ingest's concern, not a speed figure
    if not documents:
        raise CorpusError(f"{folder} holds no corpus.jsonl[.gz] and no file ragqa can ingest")
    return BenchCorpus(folder.resolve().name, documents[:limit], list(FALLBACK_QUERIES))


def edited(documents: list[Document], share: float) -> tuple[list[Document], int]:
    """The documents with `share` of them (at least one, spread evenly) given one more
    sentence, and how many were edited."""
    count = min(len(documents), max(1, round(len(documents) * share)))
    picks = {i * len(documents) // count for i in range(count)}
    out = []
    for i, doc in enumerate(documents):
        if i in picks:
            last = doc.parts[-1]
            parts = (*doc.parts[:-1], Part(last.text + EDIT_SENTENCE, last.metadata))
            doc = dataclasses.replace(doc, parts=parts)
        out.append(doc)
    return out, len(picks)
