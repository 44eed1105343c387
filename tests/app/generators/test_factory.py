"""build_generator: which backend each model, backend and device setting gets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.generators.echo import EchoGenerator
from app.generators.factory import build_generator
from app.generators.llama_cpp import LlamaCppGenerator
from app.generators.transformers_backend import TransformersGenerator
from vectorstore.bundled import BUNDLED_GENERATOR

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture
def gguf_file(tmp_path: Path) -> str:
    # Constructors never open the file, so an empty one is enough to test the choice.
    path = tmp_path / "Model.Q4_K_M.GGUF"
    path.touch()
    return str(path)


def test_echo_needs_no_model() -> None:
    gen = build_generator("no/such-model", "echo", "cpu", 512)
    assert isinstance(gen, EchoGenerator)
    assert gen.context_window == 512


def test_auto_on_cpu_runs_a_gguf_with_llama_cpp(gguf_file: str) -> None:
    gen = build_generator(gguf_file, "auto", "cpu", None)
    assert isinstance(gen, LlamaCppGenerator)
    assert gen.model_name == gguf_file


def test_auto_with_a_cuda_device_runs_a_gguf_with_transformers(gguf_file: str) -> None:
    assert isinstance(build_generator(gguf_file, "auto", "cuda:1", None), TransformersGenerator)


def test_auto_device_follows_cuda_availability() -> None:
    gen = build_generator(BUNDLED_GENERATOR, "auto", "auto", None)
    expected = TransformersGenerator if torch.cuda.is_available() else LlamaCppGenerator
    assert type(gen) is expected
    assert gen.model_name == BUNDLED_GENERATOR


def test_hub_ids_and_folders_use_transformers(tmp_path: Path) -> None:
    for model in (HUB_ID, str(tmp_path)):
        for backend in ("auto", "transformers"):
            gen = build_generator(model, backend, "cpu", None)
            assert isinstance(gen, TransformersGenerator), (model, backend)


def test_transformers_can_be_asked_to_run_a_gguf(gguf_file: str) -> None:
    gen = build_generator(gguf_file, "transformers", "cpu", None)
    assert isinstance(gen, TransformersGenerator)


def test_llama_cpp_refuses_a_model_that_is_not_gguf() -> None:
    with pytest.raises(ValueError, match=r"\.gguf files only"):
        build_generator(HUB_ID, "llama_cpp", "cpu", None)


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown generator backend"):
        build_generator(HUB_ID, "vllm", "cpu", None)
