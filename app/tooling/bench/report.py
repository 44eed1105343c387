"""The bench report: Markdown text (pure) and a PNG chart beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.tooling.bench.generation import GenerationResult
from app.tooling.bench.generation_report import render as render_generation
from app.tooling.bench.ingest import IngestResult, ReingestResult
from app.tooling.bench.milvus import MilvusResult
from app.tooling.bench.milvus_report import render_milvus
from app.tooling.bench.peers import PeersResult
from app.tooling.bench.peers_report import render_peers
from app.tooling.bench.scale import ScaleResult
from app.tooling.bench.scale_report import render_scale
from app.tooling.bench.search import MODE, TOP_K
from app.tooling.bench.startup import StartupResult
from app.tooling.bench.stats import Latency
from app.tooling.bench.tables import fmt, pct, table


@dataclass
class BenchReport:
    command: str
    when: str
    machine: str
    setup: str  # corpus, model, batch size
    ingest: IngestResult | None = None
    reingest: ReingestResult | None = None
    search: list[Latency] = field(default_factory=list)
    startup: StartupResult | None = None
    peers: PeersResult | None = None
    generation: GenerationResult | None = None
    scale: ScaleResult | None = None
    milvus: MilvusResult | None = None
    notes: list[str] = field(default_factory=list)


def _ingest(r: IngestResult) -> list[str]:
    rows = [
        [
            t.label,
            fmt(t.seconds),
            fmt(t.documents_per_s),
            fmt(t.chunks_per_s),
            fmt(t.tokens_per_s),
        ]
        for t in (r.ragqa, r.floor, *([r.fast] if r.fast else []))
    ]
    rows.append(["ragqa / floor (speed)", "", f"{r.ratio:.2f}", f"{r.ratio:.2f}", f"{r.ratio:.2f}"])
    if r.fast:
        x = f"{r.fast_ratio:.2f}"
        rows.append(["ragqa onnx-int8 / fp32 floor", "", x, x, x])
    header = ["", "seconds", "documents/s", "chunks/s", "embedded tokens/s"]
    return [
        "## Ingest",
        "",
        *table(header, rows),
        "",
        f"- {r.ragqa.documents} documents, {r.ragqa.chunks} chunks, {r.ragqa.tokens:,} embedded "
        "tokens (each chunk's text with its heading context, overlap included); "
        f"batch size {r.batch_size}.",
        "- ragqa ingest: chunking, embedding, SQLite and FTS5 writes and the FAISS file save, "
        "through the real pipeline into a fresh store. The floor: sentence-transformers "
        "`encode()` of the very same chunk texts, same model object and batch size, "
        "normalised, nothing else.",
        f"- Share of the text embedded: {pct(r.share_embedded)} ({r.covered_tokens:,} of "
        f"{r.text_tokens:,} text tokens lie in a chunk the model reads whole).",
        f"- Model load, once before both timings and in neither: {fmt(r.model_load_s)} s.",
        f"- Ingest peak RSS (this process, after ingesting): {fmt(r.peak_rss_mib)} MiB.",
        *(_fast_note(r) if r.fast else []),
        "",
    ]


def _fast_note(r: IngestResult) -> list[str]:
    return [
        "- ragqa ingest onnx-int8: the same pipeline into a second fresh store with "
        "`RAGQA_EMBEDDING_BACKEND=onnx-int8` (the default on a CPU): the model exported to "
        "ONNX, attention fused, weights int8 per channel, run by ONNX Runtime. "
        f"Embedded tokens/s {r.fast_ratio:.2f}x the fp32 floor. Its one-off export and "
        f"load ({fmt(r.fast_export_s)} s, cached for later runs) is in no timing. Quality: "
        "docs/EVALUATION.md (SciFact nDCG@10).",
    ]


def _reingest(r: ReingestResult) -> list[str]:
    rows = [
        [f"first ingest ({r.documents} documents)", fmt(r.full_s), "100%"],
        [
            f"unchanged re-run ({r.unchanged} of {r.documents} skipped)",
            fmt(r.unchanged_s),
            pct(r.unchanged_s / r.full_s) if r.full_s else "",
        ],
        [
            f"1% edited: {r.edited} document(s), {r.reembedded_chunks} chunk(s) re-embedded",
            fmt(r.edited_s),
            pct(r.edited_share),
        ],
    ]
    return [
        "## Re-ingest",
        "",
        *table(["run", "seconds", "share of the first ingest"], rows),
        "",
        "An edit appends one sentence to a document's text; unchanged documents are "
        "recognised by their content hash and not embedded again.",
        "",
    ]


def _search(runs: Sequence[Latency]) -> list[str]:
    rows = [
        [
            f"{r.chunks:,}",
            str(r.clients),
            "seen" if r.replayed else "new",
            str(r.requests),
            str(r.errors),
            fmt(r.p50_ms),
            fmt(r.p95_ms),
            fmt(r.p99_ms),
            fmt(r.requests_per_s),
            "" if r.server_cpu_ms is None else fmt(r.server_cpu_ms),
        ]
        for r in runs
    ]
    header = ["chunks", "clients", "questions", "requests", "errors", "p50 ms", "p95 ms"]
    header += ["p99 ms", "requests/s", "server CPU ms/request"]
    return [
        "## Search",
        "",
        *table(header, rows),
        "",
        f'`POST /api/search` `{{"query": q, "top_k": {TOP_K}, "mode": "{MODE}"}}` with the '
        "corpus' queries (at the synthetic size also 100 KorQuAD questions) in a fixed "
        "shuffled order, after a few warm-up requests; each client a keep-alive connection "
        "that sends its next request when the last reply is in, all on one event loop "
        "writing prepared HTTP/1.1 requests (as wrk does: ~0.1 ms of CPU a request, since "
        'clients and server share this machine\'s cores). Questions "new": each run goes '
        "on through the list where the one before stopped, so its questions were not asked "
        "before (their words and hits may have been: the service keeps per-term BM25 scores "
        'and per-chunk values); "seen": the 8-client run\'s questions asked again, as a '
        "server that has been up a while gets its frequent questions. The server is "
        "`RAGQA_RATE_LIMIT=0 python -m app` in its own process (the per-client rate limit "
        "would refuse a load test), otherwise default settings: documents embedded by ONNX "
        "Runtime int8, queries by its fp32 export on one thread (on OpenVINO, bf16 where the "
        "CPU has it), FAISS index kind chosen by size. The smaller store is the corpus's "
        "first whole documents; the larger "
        "is synthesised by app/tooling/bench/synthetic.py: each chunk the first half of one real "
        "chunk and the second half of another, its vector the normalised sum of theirs.",
        "",
    ]


def _startup(r: StartupResult) -> list[str]:
    peak = f"{fmt(r.peak_rss_mib)} MiB" if r.peak_rss_mib is not None else "n/a (no /proc)"
    rows = [
        ["launch to `GET /readyz` 200", f"{fmt(r.seconds)} s"],
        ["server peak RSS (VmHWM)", peak],
        ["generator", r.generator],
    ]
    return ["## Start-up", "", *table(["", ""], rows), "", f"`{r.command}`", ""]


def render(report: BenchReport, chart: str | None = None) -> str:
    """The Markdown report; `chart` is the PNG's file name, linked when given."""
    lines = [
        "# ragqa speed benchmarks",
        "",
        "```sh",
        report.command,
        "```",
        "",
        f"Measured {report.when} on {report.machine}.",
        "",
        report.setup,
        "",
    ]
    if chart:
        lines += [f"![ragqa speed benchmarks]({chart})", ""]
    if report.ingest:
        lines += _ingest(report.ingest)
    if report.peers:
        lines += render_peers(report.peers)
    if report.reingest:
        lines += _reingest(report.reingest)
    if report.search:
        lines += _search(report.search)
    if report.startup:
        lines += _startup(report.startup)
    if report.generation:
        lines += render_generation(report.generation)
    if report.scale:
        lines += render_scale(report.scale)
    if report.milvus:
        lines += render_milvus(report.milvus)
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines).rstrip() + "\n"


