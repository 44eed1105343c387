"""Timed ingests through the real pipeline, the encode-only floor, and re-ingests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.tooling.bench.corpus import edited
from app.tooling.bench.coverage import covered_tokens
from app.tooling.bench.recording import RecordingEmbedder
from app.tooling.bench.stats import rate
from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.pipeline import DocResult, Pipeline


@dataclass(frozen=True)
class Throughput:
    """One timed pass over the corpus: what it processed and how long it took."""

    label: str
    seconds: float
    documents: int
    chunks: int
    tokens: int  # embedder tokens of the texts embedded (special tokens excluded)

    @property
    def documents_per_s(self) -> float:
        return rate(self.documents, self.seconds)

    @property
    def chunks_per_s(self) -> float:
        return rate(self.chunks, self.seconds)

    @property
    def tokens_per_s(self) -> float:
        return rate(self.tokens, self.seconds)


@dataclass(frozen=True)
class IngestResult:
    corpus: str
    batch_size: int
    model_load_s: float
    ragqa: Throughput
    floor: Throughput
    text_tokens: int  # tokens of the documents' text
    covered_tokens: int  # of those, the ones some chunk shows the model
    peak_rss_mib: float
    fast: Throughput | None = None  # the same ingest with the ONNX Runtime int8 embedder
    fast_export_s: float = 0.0  # its one-off export + load, in no timing

    @property
    def fast_ratio(self) -> float:
        """The int8 ingest's embedded tokens/s over the fp32 floor's."""
        if self.fast is None or not self.floor.tokens_per_s:
            return 0.0
        return self.fast.tokens_per_s / self.floor.tokens_per_s

    @property
    def share_embedded(self) -> float:
        return self.covered_tokens / self.text_tokens if self.text_tokens else 0.0

    @property
    def ratio(self) -> float:
        """ragqa's speed as a share of the floor's (1.0: no overhead beyond encode)."""
        return self.floor.seconds / self.ragqa.seconds if self.ragqa.seconds else 0.0


@dataclass(frozen=True)
class ReingestResult:
    documents: int
    full_s: float  # the first ingest, for scale
    unchanged_s: float
    unchanged: int  # documents the re-run skipped
    edited: int
    edited_s: float
    reembedded_chunks: int

    @property
    def edited_share(self) -> float:
        return self.edited_s / self.full_s if self.full_s else 0.0


def timed_ingest(
    pipeline: Pipeline, documents: Sequence[Document]
) -> tuple[float, list[DocResult]]:
    """Seconds to store the documents, FAISS file saved included (as `ragqa ingest` does)."""
    start = time.perf_counter()
    results = pipeline.ingest(documents)
    pipeline.store.flush()
    return time.perf_counter() - start, results


def ingest_pass(
    pipeline: Pipeline, recorder: RecordingEmbedder, documents: Sequence[Document]
) -> Throughput:
    """The real pipeline into its (empty) store; `pipeline` must embed through `recorder`,
    whose `texts` then hold exactly what was embedded (and `embed_s` how long it took)."""
    recorder.texts.clear()
    recorder.embed_s = 0.0
    seconds, results = timed_ingest(pipeline, documents)
    tokens = sum(recorder.count_tokens(recorder.texts))  # counted after the clock stopped
    return Throughput("ragqa ingest", seconds, len(results), len(recorder.texts), tokens)


def floor_pass(
    encode: Callable[[list[str]], object], texts: Sequence[str], ragqa: Throughput
) -> Throughput:
    """`encode` alone over the texts the pipeline embedded: what no ingest can beat."""
    start = time.perf_counter()
    encode(list(texts))
    seconds = time.perf_counter() - start
    return Throughput("floor: encode() only", seconds, ragqa.documents, ragqa.chunks, ragqa.tokens)


def coverage(pipeline: Pipeline, documents: Sequence[Document]) -> tuple[int, int]:
    """(text tokens some chunk shows the model, all text tokens) over the documents."""
    # Chunking is a pure function, so re-running it (untimed) gives each document's chunks.
    covered = total = 0
    count = pipeline.embedder.count_tokens
    for doc in documents:
        chunks = chunk_document(doc, count, pipeline.max_tokens, pipeline.overlap)
        c, t = covered_tokens(doc.text, chunks, count, pipeline.embedder.max_tokens)
        covered, total = covered + c, total + t
    return covered, total


def measure_reingest(
    pipeline: Pipeline, recorder: RecordingEmbedder, documents: list[Document], full_s: float
) -> ReingestResult:
    """The same documents again (all skipped), then with 1% of them edited."""
    unchanged_s, results = timed_ingest(pipeline, documents)
    changed, count = edited(documents, 0.01)
    recorder.texts.clear()
    edited_s, _ = timed_ingest(pipeline, changed)
    return ReingestResult(
        documents=len(documents),
        full_s=full_s,
        unchanged_s=unchanged_s,
        unchanged=sum(r.status == "unchanged" for r in results),
        edited=count,
        edited_s=edited_s,
        reembedded_chunks=len(recorder.texts),
    )
