"""Rank fusion: pure functions over ranked id lists."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], weights: Sequence[float] | None = None, k: float = 60.0
) -> list[tuple[K, float]]:
    """Weighted RRF: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1; best first.

    A zero weight removes a ranking entirely, so fusion degrades to the other one exactly.
    """
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight <= 0:
            continue
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def zscore_fusion(
    scored: Sequence[Sequence[tuple[K, float]]],
    weights: Sequence[float],
    unseen: Sequence[Collection[K]] | None = None,
) -> list[tuple[K, float]]:
    """Weighted sum of per-list z-scored scores; a key missing from a list gets that list's
    lowest z-score. Unlike RRF it keeps how far ahead a hit is, not just its rank, and
    ranks better for it (docs/retrieval.md, "Fusing the rankings").

    `unseen[i]` names keys list i could not have ranked at all (keyword search and a
    passage in another language): missing from it, they get z = 0, no evidence either way.
    """
    if len(weights) != len(scored) or (unseen is not None and len(unseen) != len(scored)):
        raise ValueError("one weight per list")
    total = sum(w for w in weights if w > 0) or 1.0
    normalised: list[tuple[dict[K, float], float, float, Collection[K]]] = []
    for index, (pairs, weight) in enumerate(zip(scored, weights, strict=True)):
        if weight <= 0 or not pairs:
            continue
        values = [s for _, s in pairs]
        mean = sum(values) / len(values)
        spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
        z = {key: (s - mean) / spread for key, s in pairs}
        blind = unseen[index] if unseen is not None else ()
        normalised.append((z, min(z.values()), weight / total, blind))
    keys = dict.fromkeys(key for z, _, _, _ in normalised for key in z)
    # A list at a time, not a sum() per key: the same additions in the same order (so the
    # same doubles), without the cost of a generator per key, paid under the GIL.
    fused = dict.fromkeys(keys, 0.0)
    for z, floor, w, blind in normalised:
        if blind:
            z = {**dict.fromkeys(blind, 0.0), **z}
        for key in keys:
            fused[key] += w * z.get(key, floor)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)
