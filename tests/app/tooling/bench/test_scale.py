"""The scale section at a tiny size: synthetic fill, every kind measured, the Markdown."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from app.tooling.bench.report import BenchReport, render
from app.tooling.bench.scale import QUERIES, measure_scale, synthesize, with_perturbed

DIM = 48  # divisible by PQ's 48 sub-vectors, small enough to build every kind quickly


@pytest.fixture
def one_thread() -> Iterator[None]:
    """FAISS's OpenMP threads spin-wait at every barrier: on a loaded 2-core machine the
    many small k-means steps then take a minute instead of seconds."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_synthetic_vectors_keep_the_real_ones_and_are_unit_length() -> None:
    real = unit(300, 0)
    base = synthesize(real, 5_000)
    assert base.shape == (5_000, DIM) and base.dtype == np.float32
    assert np.array_equal(base[:300], real)
    assert np.allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    # Mixes lean towards a real vector: each is closer to some real one than chance.
    assert float(np.median((base[300:] @ real.T).max(axis=1))) > 0.5
    assert np.array_equal(synthesize(real, 200), real[:200])


def test_queries_are_topped_up_with_perturbed_real_vectors() -> None:
    real, asked = unit(300, 0), unit(20, 1)
    queries = with_perturbed(asked, real, QUERIES)
    assert queries.shape == (QUERIES, DIM)
    assert np.array_equal(queries[:20], asked)
    assert not (queries[20:, None, :] == real[None, :, :]).all(axis=2).any()  # held out
    assert len(with_perturbed(unit(300, 2), real, QUERIES)) == QUERIES


@pytest.mark.usefixtures("one_thread")
def test_every_kind_is_measured_against_exact_search() -> None:
    result = measure_scale(unit(500, 0), unit(30, 1), 6_000, say=lambda _: None)
    assert (result.vectors, result.real, result.queries, result.real_queries) == (
        6_000,
        500,
        QUERIES,
        30,
    )
    assert result.auto_kind == "flat"
    kinds = {k.kind: k for k in result.kinds}
    assert list(kinds) == ["flat", "ivf_sq8", "ivf_pq48", "hnsw_sq8"]
    assert kinds["flat"].recall == pytest.approx(1.0) and kinds["flat"].setting == "exact"
    assert kinds["ivf_sq8"].in_store and not kinds["hnsw_sq8"].in_store
    assert kinds["ivf_sq8"].setting == "nprobe 96"  # the store's own setting
    assert kinds["ivf_sq8"].recall > 0.8
    for k in result.kinds:
        assert k.build_s >= 0 and k.p95_ms >= k.p50_ms > 0
    # Bytes a vector: float32 plus the id for flat, one byte a dimension for SQ8.
    assert kinds["flat"].nbytes / 6_000 == pytest.approx(DIM * 4 + 8, rel=0.02)
    assert kinds["ivf_sq8"].nbytes < kinds["flat"].nbytes / 3

    text = render(BenchReport("ragqa bench", "now", "here", "setup", scale=result))
    assert "## Scale" in text
    assert "| ivf_sq8 |" in text and "| hnsw_sq8 (bench only) |" in text
    assert "ivf_sq8, recall@10 by nprobe: 8: " in text
    assert "RAGQA_INDEX_KIND=auto picks `flat` at this size" in text
