"""The ONNX Runtime embedder: exported once from the bundled model, int8, cached."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vectorstore.embedders.factory import make_embedder
from vectorstore.embedders.onnx import OnnxEmbedder
from vectorstore.embedders.onnx_export import META_FILE, MODEL_FILE, cache_folder
from vectorstore.embedders.sentence_transformers import SentenceTransformerEmbedder

MODEL = "bundled:all-MiniLM-L6-v2"
TEXTS = [
    "Aspirin lowers the risk of a second heart attack in adults with heart disease.",
    "검색 증강 생성(RAG)은 검색한 문서를 근거로 답을 만든다.",
    "LoRA fine-tunes a low-rank update of the weight matrices. " * 40,  # over 256 tokens
    "뉘르부르크링 hello",
]


@pytest.fixture(scope="module")
def cache() -> Path:
    return Path(os.environ["RAGQA_CACHE_DIR"])


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL, device="cpu")


@pytest.fixture(scope="module")
def int8(cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, cache_dir=cache, quantize=True).load()


@pytest.mark.models
def test_int8_vectors_match_pytorch(
    int8: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    a, b = int8.embed(TEXTS), torch_embedder.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.96, cosines
    # Queries run through the fp32 export: equal to PyTorch up to float rounding, so
    # padding did not leak into the pooling either.
    queries = np.stack([int8.embed_query(t) for t in TEXTS])
    assert (queries * b).sum(axis=1).min() > 0.9999, (queries * b).sum(axis=1)
    # Different texts stay apart.
    assert float(a[0] @ a[2]) < 0.5


@pytest.mark.models
def test_tokens_are_counted_exactly_as_pytorch_counts_them(
    int8: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    assert int8.count_tokens(TEXTS) == torch_embedder.count_tokens(TEXTS)
    assert int8.unknown_letters(TEXTS) == torch_embedder.unknown_letters(TEXTS)
    assert int8.unknown_letters(TEXTS)[-1] > 0
    assert int8.max_tokens == torch_embedder.max_tokens
    assert int8.dimension == torch_embedder.dimension


@pytest.mark.models
def test_the_export_is_cached_and_reused(int8: OnnxEmbedder, cache: Path) -> None:
    from vectorstore.bundled import resolve_model

    folder = cache_folder(cache, MODEL, resolve_model(MODEL), quantize=True)
    assert (folder / META_FILE).exists() and (folder / MODEL_FILE).exists()
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    again = OnnxEmbedder(MODEL, cache_dir=cache, quantize=True).load()
    assert (folder / MODEL_FILE).stat().st_mtime_ns == stamp  # not exported twice
    assert np.allclose(again.embed(TEXTS[:1]), int8.embed(TEXTS[:1]))


def test_factory_choices_and_refusals(tmp_path: Path) -> None:
    assert isinstance(make_embedder(MODEL, "torch"), SentenceTransformerEmbedder)
    assert isinstance(make_embedder(MODEL, "auto", device="cpu"), OnnxEmbedder)
    assert isinstance(make_embedder(MODEL, "auto", device="cuda"), SentenceTransformerEmbedder)
    with pytest.raises(ValueError, match="unknown embedding backend"):
        make_embedder(MODEL, "tensorrt")
    with pytest.raises(ValueError, match="RAGQA_EMBEDDING_BACKEND=torch"):
        make_embedder(MODEL, "onnx-int8", device="cuda")


@pytest.mark.models
def test_a_model_that_cannot_be_exported_says_which_setting_avoids_it(tmp_path: Path) -> None:
    from vectorstore.embedders.onnx_export import OnnxExportError

    broken = tmp_path / "not-a-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    embedder = OnnxEmbedder(str(broken), cache_dir=tmp_path / "cache")
    with pytest.raises(OnnxExportError, match="RAGQA_EMBEDDING_BACKEND=torch"):
        embedder.load()
    assert not list((tmp_path / "cache" / "onnx").glob("*/meta.json"))  # nothing half-made


def test_an_onnx_backend_on_a_gpu_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.main import main

    monkeypatch.setenv("RAGQA_EMBEDDING_BACKEND", "onnx-int8")
    monkeypatch.setenv("RAGQA_DEVICE", "cuda")
    assert main(["search", "x", "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "invalid setting" in err and "embedding_backend torch" in err
    assert "Traceback" not in err


@pytest.mark.models
def test_queries_run_on_openvino_when_it_is_installed(int8: OnnxEmbedder) -> None:
    from vectorstore.embedders import openvino_query

    assert openvino_query.available()  # a dependency: a missing one would be a slower path
    runner = int8._queries()
    query_model = getattr(runner, "__self__", None)
    assert isinstance(query_model, openvino_query.OpenVinoQuery)
    # A stream per core: concurrent searches embed their queries side by side.
    from vectorstore.cores import usable_cores

    assert query_model._model.get_property("NUM_STREAMS") == usable_cores()


@pytest.mark.models
def test_queries_fall_back_to_onnx_runtime_without_openvino(
    cache: Path,
    int8: OnnxEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from vectorstore.embedders import openvino_query

    def broken(model_file: Path) -> None:
        raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(openvino_query, "OpenVinoQuery", broken)
    with caplog.at_level("WARNING"):
        failed = OnnxEmbedder(MODEL, cache_dir=cache, quantize=True).load()
        assert failed._query_runner is None  # made on the first query, not at load
        failed.embed_query("x")
    assert "queries use ONNX Runtime" in caplog.text
    monkeypatch.setattr(openvino_query, "available", lambda: False)
    missing = OnnxEmbedder(MODEL, cache_dir=cache, quantize=True).load()
    for embedder in (failed, missing):
        assert getattr(embedder._queries(), "__self__", None) is None  # not OpenVINO
        same = [float(embedder.embed_query(t) @ int8.embed_query(t)) for t in TEXTS]
        assert min(same) > 0.9999, same


@pytest.mark.parametrize(
    ("value", "on"),
    [(None, True), ("true", True), ("1", True), ("false", False), ("OFF", False), ("0", False)],
)
def test_the_tokenizer_pool_setting_is_read_as_the_library_reads_it(
    monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool
) -> None:
    from vectorstore.embedders.onnx import tokenizer_pool_on

    if value is None:
        monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    else:
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", value)
    assert tokenizer_pool_on() is on


@pytest.mark.models
def test_with_the_pool_off_passages_are_tokenized_without_the_interpreter_lock(
    int8: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = int8._counter
    calls: list[str] = []

    class Spy:  # the Rust tokenizer's methods cannot be patched on the object itself
        def encode(self, text: str, **kw: object) -> object:
            calls.append("encode")
            return counter.encode(text, **kw)

        def encode_batch(self, texts: list[str], **kw: object) -> object:
            calls.append("encode_batch")
            return counter.encode_batch(texts, **kw)

    monkeypatch.setattr(int8, "_counter", Spy())
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    on = int8.count_tokens(TEXTS[:2])
    assert calls == ["encode", "encode"]  # a few texts: no pool to wake
    calls.clear()
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    off = int8.count_tokens(TEXTS[2:] + TEXTS[:2])
    # encode_batch lets go of the lock; the counts are the same either way
    assert calls == ["encode_batch"] and off[2:] == on
    assert int8.unknown_letters(TEXTS[2:] + TEXTS[:2])[-1] == 0 and calls == ["encode_batch"]
