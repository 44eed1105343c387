"""`ragqa bench`: pure figures and report rendering fast, then one real smoke run."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli.main import main
from app.tooling.bench.corpus import EDIT_SENTENCE, CorpusError, edited, load_corpus
from app.tooling.bench.coverage import covered_tokens
from app.tooling.bench.ingest import (
    IngestResult,
    ReingestResult,
    Throughput,
    coverage,
    ingest_pass,
    measure_reingest,
)
from app.tooling.bench.recording import RecordingEmbedder
from app.tooling.bench.report import BenchReport, render, write
from app.tooling.bench.startup import StartupResult
from app.tooling.bench.stats import percentile, summarize
from app.tooling.bench.tables import fmt, pct
from ingest.chunking import chunk_document
from ingest.document import Document, Part
from ingest.pipeline import Pipeline
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store
from vectorstore.types import NewChunk

ROOT = Path(__file__).resolve().parents[4]


def test_percentile_interpolates_between_ranks() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile(values, 100) == 5.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summarize_reports_milliseconds_and_rate() -> None:
    run = summarize(8, [0.010, 0.020, 0.030, 0.040], seconds=0.5, errors=1)
    assert (run.clients, run.requests, run.errors) == (8, 4, 1)
    assert run.p50_ms == pytest.approx(25.0)
    assert run.mean_ms == pytest.approx(25.0)
    assert run.p99_ms == pytest.approx(39.7)
    assert run.requests_per_s == pytest.approx(8.0)


def test_number_formats() -> None:
    assert [fmt(x) for x in (12345.6, 123.4, 12.34, 1.234, 0.01234)] == [
        "12,346",
        "123",
        "12.3",
        "1.23",
        "0.012",
    ]
    assert pct(1.0) == "100.0%" and pct(0.0004) == "0.04%"


def _report() -> BenchReport:
    ragqa = Throughput("ragqa ingest", 10.0, 300, 600, 120_000)
    floor = Throughput("floor: encode() only", 8.0, 300, 600, 120_000)
    search = [
        summarize(1, [0.02] * 10, 0.25, 0),
        summarize(8, [0.1] * 10, 0.2, 0),
        replace(summarize(8, [0.05] * 10, 0.1, 0), replayed=True),
    ]
    return BenchReport(
        command="ragqa bench --docs 300",
        when="2025-01-01 12:00 UTC",
        machine="a test CPU",
        setup="Corpus: tiny.",
        ingest=IngestResult("tiny", 32, 3.5, ragqa, floor, 90_000, 90_000, 812.0),
        reingest=ReingestResult(300, 10.0, 0.05, 300, 3, 0.4, 7),
        search=search,
        startup=StartupResult(6.2, 480.5, "echo (no model)", "python -m app --store STORE"),
    )


def test_query_stream_is_a_fixed_shuffle_of_every_query() -> None:
    from app.tooling.bench.search import query_stream

    queries = [f"q{i}" for i in range(50)]
    stream = query_stream(queries)
    assert sorted(stream) == sorted(queries) and stream != queries
    assert query_stream(queries) == stream  # the same order in every run of the bench


def test_render_has_every_section_with_its_figures() -> None:
    text = render(_report(), chart="BENCH.png")
    assert text.startswith("# ragqa speed benchmarks\n\n```sh\nragqa bench --docs 300\n```")
    for heading in ("## Ingest", "## Re-ingest", "## Search", "## Start-up"):
        assert heading in text
    assert "| ragqa ingest | 10.0 | 30.0 | 60.0 | 12,000 |" in text
    assert "| floor: encode() only | 8.00 | 37.5 | 75.0 | 15,000 |" in text
    assert "| ragqa / floor (speed) |  | 0.80 |" in text
    assert "Share of the text embedded: 100.0%" in text
    assert "| 1 | new | 10 | 0 | 20.0 | 20.0 | 20.0 | 40.0 |" in text
    assert "| 8 | new | 10 | 0 | 100 | 100 | 100 | 50.0 |" in text
    assert "| 8 | seen | 10 | 0 | 50.0 | 50.0 | 50.0 | 100 |" in text
    assert "| unchanged re-run (300 of 300 skipped) | 0.050 | 0.50% |" in text
    assert "7 chunk(s) re-embedded | 0.400 | 4.00% |" in text
    assert "`GET /readyz` 200 | 6.20 s |" in text and "480 MiB" in text
    assert "![ragqa speed benchmarks](BENCH.png)" in text


def test_render_leaves_out_sections_not_run() -> None:
    report = _report()
    report.reingest, report.search, report.startup = None, [], None
    text = render(report)
    assert "## Ingest" in text and "## Search" not in text and "![" not in text


def test_write_puts_the_chart_beside_the_markdown(tmp_path: Path) -> None:
    markdown, png = write(_report(), tmp_path / "out" / "BENCH.md")
    assert png == tmp_path / "out" / "BENCH.png" and png.stat().st_size > 1000
    assert "(BENCH.png)" in markdown.read_text()


def _doc(i: int, text: str, fmt_: str = "text") -> Document:
    return Document(f"d{i}", "src", (Part(text),), title=f"Title {i}", format=fmt_)


def test_coverage_is_whole_for_the_chunker_and_short_when_text_is_dropped() -> None:
    emb = HashEmbedder(max_tokens=16)
    text = " ".join(f"word{i} alpha beta." for i in range(40))
    chunks = chunk_document(_doc(0, text), emb.count_tokens, 16, 4)
    assert len(chunks) > 2
    assert covered_tokens(text, chunks, emb.count_tokens, 16) == (120, 120)
    assert covered_tokens(text, chunks[:-1], emb.count_tokens, 16)[0] < 120
    # A chunk longer than the model reads counts only as far as the model reads.
    long = [NewChunk(text, "")]
    assert covered_tokens(text, long, emb.count_tokens, 16) == (16, 120)
    markdown = "# Intro\n\nSome words here.\n\n## Details\n\nMore words there."
    md_chunks = chunk_document(_doc(1, markdown, "markdown"), emb.count_tokens, 16, 4)
    covered, total = covered_tokens(markdown, md_chunks, emb.count_tokens, 16)
    assert covered == total == 8


def test_pipeline_passes_record_what_was_embedded(tmp_path: Path) -> None:
    inner = HashEmbedder(max_tokens=32)
    recorder = RecordingEmbedder(inner)
    store = Store(tmp_path / "store", recorder.model_name, recorder.dimension)
    pipeline = Pipeline(store, recorder, chunk_tokens=32, chunk_overlap=8)
    docs = [
        _doc(i, " ".join(f"Doc {i} talks about topic{j}." for j in range(i * 3 + 2)))
        for i in range(10)
    ]
    ragqa = ingest_pass(pipeline, recorder, docs)
    expected = [c.indexed_text for d in docs for c in chunk_document(d, inner.count_tokens, 32, 8)]
    assert recorder.texts == expected
    assert (ragqa.documents, ragqa.chunks) == (10, len(expected))
    assert ragqa.tokens == sum(inner.count_tokens(expected)) and ragqa.seconds > 0
    covered, total = coverage(pipeline, docs)
    assert covered == total > 0
    again = measure_reingest(pipeline, recorder, docs, ragqa.seconds)
    assert (again.unchanged, again.edited) == (10, 1) and again.reembedded_chunks >= 1
    store.close()


def test_edited_changes_one_percent_spread_out() -> None:
    docs = [_doc(i, f"text {i}") for i in range(250)]
    out, count = edited(docs, 0.01)
    changed = [i for i, (a, b) in enumerate(zip(docs, out, strict=True)) if a != b]
    assert count == 2 and changed == [0, 125]
    assert out[125].text == "text 125" + EDIT_SENTENCE
    assert edited(docs[:3], 0.01)[1] == 1


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    records = [{"_id": f"d{i}", "title": f"T{i}", "text": f"Text number {i}."} for i in range(5)]
    with gzip.open(folder / "corpus.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    queries = [{"_id": "q1", "text": "number one"}, {"_id": "q2", "text": "unjudged"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


def test_corpus_from_a_beir_folder_or_a_folder_of_documents(tmp_path: Path) -> None:
    beir = load_corpus(_beir(tmp_path / "tiny"), 3)
    assert [d.id for d in beir.documents] == ["d0", "d1", "d2"]
    assert beir.queries == ["number one"] and beir.name == "tiny"
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nAlpha text.\n")
    (folder / "b.txt").write_text("Beta text.\n")
    files = load_corpus(folder, None)
    assert len(files.documents) == 2 and files.queries
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope", None)
    with pytest.raises(CorpusError, match="no corpus"):
        load_corpus(tmp_path / "tiny" / "qrels", None)


def test_missing_corpus_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "BENCH.md"
    assert main(["bench", "--corpus", str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--corpus" in err and "Traceback" not in err
    assert main(["bench", "--sections", "ingest,nap", "--out", str(out)]) == 2
    assert "nap" in capsys.readouterr().err
    assert not out.exists()


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"no match for {pattern!r} in:\n{text}"
    return float(match.group(1).replace(",", ""))


@pytest.mark.models
@pytest.mark.server
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "BENCH.md"
    # The smallest bundled generator: this checks that every section runs and reports,
    # which the default's 1.1 GB would only make slower.
    small = "bundled:SmolLM2-135M-Instruct"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGQA_GENERATOR_MODEL": small}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# ragqa speed benchmarks\n\n```sh\nragqa bench --smoke --out ")
    assert (tmp_path / "BENCH.png").stat().st_size > 1000
    for heading in ("## Ingest", "## Re-ingest", "## Search", "## Start-up"):
        assert heading in text
    # seconds, documents/s, chunks/s and embedded tokens/s of ragqa and of the floor.
    assert "| seconds | documents/s | chunks/s | embedded tokens/s |" in text
    for label in ("ragqa ingest", "floor: encode() only"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        cells = [float(c.strip().replace(",", "")) for c in row.split("|")[2:-1]]
        assert len(cells) == 4 and all(c > 0 for c in cells), row
    assert _number(r"Share of the text embedded: ([\d.]+)%", text) > 90
    assert _number(r"unchanged re-run \((\d+) of 30 skipped\)", text) == 30
    assert _number(r"1% edited: (\d+) document", text) >= 1
    # A copy of the corpus's first documents, then a synthetic store of 500 chunks.
    for chunks in (r"\d+", "500"):
        for clients, questions in ((1, "new"), (8, "new"), (8, "seen")):
            row = rf"^\| {chunks} \| {clients} \| {questions} \| 20 \| 0 \| ([\d.,]+) \|"
            assert _number(row, text) > 0  # p50 ms
    assert "ragqa ingest, onnx-int8" in text
    assert _number(r"`GET /readyz` 200 \| ([\d.]+) s", text) > 0
    assert _number(r"server peak RSS \(VmHWM\) \| ([\d.,]+) MiB", text) > 0
    assert _number(r"Ingest peak RSS.*: ([\d.,]+) MiB", text) > 0
    # Generation: the smoke run streams one answer from llama.cpp and from its raw engine.
    assert "## Generation" in text
    assert _number(r"^\| llama_cpp \| service / raw \|.* \| ([\d.]+) \| [\d.]+ \|$", text) > 0
    assert _number(r"^\| llama_cpp \| [\d.]+ s \| ([\d.,]+) MiB \|$", text) > 0
    # Scale: every index kind over 20,000 vectors; the store's IVF one against exact.
    assert "## Scale" in text
    ivf = r"^\| ivf_sq8 \| [\d.]+ \| [\d.]+ \| [\d,]+ \| nprobe \d+ \| ([\d.]+) \|"
    assert _number(ivf, text) > 0.5  # recall@10
