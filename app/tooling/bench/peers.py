"""LangChain and LlamaIndex ingesting the same corpus with the same model, each in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.tooling.bench.coverage import CountTokens, covered_tokens
from app.tooling.bench.ingest import Throughput
from ingest.document import Document
from vectorstore import NewChunk

ROOT = Path(__file__).resolve().parents[3]
WORKER = "app.tooling.bench.peer_worker"
INSTALL_HINT = (
    "install them with `make bench-peers` (LangChain and LlamaIndex in .venv-peers, reusing "
    ".venv's torch and transformers) and run `ragqa bench --peers-python .venv-peers/bin/python`"
)


@dataclass(frozen=True)
class Peer:
    name: str  # the worker's argument
    label: str  # the report's row


PEERS = (
    Peer("langchain", "LangChain: FAISS.from_texts(ragqa's chunks)"),
    Peer("langchain-split", "LangChain: own splitter, 1000/200 chars"),
    Peer("llamaindex", "LlamaIndex: VectorStoreIndex, default splitter"),
)


@dataclass(frozen=True)
class ChunkShare:
    """How much of its chunks' text a model reads that truncates each at `max_tokens`."""

    read: int  # tokens the model reads, summed over the chunks
    total: int  # tokens of the chunk texts
    truncated: int  # chunks longer than the model reads

    @property
    def share(self) -> float:
        return self.read / self.total if self.total else 0.0


def chunk_share(sizes: Sequence[int], max_tokens: int) -> ChunkShare:
    """Per chunk, honestly: text that an overlapping splitter repeats counts in every chunk
    it is in, read or not, so the share is of the chunk text, not of the documents."""
    return ChunkShare(
        read=sum(min(n, max_tokens) for n in sizes),
        total=sum(sizes),
        truncated=sum(n > max_tokens for n in sizes),
    )


@dataclass(frozen=True)
class PeerRun:
    label: str
    throughput: Throughput  # its `tokens`: those the model reads, truncation applied
    share: ChunkShare
    # Of the documents' tokens, those lying in some chunk's read part; None when the peer
    # was handed ragqa's chunks, whose coverage the Ingest section already gives.
    covered: tuple[int, int] | None
    model_load_s: float
    peak_rss_mib: float | None  # None off Linux
    detail: str  # versions, device, dtype, threads


@dataclass(frozen=True)
class PeerSetup:
    python: str  # the interpreter the peers run under
    model: str  # a local folder: the bundled model resolved, as ragqa loads it
    model_name: str  # the setting, for the report: the folder is machine-specific
    device: str
    batch_size: int
    max_tokens: int  # ragqa's: text tokens its embedder reads per chunk


@dataclass
class PeersResult:
    setup: PeerSetup
    ragqa: Throughput
    floor: Throughput
    ragqa_share: ChunkShare
    runs: list[PeerRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why a peer has no row


def peer_text(doc: Document) -> str:
    """A document as a peer gets it: the title (which ragqa puts in each chunk's context)
    on the first line, then the text."""
    return f"{doc.title}\n{doc.text}" if doc.title else doc.text


def run_peers(
    setup: PeerSetup,
    texts: Sequence[str],
    documents: Sequence[str],
    ragqa: Throughput,
    floor: Throughput,
    count: CountTokens,
    say: Callable[[str], None] = lambda _: None,
) -> PeersResult:
    """Each peer ingests in its own process: ragqa's chunk `texts` (what its pipeline
    embedded), or the `documents` (title and text) through the peer's own splitter."""
    result = PeersResult(setup, ragqa, floor, chunk_share(count(list(texts)), setup.max_tokens))
    with tempfile.TemporaryDirectory(prefix="ragqa-peers-") as folder:
        spec = Path(folder) / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "model": setup.model,
                    "device": setup.device,
                    "batch_size": setup.batch_size,
                    "texts": list(texts),
                    "documents": list(documents),
                    # As ragqa's embedder was warmed before its timed pass.
                    "warmup": [d[:1000] for d in documents[: setup.batch_size]],
                }
            ),
            encoding="utf-8",
        )
        for peer in PEERS:
            say(f"peers: {peer.label}")
            out = Path(folder) / f"{peer.name}.json"
            answer = _call(setup.python, peer.name, spec, out)
            if isinstance(answer, str):
                result.skipped.append(f"{peer.label}: {answer}")
                continue
            result.runs.append(_run(peer, answer, ragqa.documents, documents, count))
    return result


def shown(path: str) -> str:
    """A path as the report shows it: relative to the checkout when inside it."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path


def _call(python: str, peer: str, spec: Path, out: Path) -> dict[str, Any] | str:
    """The worker's JSON answer, or why there is none (a line for the report)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        done = subprocess.run(
            [python, "-m", WORKER, peer, str(spec), str(out)],
            cwd=ROOT,  # so `-m` finds the worker under any interpreter
            env=env,
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        return f"skipped, cannot start {shown(python)}: {exc.strerror or exc}"
    if done.returncode != 0 or not out.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed under {shown(python)} (exit {done.returncode}): {last}"
    answer: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if answer["status"] != "ok":
        return f"skipped, not importable by {shown(python)} ({answer['detail']})"
    return answer


def _run(
    peer: Peer,
    answer: dict[str, Any],
    doc_count: int,
    documents: Sequence[str],
    count: CountTokens,
) -> PeerRun:
    chunks = [(int(i), str(t)) for i, t in answer["chunks"]]
    # max_seq_length counts [CLS] and [SEP], as in SentenceTransformerEmbedder.max_tokens.
    max_tokens = int(answer["max_seq_length"]) - 2
    share = chunk_share(count([t for _, t in chunks]), max_tokens)
    covered = None
    if chunks and all(i >= 0 for i, _ in chunks):
        covered = document_coverage(documents, chunks, count, max_tokens)
    throughput = Throughput(peer.label, answer["seconds"], doc_count, len(chunks), share.read)
    detail = (
        f"{answer['versions']}; {answer['device']}, {answer['dtype']}, "
        f"{answer['threads']} torch threads, max_seq_length {answer['max_seq_length']}"
    )
    return PeerRun(
        peer.label,
        throughput,
        share,
        covered,
        answer["model_load_s"],
        answer["peak_rss_mib"],
        detail,
    )


def document_coverage(
    documents: Sequence[str], chunks: Sequence[tuple[int, str]], count: CountTokens, max_tokens: int
) -> tuple[int, int]:
    """(tokens of the documents some chunk's read part holds, all their tokens): the figure
    the Ingest section gives for ragqa, with each peer chunk as a chunk without context."""
    by_doc: dict[int, list[NewChunk]] = {}
    for i, text in chunks:
        by_doc.setdefault(i, []).append(NewChunk(text, ""))
    covered = total = 0
    for i, text in enumerate(documents):
        c, t = covered_tokens(text, by_doc.get(i, []), count, max_tokens)
        covered, total = covered + c, total + t
    return covered, total
