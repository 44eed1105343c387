"""The child-process probe: a GGUF that crashes llama.cpp kills a child, never the server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from app.generators import gguf_probe
from app.generators.base import ChatMessage
from app.generators.gguf_probe import ProbeResult, probe, run_child
from app.generators.llama_cpp import LlamaCppGenerator

SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
FINE = "pass"
BROKEN = "raise ValueError('Failed to load model from file')"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_killed_by_a_signal_is_a_crash() -> None:
    result = run_child(_python(SEGFAULT), timeout_s=60)
    assert result == ProbeResult(ok=False, crashed=True, detail="llama.cpp was killed by SIGSEGV")


def test_a_child_that_exits_is_not_a_crash() -> None:
    assert run_child(_python(FINE), timeout_s=60) == ProbeResult(ok=True)
    failed = run_child(_python(BROKEN), timeout_s=60)
    assert not failed.ok and not failed.crashed
    assert failed.detail == "ValueError: Failed to load model from file"
    slow = run_child(_python("import time; time.sleep(30)"), timeout_s=0.5)
    assert not slow.ok and not slow.crashed and "did not finish" in slow.detail


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "big-q4_k_m.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    return path


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Probe children that crash with repacked buffers and run fine without; the settings
    of every child started are recorded."""
    started: list[bool] = []

    def argv(path: str, extra_buffers: bool, threads: int) -> list[str]:
        started.append(extra_buffers)
        return _python(SEGFAULT if extra_buffers else FINE)

    monkeypatch.setattr(gguf_probe, "child_argv", argv)
    return started


def test_verdicts_are_cached_per_file_and_setting(
    model: Path, tmp_path: Path, children: list[bool]
) -> None:
    cache = tmp_path / "cache"
    assert probe(str(model), extra_buffers=True, threads=1, cache_dir=cache).crashed
    assert probe(str(model), extra_buffers=False, threads=1, cache_dir=cache).ok
    assert probe(str(model), extra_buffers=True, threads=1, cache_dir=cache).crashed
    assert children == [True, False]  # the third answer came from the cache
    model.write_bytes(model.read_bytes() + b"\0")  # another file now: probed again
    assert probe(str(model), extra_buffers=True, threads=1, cache_dir=cache).crashed
    assert children == [True, False, True]


def test_failures_that_may_not_recur_are_not_cached(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gguf_probe, "child_argv", lambda *a: _python(BROKEN))
    assert not probe(str(model), extra_buffers=False, threads=1, cache_dir=tmp_path).ok
    assert not list((tmp_path / "gguf-probe").glob("*.json"))


def test_the_generator_falls_back_to_plain_buffers(
    model: Path, tmp_path: Path, children: list[bool]
) -> None:
    gen = LlamaCppGenerator(str(model), extra_buffers=True, cache_dir=tmp_path)
    assert gen._survivable_setting() is False
    assert children == [True, False]


def test_a_file_that_crashes_either_way_is_refused_with_what_to_set(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gguf_probe, "child_argv", lambda *a: _python(SEGFAULT))
    gen = LlamaCppGenerator(str(model), extra_buffers=True, cache_dir=tmp_path)
    with pytest.raises(RuntimeError) as caught:
        gen.load()  # a RuntimeError before anything is loaded in this process
    message = str(caught.value)
    assert str(model) in message and "SIGSEGV" in message
    assert "RAGQA_GENERATOR_MODEL" in message and "RAGQA_GGUF_PRECISION=bf16" in message


def test_a_file_llama_cpp_rejects_is_reported_not_retried(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gguf_probe, "child_argv", lambda *a: _python(BROKEN))
    gen = LlamaCppGenerator(str(model), extra_buffers=True, cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match="cannot run .*Failed to load model"):
        gen.load()


def test_the_real_child_probes_a_real_file(tmp_path: Path) -> None:
    """The probe's own child on a file llama.cpp refuses: an error, not a crash."""
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF but not really")
    result = probe(str(bad), extra_buffers=False, threads=1, cache_dir=tmp_path)
    assert not result.ok and not result.crashed


@pytest.mark.models
def test_a_quantised_gguf_over_300_mb_answers_in_process(tmp_path: Path) -> None:
    """The default generator, Qwen2.5-Coder-1.5B Q4_K_M (1.1 GB, kept quantised by `auto`),
    with llama.cpp's extra buffer types asked for: where they crash (AMX), the probe's child
    dies and the generator falls back to plain buffers; either way this process answers."""
    from app.generators.gguf_precision import AUTO_MAX_BYTES, gguf_for
    from vectorstore.bundled import QWEN_15B, ModelNotFoundError, resolve_model

    try:
        path = resolve_model(QWEN_15B)
    except ModelNotFoundError as exc:
        pytest.skip(f"{exc} (`make install`)")
    assert Path(path).stat().st_size > AUTO_MAX_BYTES
    assert gguf_for(path, "auto", tmp_path) == path  # the quantised file itself runs
    gen = LlamaCppGenerator(path, context_window=1024, extra_buffers=True, cache_dir=tmp_path)
    messages: list[ChatMessage] = [
        {"role": "user", "content": "What is the capital of France? One word."}
    ]
    assert "Paris" in "".join(gen.stream(messages, max_new_tokens=8))
    verdicts = [json.loads(p.read_text()) for p in (tmp_path / "gguf-probe").glob("*.json")]
    # One verdict (it ran with extra buffers), or a crash and then plain buffers that ran.
    assert any(v["ok"] for v in verdicts)
    assert len(verdicts) == 1 or any(v["crashed"] for v in verdicts)
