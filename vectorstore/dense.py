"""The FAISS dense index: a derived copy of the embeddings in SQLite, saved beside it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("faiss-cpu is not installed; run `make install`") from exc
    return faiss


class DenseIndex:
    """Exact inner-product search over normalised vectors, keyed by chunk row id.

    `generation` is the store generation the index reflects; a mismatch with the
    database means the file is stale and must be rebuilt from SQLite.
    """

    def __init__(self, dimension: int) -> None:
        faiss = _faiss()
        self.dimension = dimension
        self.generation = -1
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids)

    def remove(self, ids: NDArray[np.int64]) -> None:
        if len(ids):
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def ids(self) -> NDArray[np.int64]:
        faiss = _faiss()
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    @classmethod
    def from_rows(cls, cursor: Iterator[Any], dimension: int) -> DenseIndex:
        """Build from (id, float32 blob) rows, a batch at a time to bound memory."""
        index = cls(dimension)
        rows = list(islice(cursor, 8192))
        while rows:
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            index.add(ids, vecs.reshape(len(rows), dimension))
            rows = list(islice(cursor, 8192))
        return index

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        faiss = _faiss()
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)
        _write_json(path.with_suffix(".json"), {"generation": self.generation, "count": len(self)})

    @classmethod
    def load(cls, path: Path, dimension: int) -> DenseIndex | None:
        """The saved index, or None when it is missing, unreadable or of another shape."""
        faiss = _faiss()
        try:
            info = json.loads(path.with_suffix(".json").read_text())
            raw = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        if raw.d != dimension or raw.ntotal != info.get("count"):
            return None
        index = cls.__new__(cls)
        index.dimension = dimension
        index.generation = int(info.get("generation", -1))
        index._index = raw
        return index


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".jtmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
