"""A read-only store: searches keep working, writes fail with a clear reason (API 503,
CLI "ragqa: ... read-only ..." and exit 2), and nothing in the store changes. Injected
SQLite errors everywhere; a real read-only tmpfs mount where mounting one is allowed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import app.main
import app.services
from app.cli.main import main as ragqa_main
from tests.reliability.faults import READ_ONLY, SqliteFault, counts, live, seeded, upload
from tests.reliability.serving import ServeProcess, integrity, markdown, ragqa, remount, tmpfs
from vectorstore.embedders.hashing import HashEmbedder


@pytest.mark.server
def test_upload_to_a_read_only_store_is_503_and_search_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, emb = seeded(tmp_path / "store")
    before = counts(store.folder)
    SqliteFault(monkeypatch, READ_ONLY)
    with live(store, emb) as server:
        refused = upload(server.url)
        assert refused.status_code == 503, refused.text
        assert "read-only" in refused.json()["detail"]
        found = httpx.post(f"{server.url}/api/search", json={"query": "ragqa"}, timeout=30)
        assert found.status_code == 200 and found.json()["results"]
        some = next(iter(store.all_documents()))
        gone = httpx.delete(f"{server.url}/api/documents/{some}", timeout=30)
        assert gone.status_code == 503 and "read-only" in gone.json()["detail"]
    assert counts(store.folder) == before
    assert integrity(store.folder) == []


def test_cli_ingest_into_a_read_only_store_says_so_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = seeded(tmp_path / "store")
    store.close()
    before = counts(store.folder)
    docs = markdown(tmp_path / "docs", "note.md", "Note", ["Lighthouse keeping."])
    monkeypatch.setattr(app.services, "build_embedder", lambda _: HashEmbedder(max_tokens=64))
    SqliteFault(monkeypatch, READ_ONLY)
    code = ragqa_main(["ingest", str(docs.parent), "--store", str(store.folder)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("ragqa: the store at") and "is read-only" in err
    assert "Traceback" not in err
    assert counts(store.folder) == before


@pytest.mark.server
@pytest.mark.models
def test_a_store_on_a_read_only_mount(tmp_path: Path) -> None:
    """Built on a tmpfs, remounted read-only, then served: SQLite cannot even create its
    -shm file there, so the store must open the database as immutable to read it."""
    with tmpfs(tmp_path / "disk", "8m") as disk:
        store = disk / "store"
        docs = markdown(tmp_path / "docs", "harbour.md", "Harbour", ["The lighthouse guides."])
        built = ragqa("ingest", str(docs.parent), "--store", str(store))
        assert built.returncode == 0, built.stderr
        before = counts(store)
        remount(disk, "ro")
        with ServeProcess(store, tmp_path / "serve.log") as server:
            found = httpx.post(f"{server.url}/api/search", json={"query": "lighthouse"})
            assert found.status_code == 200, found.text
            assert found.json()["results"][0]["document_id"].endswith("harbour.md")
            refused = upload(server.url)
            assert refused.status_code == 503 and "read-only" in refused.json()["detail"]
            cli = ragqa("ingest", str(docs.parent), "--store", str(store))
            assert cli.returncode == 2 and "Traceback" not in cli.stderr, cli.stderr
            assert "ragqa: the store at" in cli.stderr and "is read-only" in cli.stderr
            assert "Traceback" not in server.output()
        remount(disk, "rw")
        assert counts(store) == before
        assert integrity(store) == []
