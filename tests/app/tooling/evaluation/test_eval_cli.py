"""`ragqa eval`: datasets, reports, and a retrieval floor on real data with the real model."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from app.config import DEFAULT_EMBEDDING_MODEL
from app.tooling.evaluation.datasets import load_beir, load_qa, load_squad
from app.tooling.evaluation.report import table, write_report
from app.tooling.evaluation.runner import Scores, retrieval_scores
from ingest.pipeline import Pipeline
from tests.conftest import shared_path
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store


def make_beir(folder: Path, docs: list[dict], queries: list[dict], qrels: list[tuple]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with gzip.open(folder / "corpus.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_beir_loading_and_scores_on_a_tiny_set(tmp_path: Path) -> None:
    docs = [
        {"_id": f"d{i}", "title": f"Topic {w}", "text": f"All about {w} and {w}s."}
        for i, w in enumerate(["zebra", "rocket", "violin", "glacier"])
    ]
    queries = [
        {"_id": "q1", "text": "zebras"},
        {"_id": "q2", "text": "rocket launch"},
        {"_id": "q3", "text": "unjudged"},
    ]
    folder = make_beir(tmp_path / "tiny", docs, queries, [("q1", "d0", 1), ("q2", "d1", 2)])
    data = load_beir(folder)
    assert set(data.queries) == {"q1", "q2"} and data.qrels["q2"] == {"d1": 2}
    emb = HashEmbedder()
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    from ingest.runner import run_ingest

    assert run_ingest(Pipeline(store, emb), [str(data.corpus)], progress=False).added == 4
    rows = retrieval_scores(Retriever(store, emb), data.queries, data.qrels, ["lexical", "hybrid"])
    assert [r.name for r in rows] == ["lexical", "hybrid"]
    assert rows[0].values["nDCG@10"] == pytest.approx(1.0)
    assert rows[0].values["Recall@1"] == pytest.approx(1.0)
    report = write_report(tmp_path / "reports", "tiny", "tiny set", rows, "ragqa eval beir tiny")
    text = report.read_text()
    assert "| lexical | 1.0000" in text and "ragqa eval beir tiny" in text
    assert report.with_suffix(".png").stat().st_size > 1000
    assert json.loads(report.with_suffix(".json").read_text())["results"]["hybrid"]["nDCG@10"] > 0


def test_beir_folder_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a BEIR folder"):
        load_beir(tmp_path)


def test_squad_and_qa_files_load(tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Seoul is big.",
                        "qas": [
                            {
                                "question": "What is big?",
                                "answers": [{"text": "Seoul", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (tmp_path / "s.json").write_text(json.dumps(squad))
    data = load_squad(tmp_path / "s.json")
    assert data.documents[0].id == "T#0" and data.questions == [("What is big?", "T#0", ["Seoul"])]
    rows = load_qa(Path(__file__).parents[3] / "data" / "offtopic.jsonl")
    assert len(rows) >= 20 and all(r["off_topic"] for r in rows)


def test_table_formats_rates_and_counts() -> None:
    text = table([Scores("hybrid", {"nDCG@10": 0.71234, "queries/s": 12.34})])
    assert "| hybrid | 0.7123 | 12.3 |" in text


@pytest.mark.models
@pytest.mark.shared
def test_scifact_subset_retrieval_floor(tmp_path: Path) -> None:
    """A regression guard for retrieval: 100 SciFact test queries over 300 abstracts (theirs
    plus distractors), the real embedder, through the CLI. Floors sit under the measured
    figures (hybrid 0.917, dense 0.912, lexical 0.875 when written)."""
    source = shared_path("eval", "scifact")
    lines = [line.rstrip("\n").split("\t") for line in (source / "qrels/test.tsv").open()][1:]
    wanted = list(dict.fromkeys(q for q, _, _ in lines))[:100]  # the first 100 test queries
    qrels = [(q, d, s) for q, d, s in lines if q in wanted]
    relevant = {d for _, d, _ in qrels}
    with gzip.open(source / "corpus.jsonl.gz", "rt") as f:
        corpus = [json.loads(line) for line in f]
    # Their relevant abstracts plus other abstracts as distractors: 300 documents in all.
    docs = [d for d in corpus if d["_id"] in relevant]
    docs += [d for d in corpus if d["_id"] not in relevant][: 300 - len(docs)]
    queries = [q for q in map(json.loads, (source / "queries.jsonl").open()) if q["_id"] in wanted]
    folder = make_beir(tmp_path / "scifact300", docs, queries, qrels)
    from app.cli.main import main

    store, reports = tmp_path / "store", tmp_path / "reports"
    assert (
        main(["eval", "beir", str(folder), "--store", str(store), "--reports", str(reports)]) == 0
    )
    summary = json.loads(next(reports.glob("*.json")).read_text())["results"]
    print(
        "\nSciFact-300:", {m: summary[m]["nDCG@10"] for m in summary}, f"({len(queries)} queries)"
    )
    assert summary["hybrid"]["nDCG@10"] >= 0.88
    assert (
        summary["hybrid"]["nDCG@10"]
        >= max(summary["dense"]["nDCG@10"], summary["lexical"]["nDCG@10"]) - 0.01
    )
    assert (
        json.loads(Store(store, DEFAULT_EMBEDDING_MODEL).note("last_eval") or "{}")["set"]
        == "scifact300"
    )


def test_answer_and_qa_scores_with_echo_generator(tmp_path: Path) -> None:
    from app.generators.echo import EchoGenerator
    from app.rag.service import RagService
    from app.tooling.evaluation.runner import answer_scores, qa_scores
    from ingest.document import Document, Part

    emb = HashEmbedder()
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    docs = [
        Document(id="T#0", source="s", parts=(Part("Seoul is the capital of Korea."),), title="T"),
        Document(id="T#1", source="s", parts=(Part("Zebras have black stripes."),), title="T"),
    ]
    Pipeline(store, emb).ingest(docs)
    rag = RagService(Retriever(store, emb), EchoGenerator(), min_relevance=0.3)
    questions = [("What is the capital of Korea?", "T#0", ["Seoul"])]
    given, quoted = answer_scores(rag, questions, sample=5)
    scores = given.values
    assert scores["questions"] == 1 and scores["grounded"] == 1.0 and scores["cites gold"] == 1.0
    assert 0 < scores["F1"] <= 1  # the echo quotes the passage, which contains "Seoul"
    assert scores["answer in prompt"] == 1.0 and scores["contains gold"] == 1.0
    assert scores["claims supported"] == 1.0 and scores["quotes given"] == 0.0
    assert quoted.name == "quotes" and quoted.values["contains gold"] == 1.0
    rows = [
        {
            "question": "What stripes do zebras have?",
            "evidence": ["black stripes"],
            "answer_any": ["black"],
        },
        {"question": "Who won the 1966 chess olympiad?", "off_topic": True},
    ]
    (only,) = qa_scores(rag, rows, k=2, answers=True)  # one kind (none named): one row
    qa = only.values
    assert qa["evidence hit@2"] == 1.0 and qa["answer keywords"] == 1.0 and qa["answered"] == 1.0
    assert qa["off-topic refused"] == 1.0
    assert qa["evidence in prompt"] == 1.0 and qa["shown supported"] == 1.0
    # Rows of several kinds: the whole, then a row per kind, in the order they come.
    kinds = [
        {**rows[0], "kind": "en"},
        {"question": "What is the capital of Korea?", "evidence": ["Mars"], "kind": "miss"},
    ]
    whole, en, miss = qa_scores(rag, kinds, k=2, answers=False)
    assert (whole.name, en.name, miss.name) == ("qa", "qa: en", "qa: miss")
    assert whole.values["evidence hit@2"] == 0.5 and whole.values["questions"] == 2
    assert en.values["evidence hit@2"] == 1.0 and miss.values["evidence hit@2"] == 0.0
    # A source budget too small for any sentence leaves the evidence out of the prompt.
    rag.source_tokens = 1
    assert qa_scores(rag, rows[:1], k=2, answers=False)[0].values["evidence in prompt"] == 0.0
