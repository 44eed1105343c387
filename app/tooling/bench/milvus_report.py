"""The milvus section of the bench report, as Markdown lines."""

from __future__ import annotations

from app.tooling.bench.milvus import CALLS, MilvusResult
from app.tooling.bench.search import MODE, TOP_K
from app.tooling.bench.tables import fmt, pct, table


def render_milvus(r: MilvusResult) -> list[str]:
    def cell(value: float | None) -> str:
        return "" if value is None else fmt(value)

    ingest = [
        [
            s.store,
            fmt(s.timing.seconds),
            fmt(s.timing.documents_per_s),
            fmt(s.timing.chunks_per_s),
            f"{fmt(s.embed_s)} ({pct(s.embed_s / s.timing.seconds)})",
            f"{fmt(s.store_s)} ({pct(s.store_s / s.timing.seconds)})",
            fmt(s.other_s),
        ]
        for s in r.ingest
    ]
    load = [
        [
            run.store,
            str(run.replicas),
            str(run.latency.clients),
            str(run.latency.requests),
            str(run.latency.errors),
            fmt(run.latency.p50_ms),
            fmt(run.latency.p95_ms),
            fmt(run.latency.requests_per_s),
            cell(run.service_cpu_ms),
            cell(run.milvus_cpu_ms),
        ]
        for run in r.load
    ]
    calls = [
        [f"`{label}`", *(_call(c.p50_ms[key], c.per_search[key]) for c in r.calls)]
        for key, label in CALLS.items()
    ]
    calls.append(["all store calls of a search (mean ms)", *(fmt(c.store_ms) for c in r.calls)])
    calls.append(["whole `Retriever.search` (p50 ms)", *(fmt(c.search_p50_ms) for c in r.calls)])
    first = "; ".join(
        f"{c.store} {fmt(c.first_search_ms)} ms, of which `store.document_frequencies` "
        f"{fmt(c.first_ms['document_frequencies'])} ms"
        for c in r.calls
    )
    done = r.ingest[0].timing
    load_header = ["store", "replicas", "clients", "requests", "errors", "p50 ms", "p95 ms"]
    load_header += ["requests/s", "service CPU ms/request", "Milvus CPU ms/request"]
    return [
        "## Milvus",
        "",
        f"- The Milvus figures are Milvus Lite {r.lite_version}'s pure-Python engine "
        "(`milvus-lite server`) on this machine, sharing its cores with the bench: they say "
        "what this setup costs here, not what a Milvus server would.",
        "",
        *table(
            [
                "ingest into",
                "seconds",
                "documents/s",
                "chunks/s",
                "embedding s",
                "store s",
                "other s",
            ],
            ingest,
        ),
        "",
        f"- {done.documents} documents, {done.chunks} chunks, through the same pipeline and "
        "the same embedder object into each store. Embedding: time in the embedder's "
        "`embed()`; store: in the store's `write_documents()` and `flush()` (SQLite and FTS5 "
        "rows and the FAISS file; Milvus upserts, BM25 terms included, and sweeps); other: "
        "chunking, hashing and the chunks' vocabulary coverage.",
        "",
        *table(load_header, load),
        "",
        f'- `POST /api/search` `{{"query": q, "top_k": {TOP_K}, "mode": "{MODE}"}}`, the '
        "corpus' queries in the search section's shuffled order, the same questions for "
        "every store at a client count, after a few warm-up requests to each replica. Each "
        "replica is `python -m app` in its own process with the rate limit off; the Milvus "
        "ones with `RAGQA_STORE_BACKEND=milvus RAGQA_MILVUS_URI=http://127.0.0.1:PORT`. "
        "With two replicas client i sends to replica i mod 2 (one client would leave the "
        "second idle). CPU per request: the replicas' processes, and the Milvus server's.",
        "",
        *table(["p50 ms per call (calls per search)", *(c.store for c in r.calls)], calls),
        "",
        f'- In process: `Retriever.search(q, top_k={TOP_K}, mode="hybrid")` over {r.queries} '
        "of the corpus' queries after one warm-up, each store call timed as the search made "
        "it; the query embedder is the service's. The whole search also holds the query's "
        "embedding, fusion and relevance scores. The Retriever remembers each row's "
        "coverage and terms, so those calls come only for rows it has not seen.",
        f"- The warm-up search, in no figure above: {first} (Milvus counts every chunk's "
        "terms in one scan at its first call, then again only after a write).",
        "",
    ]


def _call(p50_ms: float | None, per_search: float) -> str:
    return "not called" if p50_ms is None else f"{fmt(p50_ms)} ({per_search:g})"
