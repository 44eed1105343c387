"""The Peers section of the bench report: ragqa and the floor beside LangChain and LlamaIndex."""

from __future__ import annotations

from app.tooling.bench.ingest import Throughput
from app.tooling.bench.peers import INSTALL_HINT, PeersResult, shown

HEADER = (
    "",
    "seconds",
    "documents/s",
    "chunks/s",
    "embedded tokens/s",
    "speed vs floor",
    "chunk text read",
)


def _row(t: Throughput, floor: Throughput, read: float) -> list[str]:
    # Imported here: report.py imports this module for its BenchReport field.
    from app.tooling.bench.tables import fmt, pct

    # Per document, since the peers with their own splitter make other chunks.
    ratio = floor.seconds / t.seconds if t.seconds else 0.0
    return [
        t.label,
        fmt(t.seconds),
        fmt(t.documents_per_s),
        fmt(t.chunks_per_s),
        fmt(t.tokens_per_s),
        f"{ratio:.2f}",
        pct(read),
    ]


def render_peers(r: PeersResult) -> list[str]:
    from app.tooling.bench.tables import fmt, pct, table

    rows = [
        _row(r.ragqa, r.floor, r.ragqa_share.share),
        _row(r.floor, r.floor, r.ragqa_share.share),
    ]
    rows += [_row(run.throughput, r.floor, run.share.share) for run in r.runs]
    s = r.setup
    lines = ["## Peers", "", *table(HEADER, rows), ""]
    if not r.runs:  # the figures' explanation would explain nothing
        lines += [f"- {line}" for line in r.skipped]
        return [*lines, f"- The peers are optional (the `bench` extra): {INSTALL_HINT}.", ""]
    lines += [
        f"- The same model for all: {s.model_name}, from the one folder ragqa loads it from; "
        f"device {s.device}, batch size {s.batch_size}. Each peer runs in its own process "
        f"under `{shown(s.python)}`, after ragqa's ingest on this same machine, and loads the "
        "model and embeds one warm-up batch before its clock starts, as ragqa did. The rows "
        "are timed one after another, so a load that changes on the machine moves their "
        "ratios: LangChain on ragqa's chunks does the floor's work plus FAISS adds, and its "
        "ratio far below 1 would show such a change.",
        "- LangChain, ragqa's chunks: `FAISS.from_texts` over the very chunk texts ragqa "
        "embedded (`HuggingFaceEmbeddings`, normalised). LangChain, own splitter: each "
        "document (title, newline, text) through `RecursiveCharacterTextSplitter(chunk_size="
        "1000, chunk_overlap=200)`, the tutorials' settings, then `FAISS.from_documents`. "
        "LlamaIndex: `VectorStoreIndex.from_documents` with its default pipeline "
        "(`SentenceSplitter`, 1024 tiktoken tokens, 200 overlap) and `HuggingFaceEmbedding`. "
        "Splitting is inside the peers' timings, as chunking is inside ragqa's. The peers "
        "keep their index in memory; ragqa also writes SQLite, FTS5 and the FAISS file.",
        "- Chunk text read: tokens the model reads over tokens of the chunk texts, counted "
        "per chunk with the model's tokenizer; a chunk longer than max_seq_length (less "
        "[CLS] and [SEP]) is cut there without a warning. Text an overlapping splitter "
        "repeats counts in every chunk that holds it, so this is a share of the chunk text; "
        "the share of the documents' text is given per peer below. Embedded tokens/s counts "
        "only the tokens read. Speed vs floor: the floor's seconds over the row's, for the "
        "same documents.",
    ]
    for run in r.runs:
        doc = ""
        if run.covered:
            covered, total = run.covered
            share = covered / total if total else 0.0
            doc = f"; {pct(share)} of the documents' text ({covered:,} of {total:,} tokens) "
            doc += "lies in what the model reads"
        rss = f"{fmt(run.peak_rss_mib)} MiB" if run.peak_rss_mib is not None else "n/a"
        lines.append(
            f"- {run.label}: {run.throughput.chunks} chunks, {run.share.truncated} of them cut "
            f"at the model's limit ({run.share.read:,} of {run.share.total:,} chunk tokens "
            f"read){doc}. Model load {fmt(run.model_load_s)} s, peak RSS {rss}. {run.detail}."
        )
    lines += [f"- {line}" for line in r.skipped]
    if r.skipped:
        lines.append(f"- The peers are optional (the `bench` extra): {INSTALL_HINT}.")
    return [*lines, ""]
