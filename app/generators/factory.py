"""build_generator: turn the model, backend and device settings into a Generator."""

from __future__ import annotations

from pathlib import Path

from app.generators.base import Generator
from app.generators.echo import EchoGenerator
from app.generators.gguf_precision import GgufPrecision
from app.generators.llama_cpp import LlamaCppGenerator
from app.generators.transformers_backend import TransformersGenerator
from vectorstore import gpu_wanted, resolve_model

BACKENDS = ("auto", "llama_cpp", "transformers", "echo", "openai")


def build_generator(
    model: str,
    backend: str,
    device: str = "auto",
    context_window: int | None = None,
    repetition_penalty: float = 1.0,
    *,
    gguf_precision: GgufPrecision = "original",
    cache_dir: Path | None = None,
    base_url: str = "",
    api_key: str = "",
    wait_s: float = 300.0,
) -> Generator:
    """Pick and construct (not load) the generator; `auto` prefers llama.cpp for a .gguf on CPU.

    `model` is a Hugging Face id, a local folder, a .gguf file or a `bundled:` name; for
    the `openai` backend, the name of a model the server at `base_url` serves.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown generator backend {backend!r}; choose one of {BACKENDS}")
    if backend == "echo":
        return EchoGenerator(context_window=context_window or 4096)
    if backend == "openai":
        if not base_url:
            raise ValueError("the openai generator backend needs RAGQA_OPENAI_BASE_URL")
        from app.generators.openai_backend import OpenAIGenerator

        # The model is the server's to resolve: a local path or `bundled:` name means nothing there.
        return OpenAIGenerator(
            model, base_url=base_url, api_key=api_key, context_window=context_window, wait_s=wait_s
        )
    path = resolve_model(model, cache_dir)
    is_gguf = path.lower().endswith(".gguf")
    if backend == "auto":
        # A dequantised GGUF on a GPU beats llama.cpp on the CPU, the only build we install.
        backend = "llama_cpp" if is_gguf and not gpu_wanted(device) else "transformers"
    if backend == "llama_cpp":
        if not is_gguf:
            raise ValueError(
                f"the llama_cpp backend runs .gguf files only, and {model!r} is not one; "
                "use the transformers (or auto) backend, or a .gguf model"
            )
        return LlamaCppGenerator(
            path,
            context_window=context_window,
            name=model,
            repetition_penalty=repetition_penalty,
            precision=gguf_precision,
            cache_dir=cache_dir,
        )
    if is_gguf:
        file = Path(path)
        return TransformersGenerator(
            str(file.parent),
            device=device,
            gguf_file=file.name,
            context_window=context_window,
            name=model,
            repetition_penalty=repetition_penalty,
        )
    return TransformersGenerator(
        path,
        device=device,
        context_window=context_window,
        name=model,
        repetition_penalty=repetition_penalty,
    )
