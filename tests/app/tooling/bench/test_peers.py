"""The bench's peers: share arithmetic, skip notes without the packages, one tiny real run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from app.tooling.bench.ingest import Throughput
from app.tooling.bench.peers import (
    PEERS,
    ChunkShare,
    PeerRun,
    PeerSetup,
    PeersResult,
    chunk_share,
    document_coverage,
    run_peers,
)
from app.tooling.bench.peers_report import render_peers
from vectorstore.embedders.hashing import HashEmbedder

ROOT = Path(__file__).resolve().parents[4]
RAGQA = Throughput("ragqa ingest", 10.0, 300, 600, 120_000)
FLOOR = Throughput("floor: encode() only", 8.0, 300, 600, 120_000)
TEXTS = ["alpha beta gamma", "delta epsilon"]
DOCS = ["Title one\nalpha beta gamma", "Title two\ndelta epsilon"]


def test_chunk_share_counts_each_chunk_up_to_the_limit() -> None:
    share = chunk_share([10, 300, 254, 255], 254)
    assert share == ChunkShare(read=10 + 254 + 254 + 254, total=819, truncated=2)
    assert share.share == pytest.approx(772 / 819)
    assert chunk_share([], 254).share == 0.0


def test_document_coverage_sees_overlap_and_truncation() -> None:
    count = HashEmbedder().count_tokens  # one token a word
    docs = [" ".join(f"w{i}" for i in range(10)), "only chunk missing"]
    # Chunk 1 holds w0..w5 but the model reads 4 words; chunk 2's overlap brings w4, w5 back.
    chunks = [
        (0, " ".join(f"w{i}" for i in range(6))),
        (0, " ".join(f"w{i}" for i in range(4, 10))),
    ]
    assert document_coverage(docs, chunks, count, 4) == (8, 13)  # w6..w9 lost past chunk 2's 4
    assert document_coverage(docs, chunks, count, 6) == (10, 13)  # doc 2 has no chunk at all
    # Per chunk, the repeated w4 and w5 count twice: a share of the chunk text.
    assert chunk_share(count([t for _, t in chunks]), 4) == ChunkShare(8, 12, 2)


def _fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def _run(python: str) -> PeersResult:
    setup = PeerSetup(python, "no-model-needed", "hash", "cpu", 32, 254)
    return run_peers(setup, TEXTS, DOCS, RAGQA, FLOOR, HashEmbedder().count_tokens)


def test_peers_without_their_packages_are_skipped_with_the_install_hint(tmp_path: Path) -> None:
    # -S: no site-packages, so the worker starts but cannot import LangChain or LlamaIndex
    # even where they are installed.
    result = _run(_fake_python(tmp_path, f'exec "{sys.executable}" -S "$@"'))
    assert result.runs == [] and len(result.skipped) == len(PEERS)
    assert all("not importable" in s for s in result.skipped)
    assert "langchain" in result.skipped[0] and "llama_index" in result.skipped[-1]
    assert result.ragqa_share == ChunkShare(5, 5, 0)
    text = "\n".join(render_peers(result))
    assert "| ragqa ingest | 10.0 | 30.0 | 60.0 | 12,000 | 0.80 | 100.0% |" in text
    assert "| floor: encode() only | 8.00 | 37.5 | 75.0 | 15,000 | 1.00 | 100.0% |" in text
    assert "make bench-peers" in text and "--peers-python .venv-peers/bin/python" in text


def test_a_missing_or_failing_interpreter_is_a_note_not_a_crash(tmp_path: Path) -> None:
    missing = _run(str(tmp_path / "no-such-python"))
    assert missing.runs == [] and all("cannot start" in s for s in missing.skipped)
    failing = _run(_fake_python(tmp_path, "echo 'it broke' >&2; exit 3"))
    assert all(s.endswith("(exit 3): it broke") for s in failing.skipped)


def test_render_gives_each_peer_a_row_and_its_shares() -> None:
    share = ChunkShare(read=256_000, total=320_000, truncated=400)
    run = PeerRun(
        "LlamaIndex: VectorStoreIndex, default splitter",
        Throughput("LlamaIndex: VectorStoreIndex, default splitter", 16.0, 300, 320, 256_000),
        share,
        (240_000, 300_000),
        0.3,
        900.0,
        "llama-index-core 0.14; cpu, float32, 2 torch threads, max_seq_length 256",
    )
    result = PeersResult(
        PeerSetup("py", "model", "bundled:m", "cpu", 32, 254), RAGQA, FLOOR, share, [run]
    )
    text = "\n".join(render_peers(result))
    row = "| LlamaIndex: VectorStoreIndex, default splitter | 16.0 | 18.8 | 20.0 | 16,000 |"
    assert row + " 0.50 | 80.0% |" in text
    assert "400 of them cut at the model's limit" in text
    assert "80.0% of the documents' text (240,000 of 300,000 tokens)" in text
    assert "make bench-peers" not in text  # nothing was skipped


def _peers_python() -> str:
    """An interpreter that has the peers: this one, or .venv-peers's (`make bench-peers`)."""
    if importlib.util.find_spec("langchain_community") and importlib.util.find_spec("llama_index"):
        return sys.executable
    python = ROOT / ".venv-peers" / "bin" / "python"
    check = "import langchain_community, langchain_huggingface, llama_index.core"
    if (
        python.exists()
        and subprocess.run([python, "-c", check], capture_output=True).returncode == 0
    ):
        return str(python)
    pytest.skip("LangChain and LlamaIndex are not installed (the bench extra: make bench-peers)")


@pytest.mark.models
def test_a_tiny_real_run_of_every_peer() -> None:
    from vectorstore.bundled import BUNDLED_EMBEDDER, resolve_model
    from vectorstore.embedders.sentence_transformers import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(BUNDLED_EMBEDDER, device="cpu")
    # Past the model's 256 tokens, within one of LlamaIndex's 1024-token chunks.
    long = "Title\n" + " ".join(f"word{i} is here." for i in range(120))
    docs = [*DOCS, long]
    setup = PeerSetup(
        _peers_python(), resolve_model(BUNDLED_EMBEDDER), BUNDLED_EMBEDDER, "cpu", 32, 254
    )
    result = run_peers(setup, TEXTS, docs, RAGQA, FLOOR, embedder.count_tokens)
    assert result.skipped == [] and [r.label for r in result.runs] == [p.label for p in PEERS]
    chunks, split, llama = result.runs
    assert chunks.throughput.chunks == 2 and chunks.share.share == 1.0 and chunks.covered is None
    assert split.throughput.chunks > 3 and split.covered and split.covered[0] > 0
    # LlamaIndex keeps the long document in one 1024-token chunk and the model reads 254.
    assert llama.throughput.chunks == 3 and llama.share.truncated == 1
    assert llama.share.share < 0.5 and "float32" in llama.detail and "cpu" in llama.detail
    assert all(r.throughput.seconds > 0 and r.throughput.documents == 300 for r in result.runs)
