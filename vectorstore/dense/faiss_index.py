"""The FAISS dense index: a derived copy of the embeddings in SQLite, saved beside it."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import suppress
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vectorstore.dense import index_kinds
from vectorstore.dense.index_kinds import IndexKind

if TYPE_CHECKING:
    from numpy.typing import NDArray


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("faiss-cpu is not installed; run `make install`") from exc
    return faiss


# OpenMP threads per search, applied in each thread that searches. libgomp keeps the
# thread count per thread: set in the main thread only, it would leave the server's
# request workers on the default (every core), whose idle OpenMP workers spin after each
# search on cores the other requests need (DECISIONS.md, "Per-thread settings for FAISS,
# ONNX Runtime and the tokenizers").
_search_threads: int | None = None
_applied = threading.local()


def use_search_threads(count: int) -> None:
    """From now on every search runs on `count` OpenMP threads, whichever thread calls."""
    global _search_threads
    _search_threads = count


def _apply_search_threads() -> None:
    wanted = _search_threads
    if wanted is not None and getattr(_applied, "count", None) != wanted:
        _faiss().omp_set_num_threads(wanted)
        _applied.count = wanted


class DenseBackend(Protocol):
    """What the Store needs of a dense index."""

    generation: int  # the store generation the index reflects

    @property
    def kind(self) -> str: ...

    def __len__(self) -> int: ...

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None: ...

    def remove(self, ids: NDArray[np.int64]) -> None: ...

    def ids(self) -> NDArray[np.int64]: ...

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]: ...


class DenseIndex:
    """Inner-product search over normalised vectors, keyed by chunk row id.

    `kind` says how (vectorstore/dense/index_kinds.py): `flat` is exact; `ivf_sq8` probes a few
    inverted lists of 8-bit codes, so its scores are approximate cosines. `count` is how
    many vectors the index is built for (it sizes the IVF lists) and `training` the
    vectors an IVF kind learns its lists and code ranges from.

    `generation` is the store generation the index reflects; a mismatch with the
    database means the file is stale and must be rebuilt from SQLite.
    """

    def __init__(
        self,
        dimension: int,
        kind: IndexKind = "flat",
        count: int = 0,
        training: NDArray[np.float32] | None = None,
    ) -> None:
        faiss = _faiss()
        self.dimension = dimension
        self.kind = kind
        self.built_for = count
        self.generation = -1
        self._index = index_kinds.make(faiss, kind, dimension, count)
        if not self._index.is_trained:
            if training is None or len(training) < self._index.nlist:
                raise ValueError(f"a {kind} index for {count} vectors needs training vectors")
            self._index.train(np.ascontiguousarray(training, np.float32))

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
        if self.kind == "flat":
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        lists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
            for n in range(lists.nlist)
            if lists.list_size(n)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def flat_vectors(self) -> NDArray[np.float32] | None:
        """The vectors in `ids()` order for an exact (flat) index, so `ragqa check` can
        compare them with SQLite's; None for IVF kinds, which keep only lossy 8-bit codes."""
        if self.kind != "flat":
            return None
        faiss = _faiss()
        flat = faiss.downcast_index(self._index.index)
        codes = faiss.vector_to_array(flat.codes)
        return codes.view(np.float32).reshape(len(self), self.dimension)

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        _apply_search_threads()
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    @classmethod
    def from_rows(
        cls,
        cursor: Iterator[Any],
        dimension: int,
        kind: IndexKind = "flat",
        count: int = 0,
        training: NDArray[np.float32] | None = None,
    ) -> DenseIndex:
        """Build from (id, float32 blob) rows, a batch at a time to bound memory."""
        index = cls(dimension, kind, count, training)
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
        try:
            faiss.write_index(self._index, str(tmp))
            os.replace(tmp, path)
        except BaseException:
            # On a full disk a half-written copy would hold on to the space still left.
            with suppress(OSError):
                tmp.unlink()
            raise
        info = {
            "generation": self.generation,
            "count": len(self),
            "kind": self.kind,
            "built_for": self.built_for,
        }
        _write_json(path.with_suffix(".json"), info)

    @classmethod
    def load(cls, path: Path, dimension: int) -> DenseIndex | None:
        """The saved index, or None when it is missing, unreadable or of another shape."""
        faiss = _faiss()
        try:
            info = json.loads(path.with_suffix(".json").read_text())
            raw = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        kind = index_kinds.kind_of(faiss, raw)
        if kind is None or raw.d != dimension or raw.ntotal != info.get("count"):
            return None
        index_kinds.tune(faiss, raw)
        index = cls.__new__(cls)
        index.dimension = dimension
        index.kind = kind
        # Files from before index kinds were all flat, which never looks at built_for.
        index.built_for = int(info.get("built_for", raw.ntotal))
        index.generation = int(info.get("generation", -1))
        index._index = raw
        return index


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".jtmp")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
