"""One peer's ingest (LangChain or LlamaIndex) in its own process, timed, written as JSON.

`python -m app.tooling.bench.peer_worker PEER SPEC.json OUT.json`, started by peers.py.
It may run under another interpreter (--peers-python) that has the peers but not all of
ragqa's packages, so it imports nothing from ragqa and only the standard library at the top.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# What each peer needs, as import names (checked first) and distributions (for the report).
NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "langchain": (
        ("langchain_community.vectorstores", "langchain_huggingface"),
        ("langchain-community", "langchain-huggingface"),
    ),
    "llamaindex": (
        ("llama_index.core", "llama_index.embeddings.huggingface"),
        ("llama-index-core", "llama-index-embeddings-huggingface"),
    ),
}
# The chunk size LangChain tutorials and the reference figures use (characters).
SPLIT_CHARS, SPLIT_OVERLAP = 1000, 200

Chunks = list[tuple[int, str]]  # (document index, or -1 when not known; text embedded)


def _langchain(spec: dict[str, Any], split: bool) -> tuple[float, float, Chunks, Any]:
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings

    start = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(
        model_name=spec["model"],
        model_kwargs={"device": spec["device"]},
        encode_kwargs={"batch_size": spec["batch_size"], "normalize_embeddings": True},
    )
    load_s = time.perf_counter() - start
    embeddings.embed_documents(spec["warmup"])  # torch's first-call set-up, untimed
    if not split:
        start = time.perf_counter()
        FAISS.from_texts(spec["texts"], embeddings)
        return time.perf_counter() - start, load_s, [(-1, t) for t in spec["texts"]], embeddings
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [Document(page_content=t, metadata={"i": i}) for i, t in enumerate(spec["documents"])]
    start = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=SPLIT_CHARS, chunk_overlap=SPLIT_OVERLAP)
    pieces = splitter.split_documents(docs)
    FAISS.from_documents(pieces, embeddings)
    seconds = time.perf_counter() - start
    return seconds, load_s, [(p.metadata["i"], p.page_content) for p in pieces], embeddings


def _llamaindex(spec: dict[str, Any]) -> tuple[float, float, Chunks, Any]:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    start = time.perf_counter()
    embed = HuggingFaceEmbedding(
        model_name=spec["model"], device=spec["device"], embed_batch_size=spec["batch_size"]
    )
    load_s = time.perf_counter() - start
    embed.get_text_embedding_batch(spec["warmup"])
    docs = [Document(text=t, id_=str(i)) for i, t in enumerate(spec["documents"])]
    start = time.perf_counter()
    # Its default pipeline: Settings.transformations, i.e. SentenceSplitter(1024, 200).
    index = VectorStoreIndex.from_documents(docs, embed_model=embed)
    seconds = time.perf_counter() - start
    nodes = sorted(index.docstore.docs.values(), key=lambda n: int(n.ref_doc_id or -1))
    # What VectorStoreIndex hands the embedder: the node's content in EMBED metadata mode.
    chunks = [(int(n.ref_doc_id or -1), n.get_content(MetadataMode.EMBED)) for n in nodes]
    return seconds, load_s, chunks, embed


def _model(owner: Any) -> Any:
    # The SentenceTransformer each wrapper keeps privately: read, never changed.
    return getattr(owner, "_client", None) or owner._model


def _peak_rss_mib() -> float | None:
    # VmHWM, not getrusage: ru_maxrss survives exec, so it would report the bench's own
    # process, which this one was forked from.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # the kernel writes kB
    except OSError:
        pass
    return None


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


RUNS: dict[str, Callable[[dict[str, Any]], tuple[float, float, Chunks, Any]]] = {
    "langchain": lambda spec: _langchain(spec, split=False),
    "langchain-split": lambda spec: _langchain(spec, split=True),
    "llamaindex": _llamaindex,
}


def _versions(dists: tuple[str, ...]) -> str:
    out = []
    for dist in dists:
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} ?")
    return ", ".join(out)


def main(argv: list[str]) -> int:
    peer, spec_path, out_path = argv
    family = "llamaindex" if peer == "llamaindex" else "langchain"
    modules, dists = NEEDS[family]
    try:
        for module in modules:
            __import__(module)
    except ImportError as exc:
        result: dict[str, Any] = {"status": "missing", "detail": str(exc)}
    else:
        with open(spec_path, encoding="utf-8") as f:
            spec = json.load(f)
        seconds, load_s, chunks, owner = RUNS[peer](spec)
        model = _model(owner)
        result = {
            "status": "ok",
            "seconds": seconds,
            "model_load_s": load_s,
            "chunks": chunks,
            "max_seq_length": int(model.max_seq_length),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "device": str(model.device),
            "threads": _torch_threads(),
            "peak_rss_mib": _peak_rss_mib(),
            "versions": _versions(dists),
        }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
