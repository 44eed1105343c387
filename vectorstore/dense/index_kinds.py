"""The FAISS index kinds the store offers, and the size rule `auto` uses to pick one.

Figures behind the constants: `ragqa bench --sections scale` on 384-d MiniLM vectors
(real SciFact, NFCorpus and KorQuAD chunks, filled up with synthetic mixes of them) on
this project's 2-core machine; docs/retrieval.md has the table.
"""

from __future__ import annotations

import math
from typing import Any, Literal

IndexKind = Literal["flat", "ivf_sq8"]
IndexChoice = Literal["auto", "flat", "ivf_sq8"]
KINDS: tuple[IndexKind, ...] = ("flat", "ivf_sq8")

# Below this many vectors exact search costs a few ms a query, costs no recall, and needs
# no training, and every evaluation corpus stays exact. Above it flat grows linearly while
# IVF-SQ8 stays near a millisecond at little loss of recall (docs/retrieval.md, "Index kinds").
FLAT_MAX = 50_000
# A quantiser trained on fewer vectors is noise, and exact search is faster there anyway.
IVF_MIN = 1_000
# Lists probed per query: enough to keep recall@10 above the 0.95 needed, with a margin,
# at every size measured; 64 leaves too thin a one (docs/retrieval.md, "Index kinds").
IVF_NPROBE = 96
# Vectors per k-means centroid when training: FAISS warns below 39.
TRAIN_PER_LIST = 39
# An IVF index built for n vectors is rebuilt once the store holds over 4n or under n/4:
# its nlist (~4 sqrt(n)) would then be off by more than 2x, and with it speed or recall.
REGROW = 4


def choose(choice: IndexChoice, count: int, flat_max: int = FLAT_MAX) -> IndexKind:
    """The kind an index over `count` vectors should be."""
    if choice == "flat" or count < IVF_MIN:
        return "flat"
    if choice == "auto":
        return "flat" if count < flat_max else "ivf_sq8"
    return choice


def suits(
    kind: IndexKind, built_for: int, count: int, choice: IndexChoice, flat_max: int = FLAT_MAX
) -> bool:
    """Whether an index of `kind`, built when the store held `built_for` vectors, still
    fits a store of `count`; if not, the store rebuilds it from SQLite."""
    if kind != choose(choice, count, flat_max):
        return False
    return kind == "flat" or built_for / REGROW <= count <= built_for * REGROW


def nlist_for(count: int) -> int:
    """Inverted lists for `count` vectors: ~4 sqrt(n), with enough vectors to train each."""
    return max(1, min(round(4 * math.sqrt(count)), count // TRAIN_PER_LIST))


def training_size(kind: IndexKind, count: int) -> int:
    """How many vectors the store samples to train an index of `kind` over `count`."""
    return 0 if kind == "flat" else min(count, nlist_for(count) * TRAIN_PER_LIST)


def make(faiss: Any, kind: IndexKind, dimension: int, count: int) -> Any:
    """An empty FAISS index of `kind`, sized for `count` vectors; IVF ones need training."""
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dimension),  # the Python wrapper keeps a reference to it
        dimension,
        nlist_for(count),
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    tune(faiss, index)
    return index


def tune(faiss: Any, index: Any) -> None:
    """Set search-time parameters; also applied on load, so files follow the code."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = min(IVF_NPROBE, ivf.nlist)


def kind_of(faiss: Any, index: Any) -> IndexKind | None:
    """The kind a loaded FAISS index is, or None when it is none the store makes."""
    if isinstance(index, faiss.IndexIDMap2):
        return "flat"
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf_sq8"
    return None
