"""Outgrowing one machine as a user does it: `ragqa export` from SQLite, `ragqa import`
into Milvus, `ragqa check` there, and back again, with the same documents and hits."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main
from tests.vectorstore.maintenance.test_check import build
from vectorstore import MilvusStore, Retriever, Store
from vectorstore.embedders.hashing import HashEmbedder

pytestmark = pytest.mark.milvus

QUERIES = ["hybrid search", "LoRA 학습", "embedding model"]


@pytest.fixture(autouse=True)
def _no_model_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAGQA_EMBEDDING_MODEL", raising=False)
    monkeypatch.delenv("RAGQA_MILVUS_URI", raising=False)


def chunks(store: Store | MilvusStore) -> dict[str, list[str]]:
    return {d: [c.text for c in store.get_chunks(d)] for d in sorted(store.all_documents())}


def hits(store: Store | MilvusStore, emb: HashEmbedder) -> list[list[str]]:
    retriever = Retriever(store, emb)
    return [[h.chunk_id for h in retriever.search(q, 5, "lexical")] for q in QUERIES]


def test_to_milvus_and_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = HashEmbedder()
    source = build(tmp_path / "sqlite", emb)
    before, found = chunks(source), hits(source, emb)
    source.close()
    out, back = tmp_path / "out.jsonl.gz", tmp_path / "back.jsonl.gz"
    assert main(["export", str(out), "--store", str(tmp_path / "sqlite")]) == 0
    monkeypatch.setenv("RAGQA_STORE_BACKEND", "milvus")
    milvus = ["--store", str(tmp_path / "milvus")]
    assert main(["import", str(out), *milvus]) == 0
    assert "added=7 " in capsys.readouterr().out
    assert main(["check", *milvus]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[-1].endswith(": sound") and all(r.startswith("ok ") for r in report[:-1])
    store = MilvusStore(None, folder=tmp_path / "milvus")
    assert chunks(store) == before and store.embedding_model == emb.model_name
    # BM25 of another engine, over one field where FTS5 weighs three: the best hits agree.
    assert [h[:1] for h in hits(store, emb)] == [h[:1] for h in found]
    store.close()
    assert main(["export", str(back), *milvus]) == 0
    monkeypatch.setenv("RAGQA_STORE_BACKEND", "faiss")
    assert main(["import", str(back), "--store", str(tmp_path / "again")]) == 0
    again = Store(tmp_path / "again", emb.model_name)
    assert chunks(again) == before and hits(again, emb) == found
    again.close()


def test_check_finds_what_a_cut_write_left_and_repair_clears_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGQA_STORE_BACKEND", "milvus")
    emb = HashEmbedder()
    store = MilvusStore(emb.model_name, emb.dimension, folder=tmp_path / "m")
    from tests.vectorstore.milvus.test_milvus_whole_store import doc

    store.write_documents([doc("a", ["one", "two"], "v1")])
    # A replace that died after its new chunks were written: v2's rows, no row naming them.
    real = store.tables.client.upsert
    store.tables.client.upsert = lambda name, rows: (
        real(name, rows) if name.endswith("_chunks") else 1 / 0
    )  # type: ignore[method-assign]
    with pytest.raises(ZeroDivisionError):
        store.write_documents([doc("a", ["three"], "v2")])
    store.close()
    assert main(["check", "--store", str(tmp_path / "m")]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM  orphans" in out and "--repair" in out
    assert main(["check", "--store", str(tmp_path / "m"), "--repair"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(": sound")
