"""`ragqa check`, `ragqa export` and `ragqa import` as a user runs them: exit codes,
one line per check, and clear messages for a missing store or a damaged file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.cli.main import main
from tests.vectorstore.maintenance.test_check import build
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import DB_FILE


@pytest.fixture(autouse=True)
def _no_model_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stores here are hash-embedded; a model set in the environment would ask import
    # to re-embed with a real one.
    monkeypatch.delenv("RAGQA_EMBEDDING_MODEL", raising=False)


def test_export_import_check_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build(tmp_path / "a", HashEmbedder()).close()
    file = tmp_path / "a.jsonl.gz"
    assert main(["export", str(file), "--store", str(tmp_path / "a")]) == 0
    assert "exported" in capsys.readouterr().out
    assert main(["import", str(file), "--store", str(tmp_path / "b")]) == 0
    assert "added=" in capsys.readouterr().out
    assert main(["import", str(file), "--store", str(tmp_path / "b")]) == 0
    assert " updated=0 " in capsys.readouterr().out
    assert main(["check", "--store", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 9 and all(line.startswith("ok ") for line in out[:-1]), out
    assert out[-1].endswith(": sound")


def test_check_fails_then_repair_fixes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "s"
    build(folder, HashEmbedder()).close()
    sqlite3.connect(folder / DB_FILE, isolation_level=None).execute(
        "DELETE FROM chunks_fts WHERE rowid = (SELECT MAX(id) FROM chunks)"
    )
    assert main(["check", "--store", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM  keyword rows   1 chunks have no keyword row" in out
    assert "--repair rebuilds" in out
    assert main(["check", "--store", str(folder), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "repaired:" in out and out.rstrip().endswith(": sound")
    assert main(["check", "--store", str(folder)]) == 0


def test_repair_refuses_damage_to_sqlite_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "s"
    build(folder, HashEmbedder()).close()
    sqlite3.connect(folder / DB_FILE, isolation_level=None).execute(
        "UPDATE chunks SET embedding = zeroblob(8) WHERE id = (SELECT MIN(id) FROM chunks)"
    )
    assert main(["check", "--store", str(folder), "--repair"]) == 1
    assert "not repaired: embeddings" in capsys.readouterr().out


def test_a_missing_store_exits_2_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing"
    assert main(["check", "--store", str(missing)]) == 2
    assert main(["export", str(tmp_path / "x.gz"), "--store", str(missing)]) == 2
    assert capsys.readouterr().err.count("ragqa: no store at") == 2
    assert not missing.exists() and not (tmp_path / "x.gz").exists()


def test_a_damaged_export_exits_2_and_leaves_no_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build(tmp_path / "a", HashEmbedder()).close()
    file = tmp_path / "a.jsonl.gz"
    assert main(["export", str(file), "--store", str(tmp_path / "a")]) == 0
    file.write_bytes(file.read_bytes()[:-20])
    assert main(["import", str(file), "--store", str(tmp_path / "b")]) == 2
    assert "truncated or damaged" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_an_export_that_cannot_be_written_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build(tmp_path / "a", HashEmbedder()).close()
    target = tmp_path / "no-such-folder" / "a.jsonl.gz"
    assert main(["export", str(target), "--store", str(tmp_path / "a")]) == 2
    assert f"ragqa: cannot write {target}" in capsys.readouterr().err


def test_an_export_of_a_damaged_store_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "a"
    build(folder, HashEmbedder()).close()
    sqlite3.connect(folder / DB_FILE, isolation_level=None).execute(
        "UPDATE documents SET metadata = '{oops' WHERE id = (SELECT MAX(id) FROM documents)"
    )
    target = tmp_path / "a.jsonl.gz"
    assert main(["export", str(target), "--store", str(folder)]) == 2
    assert "`ragqa check` says more" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [folder]  # neither the file nor its .partial