def write(report: BenchReport, out: Path) -> tuple[Path, Path | None]:
    """Write the Markdown to `out` and the chart beside it (same name, .png)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    png = chart(report, out.with_suffix(".png"))
    out.write_text(render(report, png.name if png else None), encoding="utf-8")
    return out, png


def chart(report: BenchReport, path: Path) -> Path | None:
    """One panel per measured section; None when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    panels = []
    if report.ingest:
        i = report.ingest
        panels.append(
            ("ingest, chunks/s", ["ragqa", "floor"], [i.ragqa.chunks_per_s, i.floor.chunks_per_s])
        )
    if report.reingest:
        r = report.reingest
        panels.append(
            (
                "re-ingest, seconds",
                ["first", "unchanged", "1% edited"],
                [r.full_s, r.unchanged_s, r.edited_s],
            )
        )
    if report.startup:
        panels.append(("start-up to ready, s", ["python -m app"], [report.startup.seconds]))
    if not panels and not report.search:
        return None
    count = len(panels) + (1 if report.search else 0)
    fig, axes = plt.subplots(1, count, figsize=(4 * count, 3.6), squeeze=False)
    for ax, (title, labels, values) in zip(axes[0], panels, strict=False):
        ax.bar(labels, values, color=["#4c72b0", "#dd8452", "#55a868"][: len(values)])
        ax.set_title(title)
    if report.search:
        ax = axes[0][-1]
        width = 0.8 / len(report.search)
        for n, run in enumerate(report.search):
            xs = [x + n * width for x in range(3)]
            seen = ", seen" if run.replayed else ""
            label = f"{run.chunks:,} chunks, {run.clients} client(s){seen}"
            ax.bar(xs, [run.p50_ms, run.p95_ms, run.p99_ms], width, label=label)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(3)], ["p50", "p95", "p99"])
        ax.set_title("search latency, ms")
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
