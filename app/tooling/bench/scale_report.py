"""The scale section of the bench report, as Markdown lines."""

from __future__ import annotations

from app.tooling.bench.scale import NOISE, TARGET, K, ScaleResult
from vectorstore import index_kinds


def render_scale(r: ScaleResult) -> list[str]:
    # Imported here: report.py imports this module for its BenchReport field.
    from app.tooling.bench.tables import fmt, table

    rows = [
        [
            k.kind + ("" if k.in_store else " (bench only)"),
            fmt(k.build_s),
            fmt(k.nbytes / 1e6),
            fmt(k.nbytes / r.vectors),
            k.setting,
            f"{k.recall:.3f}",
            fmt(k.p50_ms),
            fmt(k.p95_ms),
        ]
        for k in r.kinds
    ]
    header = ["index", "build s", "MB", "bytes/vector", "search setting"]
    header += [f"recall@{K}", "p50 ms", "p95 ms"]
    synthetic = r.vectors - r.real
    lines = [
        "## Scale",
        "",
        *table(header, rows),
        "",
        f"- {r.vectors:,} vectors of {r.dimension} dimensions: {r.real:,} real (the ingested "
        f"corpus' chunks) and {synthetic:,} synthetic, each w*a + (1-w)*b of two random real "
        f"vectors, w in [0.5, 1], plus gaussian noise of norm {NOISE}, renormalised.",
        f"- {r.queries} queries: {r.real_queries} of the corpus' own, embedded, and "
        f"{r.queries - r.real_queries} noisy copies of real vectors (not in the index). "
        f"recall@{K}: the share of the exact top {K} (all queries in one batch, "
        f"{r.exact_s:.1f} s) that the index returns. Latency: one query at a time, "
        f"k = {K}, FAISS's default threads, as the service searches.",
        "- MB: the index as written (`faiss.write_index`), which is what it holds in memory. "
        "Build: training on a sample (the IVF kinds share one k-means; each counts it) "
        "plus adding every vector.",
        f"- RAGQA_INDEX_KIND=auto picks `{r.auto_kind}` at this size (flat below "
        f"{index_kinds.FLAT_MAX:,} vectors). Bench-only kinds run at the cheapest setting "
        f"reaching recall {TARGET}, or their best; HNSW ids are positions (an id map would "
        "add 8 bytes a vector) and HNSW cannot remove a vector, so the store does not offer "
        "it.",
    ]
    if r.real < 1_000:
        lines.append(
            f"- Only {r.real} real vectors: the synthetic ones crowd around them, so these "
            "figures show the section works, not how the kinds compare."
        )
    for k in r.kinds:
        if k.sweep:
            name = k.setting.split()[0]
            tried = ", ".join(f"{v}: {recall:.3f}" for v, recall in k.sweep)
            lines.append(f"- {k.kind}, recall@{K} by {name}: {tried}.")
    return [*lines, ""]
