"""The store backend settings: RAGQA_STORE_BACKEND and RAGQA_MILVUS_* reach the Store."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.services import open_store
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.milvus.store import LITE_FILE, MilvusStore
from vectorstore.store.store import DocumentWrite, Store
from vectorstore.types import NewChunk


@pytest.mark.milvus
def test_the_settings_pick_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emb = HashEmbedder()
    chunks = [NewChunk("alpha beta", "")]
    vectors = emb.embed([c.indexed_text for c in chunks])
    kinds = {}
    for backend, folder in (("faiss", "f"), ("milvus", "m")):
        monkeypatch.setenv("RAGQA_STORE_BACKEND", backend)
        monkeypatch.setenv("RAGQA_MILVUS_COLLECTION", "test_store")
        store = open_store(Settings(store=tmp_path / folder), emb.model_name, emb.dimension)
        store.write_documents([DocumentWrite("a", "a", None, "h", {}, chunks, vectors)])
        kinds[backend] = type(store)
        store.close()
    assert kinds == {"faiss": Store, "milvus": MilvusStore}
    # The Milvus store keeps nothing in its folder but Milvus Lite's own file.
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [LITE_FILE]
    assert not (tmp_path / "f" / LITE_FILE).exists()
    reopened = MilvusStore(None, folder=tmp_path / "m", name="test_store")
    assert reopened.stats()["documents"] == 1
    reopened.close()


@pytest.mark.parametrize(
    "fields",
    [
        {"store_backend": "milvus", "milvus_uri": "localhost:19530"},  # no scheme
        {"store_backend": "milvus", "milvus_collection": "chunks-v2"},  # Milvus refuses '-'
        {"store_backend": "qdrant"},
    ],
)
def test_nonsense_is_refused_at_start_up(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(**fields)  # type: ignore[arg-type]


def test_a_server_uri_and_token_are_accepted() -> None:
    settings = Settings(
        store_backend="milvus", milvus_uri="http://milvus:19530", milvus_token="root:Milvus"
    )
    assert settings.milvus_token.get_secret_value() == "root:Milvus"
    assert "root:Milvus" not in repr(settings)
