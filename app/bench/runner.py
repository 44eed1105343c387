"""Runs the selected bench sections in order on one fresh store and gathers the report."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.bench.corpus import BenchCorpus
from app.bench.ingest import (
    IngestResult,
    coverage,
    floor_pass,
    ingest_pass,
    measure_reingest,
)
from app.bench.machine import describe, own_peak_rss_mib
from app.bench.recording import RecordingEmbedder
from app.bench.report import BenchReport
from app.config import Settings

SECTIONS = ("ingest", "reingest", "search", "startup")
CLIENT_COUNTS = (1, 8)


@dataclass(frozen=True)
class BenchOptions:
    command: str  # the command line, printed at the top of the report
    requests: int  # per client-count run
    sections: tuple[str, ...]
    with_generator: bool = False


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(
    settings: Settings,
    corpus: BenchCorpus,
    options: BenchOptions,
    say: Callable[[str], None] = _say,
) -> BenchReport:
    """Every section reuses the store the ingest built in `settings.store` (a fresh folder):
    later sections need its documents, so the ingest runs even when not reported."""
    from app.main import build_pipeline
    from vectorstore.embedder import SentenceTransformerEmbedder
    from vectorstore.store import Store

    docs = corpus.documents
    embedder = SentenceTransformerEmbedder(
        settings.embedding_model, device=settings.device, batch_size=settings.embedding_batch_size
    )
    start = time.perf_counter()
    model = embedder.load()
    model_load_s = time.perf_counter() - start
    # One small batch first, so neither timed pass pays for torch's first-call set-up.
    embedder.embed([d.text[:1000] for d in docs[: settings.embedding_batch_size]])
    report = BenchReport(
        command=options.command,
        when=time.strftime("%Y-%m-%d %H:%M %Z"),
        machine=describe(),
        setup=f"Corpus: {corpus.name}, first {len(docs)} documents, {len(corpus.queries)} "
        f"queries. Embedding model {settings.embedding_model}, batch size "
        f"{settings.embedding_batch_size}, chunks of at most {settings.chunk_tokens} tokens "
        f"with {settings.chunk_overlap} overlap.",
    )
    store = Store(settings.store, embedder.model_name, embedder.dimension)
    recorder = RecordingEmbedder(embedder)
    pipeline = build_pipeline(settings, store, recorder)
    try:
        with store.writer():
            say(f"ingesting {len(docs)} documents of {corpus.name}")
            ragqa = ingest_pass(pipeline, recorder, docs)
            peak = own_peak_rss_mib()
            if "ingest" in options.sections:
                say(f"floor: encode() of {ragqa.chunks} chunk texts")
                floor = floor_pass(_encoder(model, settings), recorder.texts, ragqa)
                covered, total = coverage(pipeline, docs)
                report.ingest = IngestResult(
                    corpus.name,
                    settings.embedding_batch_size,
                    model_load_s,
                    ragqa,
                    floor,
                    total,
                    covered,
                    peak,
                )
            if "reingest" in options.sections:
                say("re-ingesting unchanged, then with 1% of the documents edited")
                report.reingest = measure_reingest(pipeline, recorder, docs, ragqa.seconds)
        store.flush()
    finally:
        store.close()
    if "search" in options.sections or "startup" in options.sections:
        _serve(settings, corpus, options, report, say)
    return report


def _serve(
    settings: Settings,
    corpus: BenchCorpus,
    options: BenchOptions,
    report: BenchReport,
    say: Callable[[str], None],
) -> None:
    """One launch of the real server on the ingested store: its start-up is timed, the
    search load runs against it, and its peak RSS is read after that load."""
    from app.bench.search import run_load, warm_up
    from app.bench.startup import StartupResult, launched, peak_rss_mib

    say("starting `python -m app` and timing it until /readyz")
    generator = settings.generator_model if options.with_generator else None
    with launched(settings.store, settings.embedding_model, settings.device, generator) as app:
        if "search" in options.sections:
            warm_up(app.url, corpus.queries)
            for clients in CLIENT_COUNTS:
                say(f"search: {options.requests} requests from {clients} client(s)")
                report.search.append(run_load(app.url, corpus.queries, clients, options.requests))
        if "startup" in options.sections:
            report.startup = StartupResult(
                app.seconds, peak_rss_mib(app.pid), generator or "echo (no model)", app.command
            )


def _encoder(model: Any, settings: Settings) -> Callable[[list[str]], object]:
    def encode(texts: list[str]) -> object:
        # The arguments SentenceTransformerEmbedder.embed passes: only the pipeline differs.
        return model.encode(
            texts,
            batch_size=settings.embedding_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    return encode
