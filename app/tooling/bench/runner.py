"""Runs the selected bench sections in order on one fresh store and gathers the report."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.config import Settings
from app.tooling.bench.corpus import BenchCorpus
from app.tooling.bench.ingest import (
    IngestResult,
    Throughput,
    coverage,
    floor_pass,
    ingest_pass,
    measure_reingest,
)
from app.tooling.bench.machine import describe, own_peak_rss_mib
from app.tooling.bench.milvus import SQLITE, split, timed_writes
from app.tooling.bench.peers import PeerSetup, peer_text, run_peers
from app.tooling.bench.recording import RecordingEmbedder
from app.tooling.bench.report import BenchReport
from app.tooling.bench.search import NO_LIMIT, query_stream
from ingest.document import Document
from vectorstore import Embedder, primary_name

# The search load measures searches, not the per-client rate limit (which would refuse it).
SECTIONS = ("ingest", "peers", "reingest", "search", "startup", "generation", "scale", "milvus")
# Run when named only: it needs the milvus extra, and Milvus Lite's pure-Python engine
# makes it slow on a full corpus.
DEFAULT_SECTIONS = SECTIONS[:-1]
# (clients, replay): new questions from 1 and 8 clients, then the 8-client run's questions
# again, as a server that has been asked them before sees them.
SEARCH_RUNS = ((1, False), (8, False), (8, True))


@dataclass(frozen=True)
class BenchOptions:
    command: str  # the command line, printed at the top of the report
    requests: int  # per client-count run
    sections: tuple[str, ...]
    with_generator: bool = False
    peers_python: str = sys.executable  # the interpreter LangChain and LlamaIndex run under
    gen_backends: tuple[str, ...] = ("llama_cpp", "transformers")
    gen_questions: int = 5  # answers timed per backend, after one warm-up
    gen_tokens: int = 64  # max_new_tokens of the service and the raw engine
    scale_vectors: int = 1_000_000  # vectors each FAISS index kind holds in `scale`
    search_chunks: tuple[int, ...] = (5_000, 100_000)  # store sizes the search load runs at
    korean: bool = True  # mix KorQuAD paragraphs and questions into synthetic search stores


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
    from app.services import build_pipeline
    from vectorstore import SentenceTransformerEmbedder, Store

    docs = corpus.documents
    primary = SentenceTransformerEmbedder(
        primary_name(settings.embedding_model),
        device=settings.device,
        batch_size=settings.embedding_batch_size,
    )
    start = time.perf_counter()
    model = primary.load()
    model_load_s = time.perf_counter() - start
    embedder = with_multilingual_half(primary, settings.embedding_model)
    # One small batch first, so neither timed pass pays for torch's first-call set-up.
    embedder.embed([d.text[:1000] for d in docs[: settings.embedding_batch_size]])
    report = BenchReport(
        command=options.command,
        when=time.strftime("%Y-%m-%d %H:%M %Z"),
        machine=describe(),
        setup=f"Corpus: {corpus.name}, first {len(docs)} documents, {len(corpus.queries)} "
        f"queries. Embedding model {settings.embedding_model}, batch size "
        f"{settings.embedding_batch_size}, chunks of at most {settings.chunk_tokens} tokens "
        f"with {settings.chunk_overlap} overlap."
        + (
            f" The floor and the peers embed with {primary.model_name} alone; ragqa's ingest "
            "also embeds every chunk with the multilingual half."
            if embedder is not primary
            else ""
        ),
    )
    store = Store(settings.store, embedder.model_name, embedder.dimension, settings.index_kind)
    recorder = RecordingEmbedder(embedder)
    writes = timed_writes(store)  # the milvus section compares the stores' write time
    pipeline = build_pipeline(settings, store, recorder)
    try:
        with store.writer():
            say(f"ingesting {len(docs)} documents of {corpus.name}")
            ragqa = ingest_pass(pipeline, recorder, docs)
            sqlite = split(SQLITE, ragqa, recorder, writes)
            peak = own_peak_rss_mib()
            if "ingest" in options.sections:
                say(f"floor: encode() of {ragqa.chunks} chunk texts")
                floor = floor_pass(_encoder(model, settings), recorder.texts, ragqa)
                covered, total = coverage(pipeline, docs)
                say("ingesting again with the onnx-int8 embedder into a second store")
                fast, export_s = _fast_pass(settings, docs)
                report.ingest = IngestResult(
                    corpus.name,
                    settings.embedding_batch_size,
                    model_load_s,
                    ragqa,
                    floor,
                    total,
                    covered,
                    peak,
                    fast,
                    export_s,
                )
            if "peers" in options.sections:  # before re-ingest, which clears recorder.texts
                base = report.ingest.floor if report.ingest else None
                if base is None:
                    say(f"floor: encode() of {ragqa.chunks} chunk texts")
                    base = floor_pass(_encoder(model, settings), recorder.texts, ragqa)
                report.peers = run_peers(
                    _peer_setup(settings, options, model, embedder),
                    recorder.texts,
                    [peer_text(d) for d in docs],
                    ragqa,
                    base,
                    embedder.count_tokens,
                    say,
                )
            if "reingest" in options.sections:
                say("re-ingesting unchanged, then with 1% of the documents edited")
                report.reingest = measure_reingest(pipeline, recorder, docs, ragqa.seconds)
        store.flush()
    finally:
        store.close()
    if "search" in options.sections or "startup" in options.sections:
        _serve(settings, corpus, options, report, say)
    if "milvus" in options.sections:
        from app.tooling.bench.milvus import measure_milvus

        report.milvus = measure_milvus(
            settings, docs, corpus.queries, embedder, sqlite, options.requests, say
        )
    if "generation" in options.sections:
        from app.tooling.bench.generation_run import measure

        report.generation = measure(
            settings,
            corpus.queries,
            options.gen_backends,
            options.gen_questions,
            options.gen_tokens,
            say,
        )
    if "scale" in options.sections:
        from app.tooling.bench.scale import measure_scale, real_inputs

        reopened = Store(settings.store, embedder.model_name)
        real, queries = real_inputs(reopened, embedder, corpus.queries, options.scale_vectors)
        report.scale = measure_scale(real, queries, options.scale_vectors, say=say)
    return report


def _fast_pass(settings: Settings, docs: list[Document]) -> tuple[Throughput, float]:
    """The ingest again with the ONNX Runtime int8 embedder, into a store of its own."""
    from app.services import build_embedder, build_pipeline
    from vectorstore import Store

    start = time.perf_counter()
    int8 = {"embedding_backend": "onnx-int8", "device": "cpu"}  # a CPU-only backend
    embedder = build_embedder(settings.model_copy(update=int8))
    embedder.embed([d.text[:1000] for d in docs[: settings.embedding_batch_size]])
    export_s = time.perf_counter() - start
    recorder = RecordingEmbedder(embedder)
    folder = settings.store.with_name(settings.store.name + "-int8")
    store = Store(folder, embedder.model_name, embedder.dimension, settings.index_kind)
    try:
        with store.writer():
            timing = ingest_pass(build_pipeline(settings, store, recorder), recorder, docs)
    finally:
        store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return replace(timing, label="ragqa ingest, onnx-int8"), export_s


def _serve(
    settings: Settings,
    corpus: BenchCorpus,
    options: BenchOptions,
    report: BenchReport,
    say: Callable[[str], None],
) -> None:
    """Start-up is timed on the ingested store; the search load runs on one store per
    size in `options.search_chunks` (made by app/tooling/bench/synthetic.py), each served by its
    own real server."""
    from app.tooling.bench.search import run_load, warm_up
    from app.tooling.bench.startup import StartupResult, launched, peak_rss_mib
    from app.tooling.procinfo import cpu_seconds

    if "startup" in options.sections:
        say("starting `python -m app` and timing it until /readyz")
        generator = settings.generator_model if options.with_generator else None
        with launched(settings.store, settings.embedding_model, settings.device, generator) as app:
            warm_up(app.url, corpus.queries[:20])
            run_load(app.url, corpus.queries[:20], 1, 20)  # RSS after some use, not just idle
            report.startup = StartupResult(
                app.seconds, peak_rss_mib(app.pid), generator or "echo (no model)", app.command
            )
    if "search" not in options.sections:
        return
    for folder, chunks, queries in _search_stores(settings, corpus, options, say):
        with launched(
            folder, settings.embedding_model, settings.device, None, extra_env=NO_LIMIT
        ) as app:
            stream = query_stream(queries)
            last = stream
            for clients, replay in SEARCH_RUNS:
                asked = last if replay else stream
                kind = "the same questions again" if replay else "new questions"
                say(
                    f"search at {chunks:,} chunks: {options.requests} requests, "
                    f"{clients} client(s), {kind}"
                )
                warm_up(app.url, asked)
                before = cpu_seconds(app.pid)
                run = run_load(app.url, asked, clients, options.requests)
                after = cpu_seconds(app.pid)
                if not replay:  # the next run of new questions goes on from here
                    last = stream
                    shift = options.requests % max(1, len(stream))
                    stream = stream[shift:] + stream[:shift]
                cpu_ms = None
                if before is not None and after is not None and run.requests:
                    cpu_ms = (after - before) * 1000 / run.requests
                run = replace(run, chunks=chunks, server_cpu_ms=cpu_ms, replayed=replay)
                report.search.append(run)


def _search_stores(
    settings: Settings, corpus: BenchCorpus, options: BenchOptions, say: Callable[[str], None]
) -> Iterator[tuple[Path, int, list[str]]]:
    """(store folder, chunks, queries) per size: up to the ingested store's size a copy of
    its first documents; above it, chunks spliced from its text (and KorQuAD's, when
    ../shared has it, so Korean postings and queries are in the mix)."""
    from app.services import build_embedder
    from app.tooling.bench import synthetic
    from vectorstore import Store, passage_coverage

    source = Store(settings.store, settings.embedding_model)
    try:
        embedder = build_embedder(settings)

        def coverage(passages: Sequence[str]) -> list[float]:
            # Stored with each chunk, as an ingest stores it.
            return passage_coverage(embedder, passages)

        have = int(source.stats()["chunks"])
        pieces: list[synthetic.Piece] = []
        korean: list[str] = []
        for size in options.search_chunks:
            folder = settings.store.with_name(f"search-{size}")
            if size <= have:
                say(f"search store: the first documents of the corpus, up to {size:,} chunks")
                made = synthetic.copy_prefix(source, folder, size, coverage)
                yield folder, made, corpus.queries
            else:
                if not pieces:
                    pieces, korean = _pieces(source, embedder, options, say)
                say(f"search store: {size:,} chunks spliced from {len(pieces):,} real ones")
                made = synthetic.synthesize(
                    pieces, folder, settings.embedding_model, size, coverage=coverage
                )
                yield folder, made, corpus.queries + korean
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        source.close()


def _pieces(
    source: Any, embedder: Embedder, options: BenchOptions, say: Callable[[str], None]
) -> tuple[list[Any], list[str]]:
    from app.tooling.bench import synthetic
    from app.tooling.bench.corpus import KORQUAD

    pieces = synthetic.pieces(source)
    if options.korean and KORQUAD.exists():
        from app.tooling.evaluation.datasets import load_squad

        squad = load_squad(KORQUAD)
        say(f"embedding {len(squad.documents)} KorQuAD paragraphs for the synthetic store")
        pieces += synthetic.embedded_pieces([d.text for d in squad.documents], embedder.embed)
        return pieces, [q for q, _, _ in squad.questions[:: max(1, len(squad.questions) // 100)]]
    return pieces, []


def _peer_setup(
    settings: Settings, options: BenchOptions, model: Any, embedder: Embedder
) -> PeerSetup:
    """The peers load the model folder ragqa loaded, on the device it picked."""
    from vectorstore import resolve_model

    name = primary_name(settings.embedding_model)  # the peers embed with one model
    return PeerSetup(
        options.peers_python,
        resolve_model(name),
        name,
        str(model.device),
        settings.embedding_batch_size,
        embedder.max_tokens,
    )


def with_multilingual_half(primary: Embedder, model: str) -> Embedder:
    """`primary` with the multilingual half a joined model name asks for, as the service
    would build it; `primary` itself for any other name."""
    from vectorstore import DualEmbedder, make_embedder, split_name

    pair = split_name(model)
    return primary if pair is None else DualEmbedder(primary, make_embedder(pair[1]))


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
