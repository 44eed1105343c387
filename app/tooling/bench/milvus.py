"""The `milvus` section: the whole store in Milvus beside SQLite + FAISS, on the same
documents and machine: ingest, search through one and two API replicas, and the time of
each store call a hybrid search makes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import Settings
from app.tooling.bench.calls import CallTimer
from app.tooling.bench.ingest import Throughput, ingest_pass
from app.tooling.bench.milvus_lite import LiteServer, lite_server, lite_version
from app.tooling.bench.recording import RecordingEmbedder
from app.tooling.bench.search import TOP_K
from app.tooling.bench.stats import Latency, percentile
from ingest.document import Document
from vectorstore import DocumentStore, Embedder

if TYPE_CHECKING:
    from app.tooling.bench.startup import Launched

SQLITE, MILVUS = "SQLite + FAISS", "Milvus"
STORE_NAME = "bench"  # RAGQA_MILVUS_COLLECTION of the bench's Milvus store
CALL_QUERIES = 20  # searches timed call by call, in process, per store
# (store, replicas, client counts): one client over two replicas would leave one idle,
# the one-replica row again.
LOADS = ((SQLITE, 1, (1, 8)), (MILVUS, 1, (1, 8)), (MILVUS, 2, (8,)))
# The store calls of one hybrid search, by the label the report gives them. The last
# three the Retriever makes only for rows it has not seen (it remembers their values).
CALLS = {
    "lexical": "store.lexical",
    "dense": "store.dense_index().search",
    "fetch_chunks": "store.fetch_chunks",
    "document_frequencies": "store.document_frequencies",
    "embeddings": "store.embeddings",
    "stored_coverage": "store.stored_coverage",
    "keyword_terms": "store.keyword_terms",
}
WRITES = ("write_documents", "flush")  # what an ingest asks of its store


@dataclass(frozen=True)
class IngestSplit:
    """One store's ingest of the documents, and where its time went."""

    store: str
    timing: Throughput
    embed_s: float  # in the embedder's embed()
    store_s: float  # in the store's write_documents() and flush()

    @property
    def other_s(self) -> float:
        """Chunking, hashing, the chunks' vocabulary coverage."""
        return max(0.0, self.timing.seconds - self.embed_s - self.store_s)


def split(
    store: str, timing: Throughput, recorder: RecordingEmbedder, writes: CallTimer
) -> IngestSplit:
    """The pass `timing` of `recorder`'s embedder into the store `writes` timed."""
    return IngestSplit(store, timing, recorder.embed_s, writes.total(*WRITES))


def timed_writes(store: DocumentStore) -> CallTimer:
    """A timer of the store's writes, from now on."""
    timer = CallTimer()
    for name in WRITES:
        timer.wrap(store, name)
    return timer


@dataclass(frozen=True)
class LoadRun:
    store: str
    replicas: int
    latency: Latency
    service_cpu_ms: float | None  # CPU of the replicas per successful request, all together
    milvus_cpu_ms: float | None  # CPU of the Milvus server per successful request


@dataclass(frozen=True)
class StoreCalls:
    store: str
    p50_ms: dict[str, float | None]  # by CALLS key: per call; None when never called
    per_search: dict[str, float]  # by CALLS key: calls per search
    store_ms: float  # all the store calls of a search, mean
    search_p50_ms: float  # the whole Retriever.search
    first_ms: dict[str, float]  # by CALLS key: in the warm-up search, which is in no p50
    first_search_ms: float


@dataclass(frozen=True)
class MilvusResult:
    lite_version: str
    ingest: list[IngestSplit]
    load: list[LoadRun]
    calls: list[StoreCalls]
    queries: int  # searches each store's calls were timed over


def measure_milvus(
    settings: Settings,
    documents: Sequence[Document],
    queries: Sequence[str],
    embedder: Embedder,
    sqlite: IngestSplit,
    requests: int,
    say: Callable[[str], None],
) -> MilvusResult:
    """`sqlite`: the bench's own ingest into `settings.store`, which the SQLite side
    serves. The Milvus side is a `milvus-lite server` in a folder beside it."""
    from app.services import build_embedder, build_pipeline
    from vectorstore import MilvusStore, Store

    data = settings.store.with_name("milvus-lite")
    try:
        with lite_server(data) as server:
            say(f"milvus: ingesting {len(documents)} documents into a milvus-lite server")
            # The same embedder object as the SQLite ingest: only the store differs.
            recorder = RecordingEmbedder(embedder)
            store = MilvusStore(
                embedder.model_name, embedder.dimension, server.uri, name=STORE_NAME
            )
            try:
                writes = timed_writes(store)
                pipeline = build_pipeline(settings, store, recorder)
                milvus = split(MILVUS, ingest_pass(pipeline, recorder, documents), recorder, writes)
            finally:
                store.close()
            say(f"milvus: the store calls of {CALL_QUERIES} hybrid searches, in process")
            searcher = build_embedder(settings)  # the service's query embedder
            asked = list(queries[: CALL_QUERIES + 1])
            searcher.embed_query("warm up")  # its first-call set-up, before either store
            sqlite_store = Store(settings.store, settings.embedding_model)
            milvus_store = MilvusStore(settings.embedding_model, uri=server.uri, name=STORE_NAME)
            calls = [
                store_calls(SQLITE, sqlite_store, searcher, asked),
                store_calls(MILVUS, milvus_store, searcher, asked),
            ]
            load = _loads(settings, server, queries, requests, say)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return MilvusResult(lite_version(), [sqlite, milvus], load, calls, len(asked) - 1)


