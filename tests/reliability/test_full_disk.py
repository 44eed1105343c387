"""A full disk: the API answers 503 with the reason, the CLI says "ragqa: no space left
..." and exits 2, nothing half-written is left, and the store works again once there is
room. Injected SQLite/OS errors everywhere; a real full tmpfs where mounting one is allowed."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import httpx
import pytest

import app.main
import app.services
from app.cli.main import main as ragqa_main
from tests.reliability.faults import FULL, SqliteFault, counts, live, seeded, upload
from tests.reliability.serving import (
    ServeProcess,
    fill,
    integrity,
    markdown,
    ragqa,
    tmpfs,
)
from vectorstore.dense import faiss_index
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import INDEX_FILE, Store


@pytest.mark.server
def test_upload_to_a_full_store_is_503_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, emb = seeded(tmp_path / "store")
    before = counts(store.folder)
    disk = SqliteFault(monkeypatch, FULL)
    with live(store, emb) as server:
        refused = upload(server.url)
        assert refused.status_code == 503, refused.text
        assert "no space left" in refused.json()["detail"]
        assert counts(store.folder) == before
        # Reads need no space: search goes on.
        found = httpx.post(f"{server.url}/api/search", json={"query": "ragqa"}, timeout=30)
        assert found.status_code == 200 and found.json()["results"]
        disk.lift()  # space freed: the same upload now goes through
        again = upload(server.url)
        assert again.status_code == 200 and again.json()["documents"][0]["status"] == "added"
    assert counts(store.folder)[0] == before[0] + 1
    assert integrity(store.folder) == []


def test_cli_ingest_into_a_full_store_says_so_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = seeded(tmp_path / "store")
    store.close()
    before = counts(store.folder)
    docs = markdown(tmp_path / "docs", "big.md", "Big", ["Lighthouse keeping. " * 300] * 3)
    # The CLI as it runs, with the test's embedder (the store was built with it).
    monkeypatch.setattr(app.services, "build_embedder", lambda _: HashEmbedder(max_tokens=64))
    SqliteFault(monkeypatch, FULL)
    code = ragqa_main(["ingest", str(docs.parent), "--store", str(store.folder)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("ragqa: no space left on the device") and "Traceback" not in err
    assert counts(store.folder) == before
    assert integrity(store.folder) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_lock_file_that_cannot_be_made_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """The first write opens (creates) the lock file: its OSError says what is wrong."""
    store, emb = seeded(tmp_path / "store")

    def fail(*_: object, **__: object) -> None:
        raise OSError(code, "injected")

    monkeypatch.setattr(store._lock._file_lock, "acquire", fail)
    from vectorstore.types import StoreError

    with pytest.raises(StoreError, match="no space left" if code == errno.ENOSPC else "read-only"):
        with store.writer():
            pass


def test_a_failed_faiss_save_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC half-way through writing the FAISS file: the saved index is still the old
    one, whole; no partial copy takes up the space left; a reopened store catches up."""
    store, _ = seeded(tmp_path / "store")
    saved = (store.folder / INDEX_FILE).read_bytes()
    info = json.loads((store.folder / INDEX_FILE).with_suffix(".json").read_text())
    store.delete_document(next(iter(store.all_documents())))
    faiss = faiss_index._faiss()

    class DiskFills:
        def __getattr__(self, name: str) -> object:
            return getattr(faiss, name)

        def write_index(self, index: object, path: str) -> None:
            Path(path).write_bytes(saved[: len(saved) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(faiss_index, "_faiss", lambda: DiskFills())
    store.flush()  # a failed save costs a rebuild at the next start, never the shutdown
    monkeypatch.undo()
    assert (store.folder / INDEX_FILE).read_bytes() == saved
    assert not (store.folder / INDEX_FILE).with_suffix(".tmp").exists()
    store.close()
    reopened = Store(store.folder, "hash", 256)
    index = reopened.dense_index()
    assert index is not None and index.generation == reopened.generation() > info["generation"]
    assert len(index) == reopened.stats()["chunks"]
    assert integrity(store.folder) == []


@pytest.mark.server
@pytest.mark.models
def test_a_really_full_disk(tmp_path: Path) -> None:
    """A real tmpfs filled to the last byte under a running `ragqa serve`."""
    with tmpfs(tmp_path / "disk", "8m") as disk:
        store = disk / "store"
        with ServeProcess(store, tmp_path / "serve.log") as server:
            assert upload(server.url, "first.md").status_code == 200
            before = counts(store)
            filler = fill(disk)
            refused = upload(server.url, "second.md")
            assert refused.status_code == 503, refused.text
            assert "no space left" in refused.json()["detail"]
            found = httpx.post(f"{server.url}/api/search", json={"query": "lighthouse"})
            assert found.status_code == 200 and found.json()["results"]

            docs = markdown(tmp_path / "docs", "third.md", "Third", ["Keeping lights. " * 300])
            cli = ragqa("ingest", str(docs.parent), "--store", str(store))
            assert cli.returncode == 2, cli.stderr
            assert "ragqa: no space left on the device" in cli.stderr
            assert "Traceback" not in cli.stderr
            assert counts(store) == before

            filler.unlink()
            assert upload(server.url, "second.md").status_code == 200
            assert "Traceback" not in server.output()
        # A process started on the full disk cannot even open the store (SQLite needs room
        # for its -shm file): it must say so, not call a sound database unusable.
        filler = fill(disk)
        cold = ragqa("ingest", str(docs.parent), "--store", str(store))
        assert cold.returncode == 2 and "ragqa: no space left" in cold.stderr, cold.stderr
        filler.unlink()
        assert integrity(store) == []
        assert counts(store)[0] == before[0] + 1
    print(f"\nfull disk: API 503 {refused.json()['detail']!r}\nCLI: {cli.stderr.strip()!r}")
    print(f"CLI started on the full disk: {cold.stderr.strip()!r}")
