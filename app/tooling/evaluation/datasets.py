"""Evaluation sets on disk: BEIR folders, SQuAD-format files, seeds-qa rows."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ingest.document import Document, Part


@dataclass(frozen=True)
class BeirSet:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    """`corpus.jsonl[.gz]`, `queries.jsonl`, `qrels/<split>.tsv`; only judged queries kept."""
    corpus = next(
        (folder / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (folder / n).exists()), None
    )
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if corpus is None or not (folder / "queries.jsonl").exists() or not qrels_path.exists():
        raise FileNotFoundError(
            f"{folder} is not a BEIR folder: it needs corpus.jsonl[.gz], queries.jsonl "
            f"and qrels/{qrels_path.name}"
        )
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with qrels_path.open() as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) >= 3 and row[2].strip().lstrip("-").isdigit():
                qrels[row[0]][row[1]] = int(row[2])
    queries = {}
    with (folder / "queries.jsonl").open() as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                if q["_id"] in qrels:
                    queries[q["_id"]] = q["text"]
    return BeirSet(corpus, queries, {q: qrels[q] for q in queries})


@dataclass
class SquadSet:
    documents: list[Document]
    questions: list[tuple[str, str, list[str]]] = field(
        default_factory=list
    )  # (q, doc id, answers)


def load_squad(path: Path) -> SquadSet:
    """Each paragraph becomes a document (`<title>#<n>`); each question keeps its gold answers."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = SquadSet([])
    for article in data:
        for n, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}#{n}"
            out.documents.append(
                Document(
                    id=doc_id,
                    source=path.name,
                    parts=(Part(paragraph["context"]),),
                    title=article["title"],
                )
            )
            for qa in paragraph["qas"]:
                out.questions.append((qa["question"], doc_id, [a["text"] for a in qa["answers"]]))
    return out


def load_qa(path: Path) -> list[dict[str, object]]:
    """seeds-qa rows: `question`, `evidence`, `answer_any`, optional `off_topic`."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
