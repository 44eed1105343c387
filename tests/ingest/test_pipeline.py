"""Ingestion lifecycle: idempotent re-runs, changed files replaced, deletions, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Pipeline
from ingest.runner import run_ingest

FIXTURES = Path(__file__).parents[1] / "fixtures"


def make_tree(root: Path) -> Path:
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "README.md").write_text("# A\n\nApples grow on trees.\n")
    (root / "b" / "README.md").write_text("# B\n\nBananas grow in bunches.\n")
    (root / "notes.txt").write_text("Cherries are small and red.\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return root


def test_second_run_embeds_nothing(pipeline: Pipeline, tmp_path: Path) -> None:
    root = make_tree(tmp_path / "docs")
    first = run_ingest(pipeline, [str(root)], progress=False)
    assert (first.added, first.failed) == (3, 0)
    calls: list[int] = []
    original = pipeline.embedder.embed
    pipeline.embedder.embed = lambda texts: calls.append(len(texts)) or original(texts)  # type: ignore[method-assign]
    second = run_ingest(pipeline, [str(root)], progress=False)
    assert (second.added, second.updated, second.unchanged, second.chunks) == (0, 0, 3, 0)
    assert calls == []


def test_ids_are_paths_as_given_so_two_readmes_stay_two(pipeline: Pipeline, tmp_path: Path) -> None:
    root = make_tree(tmp_path / "docs")
    run_ingest(pipeline, [str(root) + "/"], progress=False)
    ids = {d.id for d in pipeline.store.list_documents()[0]}
    assert ids == {f"{root}/a/README.md", f"{root}/b/README.md", f"{root}/notes.txt"}


def test_changed_file_is_replaced_and_missing_ones_deleted_on_request(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "docs")
    run_ingest(pipeline, [str(root)], progress=False)
    (root / "notes.txt").write_text("Cherries are now yellow.\n")
    (root / "b" / "README.md").unlink()
    kept = run_ingest(pipeline, [str(root)], progress=False)
    assert (kept.updated, kept.unchanged, kept.deleted) == (1, 1, 0)
    assert pipeline.store.get_info(f"{root}/b/README.md") is not None
    pruned = run_ingest(pipeline, [str(root)], delete_missing=True, progress=False)
    assert (pruned.unchanged, pruned.deleted) == (2, 1)
    assert pipeline.store.get_info(f"{root}/b/README.md") is None
    chunks = pipeline.store.get_chunks(f"{root}/notes.txt")
    assert [c.text for c in chunks] == ["Cherries are now yellow."]


def test_jsonl_records_become_documents_and_removed_records_go(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        '{"_id": "1", "title": "One", "text": "first"}\n{"_id": "2", "text": "second"}\n'
    )
    assert run_ingest(pipeline, [str(path)], progress=False).added == 2
    assert pipeline.store.get_info("1").source == str(path)  # type: ignore[union-attr]
    path.write_text('{"_id": "1", "title": "One", "text": "first"}\n')
    result = run_ingest(pipeline, [str(path)], delete_missing=True, progress=False)
    assert (result.unchanged, result.deleted) == (1, 1)


def test_a_bad_file_is_reported_and_the_rest_go_on(pipeline: Pipeline, tmp_path: Path) -> None:
    root = make_tree(tmp_path / "docs")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 10)
    summary = run_ingest(pipeline, [str(root), str(tmp_path / "nope")], progress=False)
    assert summary.added == 3 and summary.failed == 3
    reasons = dict(summary.failures)
    assert "binary" in reasons[f"{root}/binary.txt"]
    assert "PDF" in reasons[f"{root}/broken.pdf"]
    assert "no such file" in reasons[str(tmp_path / "nope")]
    assert "failed=3" in summary.line()


def test_fixture_corpus_ingests_cleanly(pipeline: Pipeline) -> None:
    summary = run_ingest(pipeline, [str(FIXTURES)], progress=False)
    assert summary.failed == 0 and summary.added >= 5


def test_delete_missing_never_removes_uploads(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.uploads import Upload, ingest_uploads

    ingest_uploads(pipeline, [Upload("notes.md", b"# Notes\n\nUploaded text.\n")])
    make_tree(tmp_path / "docs")
    monkeypatch.chdir(tmp_path)  # "." holds no notes.md: an upload is not a lost file
    summary = run_ingest(pipeline, ["."], delete_missing=True, progress=False)
    assert summary.deleted == 0
    assert pipeline.store.get_info("notes.md") is not None
    again = ingest_uploads(pipeline, [Upload("notes.md", b"# Notes\n\nUploaded text.\n")])
    assert (again[0].status, again[0].chunks) == ("unchanged", 1)
