"""FAISS index kinds: exact top-1, real removal, save/load, and the store's size rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.config import Settings
from vectorstore.dense import index_kinds
from vectorstore.dense.faiss_index import DenseIndex
from vectorstore.dense.index_kinds import IndexKind
from vectorstore.store.store import INDEX_FILE, DocumentWrite, Store
from vectorstore.types import NewChunk

DIM = 32  # small vectors keep IVF training instant; the kinds do not depend on it
COUNT = 4_000  # an IVF index trains 102 lists and probes 96 of them, not all


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def built(kind: IndexKind, vectors: np.ndarray, first_id: int = 100) -> DenseIndex:
    index = DenseIndex(DIM, kind, len(vectors), vectors)
    index.add(np.arange(first_id, first_id + len(vectors), dtype=np.int64), vectors)
    return index


@pytest.mark.parametrize("kind", index_kinds.KINDS)
def test_each_kind_finds_a_stored_vector_first(kind: IndexKind) -> None:
    vectors = unit_vectors(COUNT)
    index = built(kind, vectors)
    for row in (0, 777, COUNT - 1):
        top = index.search(vectors[row], 5)
        assert top[0][0] == 100 + row
        assert top[0][1] == pytest.approx(1.0, abs=0.01)  # cosine; SQ8 scores are close
        assert len(top) == 5


@pytest.mark.parametrize("kind", index_kinds.KINDS)
def test_removed_ids_are_gone(kind: IndexKind) -> None:
    vectors = unit_vectors(COUNT)
    index = built(kind, vectors)
    index.remove(np.array([100, 101, 102], dtype=np.int64))
    assert len(index) == COUNT - 3
    assert not {100, 101, 102} & set(index.ids().tolist())
    assert all(i not in (100, 101, 102) for i, _ in index.search(vectors[1], 50))


@pytest.mark.parametrize("kind", index_kinds.KINDS)
def test_save_and_load_keep_the_kind(kind: IndexKind, tmp_path: Path) -> None:
    vectors = unit_vectors(COUNT)
    index = built(kind, vectors)
    index.generation = 7
    index.save(tmp_path / INDEX_FILE)
    assert json.loads((tmp_path / "dense.json").read_text())["kind"] == kind
    loaded = DenseIndex.load(tmp_path / INDEX_FILE, DIM)
    assert loaded is not None
    assert (loaded.kind, loaded.built_for, loaded.generation, len(loaded)) == (
        kind,
        COUNT,
        7,
        COUNT,
    )
    assert sorted(loaded.ids().tolist()) == list(range(100, 100 + COUNT))
    assert loaded.search(vectors[3], 1)[0][0] == 103


def test_a_file_from_before_kinds_loads_as_flat(tmp_path: Path) -> None:
    built("flat", unit_vectors(10)).save(tmp_path / INDEX_FILE)
    (tmp_path / "dense.json").write_text(json.dumps({"generation": -1, "count": 10}))
    loaded = DenseIndex.load(tmp_path / INDEX_FILE, DIM)
    assert loaded is not None and loaded.kind == "flat"


def test_auto_is_exact_when_small_and_ivf_above_the_threshold() -> None:
    assert index_kinds.choose("auto", 10) == "flat"
    assert index_kinds.choose("auto", index_kinds.FLAT_MAX - 1) == "flat"
    assert index_kinds.choose("auto", index_kinds.FLAT_MAX) == "ivf_sq8"
    assert index_kinds.choose("auto", 5_000, flat_max=3_000) == "ivf_sq8"
    assert index_kinds.choose("flat", 10**7) == "flat"
    assert index_kinds.choose("ivf_sq8", 10) == "flat"  # too few to train on
    assert index_kinds.choose("ivf_sq8", 5_000) == "ivf_sq8"


def test_an_ivf_index_is_rebuilt_once_its_lists_are_the_wrong_size() -> None:
    assert index_kinds.suits("ivf_sq8", 100_000, 399_000, "auto")
    assert not index_kinds.suits("ivf_sq8", 100_000, 401_000, "auto")
    assert not index_kinds.suits("ivf_sq8", 240_000, 59_000, "auto")
    assert not index_kinds.suits("ivf_sq8", 60_000, 49_000, "auto")  # back to flat
    assert not index_kinds.suits("flat", 0, 60_000, "auto")
    assert index_kinds.suits("flat", 0, 60_000, "flat")
    assert index_kinds.nlist_for(1_000_000) == 4_000 and index_kinds.nlist_for(1_000) == 25


def write(store: Store, doc_id: str, vectors: np.ndarray) -> None:
    chunks = [NewChunk(f"chunk {n} of {doc_id}", "") for n in range(len(vectors))]
    store.write_documents([DocumentWrite(doc_id, doc_id, None, "h", {}, chunks, vectors)])


def test_the_setting_reaches_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGQA_INDEX_KIND", "ivf_sq8")
    settings = Settings()
    assert settings.index_kind == "ivf_sq8"
    store = Store(tmp_path / "s", "fake", DIM, index_kind=settings.index_kind)
    vectors = unit_vectors(1_500)
    write(store, "a", vectors)
    index = store.dense_index()
    assert index is not None and index.kind == "ivf_sq8"  # far below FLAT_MAX
    write(store, "a", vectors[:1_200])  # replaced: its old rows leave the IVF lists
    index = store.dense_index()
    assert index is not None and len(index) == 1_200
    assert len(store.fetch_chunks(index.ids().tolist())) == 1_200  # all current rows


def test_a_store_crossing_the_threshold_rebuilds_as_the_new_kind(tmp_path: Path) -> None:
    store = Store(tmp_path / "s", "fake", DIM, flat_max=2_000)
    vectors = unit_vectors(3_000, seed=1)
    write(store, "a", vectors[:1_500])
    store.flush()
    assert store.dense_index().kind == "flat"  # type: ignore[union-attr]
    write(store, "b", vectors[1_500:])  # applied to the flat index in memory...
    index = store.dense_index()  # ...which no longer suits 3,000 vectors
    assert index is not None and (index.kind, len(index), index.built_for) == (
        "ivf_sq8",
        3_000,
        3_000,
    )
    assert index.search(vectors[2_222], 1)[0][0] == 2_223  # row ids start at 1
    store.flush()
    store.close()
    info = json.loads((tmp_path / "s" / "dense.json").read_text())
    assert (info["kind"], info["count"]) == ("ivf_sq8", 3_000)
    reopened = Store(tmp_path / "s", "fake", DIM, flat_max=2_000)
    assert reopened.dense_index().kind == "ivf_sq8"  # type: ignore[union-attr]
    assert reopened.delete_document("b")  # shrinks below the threshold: exact again
    assert reopened.dense_index().kind == "flat"  # type: ignore[union-attr]
    assert Store(tmp_path / "s", "fake", DIM).dense_index().kind == "flat"  # type: ignore[union-attr]