def store_calls(
    label: str, store: DocumentStore, embedder: Embedder, queries: Sequence[str]
) -> StoreCalls:
    """Each store call of `Retriever.search(q, TOP_K, "hybrid")` timed over the queries after
    the first (a warm-up: first reads, index loads), in a fresh Retriever."""
    from vectorstore import Retriever

    try:
        timer = CallTimer()
        for name in CALLS:
            if name != "dense":
                timer.wrap(store, name)
        timer.wrap_result(store, "dense_index", "search", "dense")
        retriever = Retriever(store, embedder)
        start = time.perf_counter()
        retriever.search(queries[0], TOP_K, "hybrid")
        first_search_ms = (time.perf_counter() - start) * 1000
        first = {key: timer.total(key) * 1000 for key in CALLS}
        timer.clear()
        whole = []
        for query in queries[1:]:
            start = time.perf_counter()
            retriever.search(query, TOP_K, "hybrid")
            whole.append(time.perf_counter() - start)
    finally:
        store.close()
    return StoreCalls(
        label,
        {key: timer.p50_ms(key) for key in CALLS},
        {key: len(timer.seconds.get(key, ())) / len(whole) for key in CALLS},
        timer.total(*CALLS) * 1000 / len(whole),
        percentile(whole, 50) * 1000,
        first,
        first_search_ms,
    )


def _loads(
    settings: Settings,
    server: LiteServer,
    queries: Sequence[str],
    requests: int,
    say: Callable[[str], None],
) -> list[LoadRun]:
    """Every row of LOADS, each on fresh replicas and the same questions per client count:
    run k asks the k-th `requests` questions of the shuffled list."""
    from app.tooling.bench.search import NO_LIMIT, query_stream, run_load, warm_up
    from app.tooling.bench.startup import launched
    from app.tooling.procinfo import cpu_seconds

    stream = query_stream(queries)
    milvus_env = {
        **NO_LIMIT,
        "RAGQA_STORE_BACKEND": "milvus",
        "RAGQA_MILVUS_URI": server.uri,
        "RAGQA_MILVUS_COLLECTION": STORE_NAME,
    }
    # Each Milvus replica is given a store folder of its own, which it leaves unused.
    spare = settings.store.with_name("replicas")
    runs = []
    for store, replicas, client_counts in LOADS:
        with ExitStack() as stack:
            apps: list[Launched] = []
            for n in range(replicas):
                folder = settings.store if store == SQLITE else spare / str(n)
                env = NO_LIMIT if store == SQLITE else milvus_env
                model, device = settings.embedding_model, settings.device
                apps.append(
                    stack.enter_context(launched(folder, model, device, None, extra_env=env))
                )
            urls, pids = [a.url for a in apps], [a.pid for a in apps]
            for k, clients in enumerate(client_counts):
                shift = (k * requests) % max(1, len(stream))
                asked = stream[shift:] + stream[:shift]
                say(f"milvus: {store}, {replicas} replica(s), {clients} client(s)")
                warm_up(urls, asked)
                before = _cpu(pids, cpu_seconds), cpu_seconds(server.pid)
                run = run_load(urls, asked, clients, requests)
                after = _cpu(pids, cpu_seconds), cpu_seconds(server.pid)
                service = _per_request(before[0], after[0], run)
                milvus = _per_request(before[1], after[1], run) if store == MILVUS else None
                runs.append(LoadRun(store, replicas, run, service, milvus))
    shutil.rmtree(spare, ignore_errors=True)
    return runs


def _cpu(pids: Sequence[int], cpu_seconds: Callable[[int], float | None]) -> float | None:
    """The processes' CPU seconds together; None when one is gone."""
    values = [cpu_seconds(p) for p in pids]
    return None if None in values else sum(v for v in values if v is not None)


def _per_request(before: float | None, after: float | None, run: Latency) -> float | None:
    if before is None or after is None or not run.requests:
        return None
    return (after - before) * 1000 / run.requests
