"""Builds one FAISS index of a named kind for the scale section, and searches it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore import index_kinds

if TYPE_CHECKING:
    from numpy.typing import NDArray

# Values tried for the one search-time knob of each family; recall@10 is reported for each.
NPROBES = (8, 16, 32, 64, 96, 128, 256)
EF_SEARCHES = (16, 32, 64, 128, 256, 512)
PQ_BYTES = 48  # ivf_pq48: 48 one-byte codes a vector, 8x smaller than SQ8
HNSW_M = 16  # links a node; each one more costs memory for every vector
# Candidates kept while linking a new node: FAISS's default (40) builds too poor a graph
# for these clustered vectors (DECISIONS.md, "The scale bench's HNSW settings").
HNSW_EF_CONSTRUCTION = 100


def _faiss() -> Any:
    import faiss

    return faiss


@dataclass
class Built:
    index: Any
    build_s: float  # training (with the shared k-means, for IVF) plus adding every vector
    nbytes: int
    setting_name: str  # "nprobe", "efSearch", or "" for exact search
    settings: tuple[int, ...]  # values of it to try; (0,) for exact search
    fixed: int | None = None  # the value the store uses; None: the cheapest that is enough

    def _params(self, value: int) -> Any:
        faiss = _faiss()
        if self.setting_name == "nprobe":
            return faiss.SearchParametersIVF(nprobe=value)
        if self.setting_name == "efSearch":
            return faiss.SearchParametersHNSW(efSearch=value)
        return None

    def search(self, queries: NDArray[np.float32], k: int, value: int) -> NDArray[np.int64]:
        params = self._params(value)
        _, ids = (
            self.index.search(queries, k, params=params)
            if params
            else self.index.search(queries, k)
        )
        return np.asarray(ids, dtype=np.int64)

    def time_one(self, query: NDArray[np.float32], k: int, value: int) -> float:
        """Seconds for one query on its own, as the service sends them."""
        params = self._params(value)
        one = query.reshape(1, -1)
        start = time.perf_counter()
        self.index.search(one, k, params=params) if params else self.index.search(one, k)
        return time.perf_counter() - start

    def operating(self, sweep: tuple[tuple[int, float], ...], target: float) -> int:
        """The store's own setting, else the cheapest reaching `target`, else the best."""
        if self.fixed is not None:
            return self.fixed
        enough = [v for v, recall in sweep if recall >= target]
        return enough[0] if enough else max(sweep, key=lambda s: s[1])[0]


def exact_top(base: NDArray[np.float32], queries: NDArray[np.float32], k: int) -> Any:
    """Exact top-k ids, all queries in one batch (BLAS), without copying `base`."""
    faiss = _faiss()
    _, ids = faiss.knn(queries, base, k, metric=faiss.METRIC_INNER_PRODUCT)
    return ids


def serialised_bytes(index: Any) -> int:
    """The size of the index as written, counted without holding a copy of it."""
    faiss = _faiss()
    total = 0

    def count(chunk: bytes) -> int:
        nonlocal total
        total += len(chunk)
        return len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count))
    return total


def pq_codes(dim: int) -> int:
    """PQ_BYTES codes, or the most below it that split `dim` evenly (FAISS needs that):
    48 for MiniLM's 384 dimensions, 32 for the default two-model 896."""
    return max(m for m in range(1, PQ_BYTES + 1) if dim % m == 0)


def build(kind: str, base: NDArray[np.float32], shared: dict[str, Any]) -> Built:
    """Build `kind` over `base` (ids 0..n-1). `shared` carries the IVF lists' k-means from
    one IVF kind to the next: the time is counted in each, the work done once."""
    faiss = _faiss()
    n, dim = base.shape
    start = time.perf_counter()
    if kind in index_kinds.KINDS:  # built exactly as the store builds it
        index = index_kinds.make(faiss, kind, dim, n)
    elif kind == "ivf_pq48":
        quantizer = shared["quantizer"] if "quantizer" in shared else faiss.IndexFlatIP(dim)
        nlist = index_kinds.nlist_for(n)
        index = faiss.IndexIVFPQ(
            quantizer, dim, nlist, pq_codes(dim), 8, faiss.METRIC_INNER_PRODUCT
        )
    elif kind == "hnsw_sq8":
        sq8 = faiss.ScalarQuantizer.QT_8bit
        index = faiss.IndexHNSWSQ(dim, sq8, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    ivf = faiss.try_extract_index_ivf(index)
    reused = ivf is not None and ivf.quantizer.ntotal == ivf.nlist  # k-means already done
    if not index.is_trained:  # IVF lists as the store sizes them; PQ codes need fewer
        size = (
            256 * index_kinds.TRAIN_PER_LIST if reused else index_kinds.training_size("ivf_sq8", n)
        )
        index.train(_sample(base, size))
    if ivf is not None and not reused:
        shared["quantizer"] = faiss.clone_index(ivf.quantizer)
        shared["kmeans_s"] = time.perf_counter() - start
    for lo in range(0, n, 100_000):  # ids 0..n-1: the flat kind maps them, the rest count
        block = base[lo : lo + 100_000]
        if kind == "flat":
            index.add_with_ids(block, np.arange(lo, lo + len(block), dtype=np.int64))
        else:
            index.add(block)
    seconds = time.perf_counter() - start + (shared.get("kmeans_s", 0.0) if reused else 0.0)
    if ivf is not None:
        nlist = ivf.nlist
        fixed = ivf.nprobe if kind in index_kinds.KINDS else None
        tried = tuple(sorted({p for p in NPROBES if p <= nlist} | ({fixed} if fixed else set())))
        return Built(index, seconds, serialised_bytes(index), "nprobe", tried, fixed)
    if kind == "hnsw_sq8":
        return Built(index, seconds, serialised_bytes(index), "efSearch", EF_SEARCHES)
    return Built(index, seconds, serialised_bytes(index), "", (0,))


def _sample(base: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(0)
    return base[np.sort(rng.choice(len(base), min(size, len(base)), replace=False))]
