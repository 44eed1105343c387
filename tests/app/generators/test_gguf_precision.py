"""The bf16 copy of a small GGUF: when it is made, that it is cached, and that it answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.generators import gguf_precision
from app.generators.factory import build_generator
from app.generators.gguf_precision import gguf_for, wants_bf16
from vectorstore.bundled import BUNDLED_GENERATOR, resolve_model


def test_auto_copies_only_small_files_on_bf16_cpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 1000)
    assert not wants_bf16(model, "original") and wants_bf16(model, "bf16")
    monkeypatch.setattr(gguf_precision, "cpu_has_bf16", lambda: True)
    assert wants_bf16(model, "auto")
    monkeypatch.setattr(gguf_precision, "AUTO_MAX_BYTES", 999)
    assert not wants_bf16(model, "auto")  # a big model would decode slower from the copy
    monkeypatch.setattr(gguf_precision, "AUTO_MAX_BYTES", 1000)
    monkeypatch.setattr(gguf_precision, "cpu_has_bf16", lambda: False)
    assert not wants_bf16(model, "auto")
    assert gguf_for(str(model), "original", tmp_path / "cache") == str(model)


def test_a_file_llama_cpp_cannot_read_names_the_setting(tmp_path: Path) -> None:
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"GGUF but not really")
    with pytest.raises(RuntimeError, match="RAGQA_GGUF_PRECISION=original"):
        gguf_for(str(model), "bf16", tmp_path / "cache")
    assert not any(p.suffix in (".gguf", ".tmp") for p in (tmp_path / "cache").rglob("*"))


@pytest.mark.models
def test_bf16_copy_is_made_once_and_answers(tmp_path: Path) -> None:
    source = resolve_model(BUNDLED_GENERATOR)
    copy = Path(gguf_for(source, "bf16", tmp_path))
    assert copy.parent == tmp_path / "gguf" and copy.name.endswith(".bf16.gguf")
    # 16-bit weights against 4-bit ones: a little more than 3x the file.
    assert copy.stat().st_size > 2.5 * Path(source).stat().st_size
    made = copy.stat().st_mtime_ns
    assert gguf_for(source, "bf16", tmp_path) == str(copy)
    assert copy.stat().st_mtime_ns == made  # reused, not converted again
    gen = build_generator(
        BUNDLED_GENERATOR, "llama_cpp", "cpu", None, gguf_precision="bf16", cache_dir=tmp_path
    )
    answer = "".join(
        gen.stream(
            [{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=12
        )
    )
    assert "Paris" in answer
