"""Approximate search for large indexes: above `APPROXIMATE_ABOVE` passages, an exact scan costs more than
10 ms a question, so the store builds an approximate FAISS index instead.

Both approximate kinds keep the full float32 vectors (no compression), so `reconstruct_n` still reads every
vector back exactly for incremental re-indexing, and query-time parameters (efSearch, nprobe) are saved in the
index file.
`python -m bench --only scale` measures these settings (recall@5 against exact search, latency, build time,
memory); the figures are in docs/benchmarks.md.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

# An exact scan reads every vector: about 150 ms a question at 1M here, 4 ms at 50,000 (under half the
# 10 ms budget). Above that, the approximate index.
APPROXIMATE_ABOVE = 50_000

# Measured at 1M vectors with the structure of real ones (docs/benchmarks.md, `python -m bench --only scale`):
# HNSW: recall@5 0.985 against exact search at efSearch 256, 1.6 ms p50; built in about 5 minutes on 2 cores.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256  # >= the retriever's 50 candidates
# IVF: built in about 15 s, but recall@5 only 0.94 at 80 probes (6 ms) and 0.96 at 128 probes (9 ms).
IVF_LISTS_PER_SQRT_N = 2  # nlist = 2 * sqrt(n): 2,000 cells at 1M
IVF_TRAIN_PER_LIST = 64  # k-means on at most 64 vectors a cell (128,000 at 1M), 10 iterations
IVF_PROBE_SHARE = 0.04  # nprobe = 4% of the cells (80 at 1M), at least 16

# The store's choice: HNSW, the only one that meets both bars (recall@5 >= 0.95, <= 10 ms) with room to spare.
# Its build (about 5 min at 1M) costs about as much as embedding 50,000 passages, a small share of indexing 1M.
DEFAULT_KIND = "IndexHNSWFlat"
KINDS = ("IndexFlatIP", "IndexIVFFlat", "IndexHNSWFlat")


def index_kind(count: int) -> str:
    """The FAISS index type the store builds for `count` passages."""
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    return DEFAULT_KIND if count > APPROXIMATE_ABOVE else "IndexFlatIP"


def build_index(vectors: np.ndarray, kind: str | None = None) -> Any:
    """An inner-product FAISS index over normalised vectors: exact up to APPROXIMATE_ABOVE, else approximate."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-d array, not {vectors.ndim}-d")
    kind = kind or index_kind(len(vectors))
    if kind == "IndexFlatIP":
        return build_flat(vectors)
    if kind == "IndexIVFFlat":
        return build_ivf(vectors)
    if kind == "IndexHNSWFlat":
        return build_hnsw(vectors)
    raise ValueError(f"unknown index kind {kind!r}; expected one of {', '.join(KINDS)}")


def build_flat(vectors: np.ndarray) -> Any:
    """Exact search: every vector is scored."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(vectors)
    return index


def build_ivf(vectors: np.ndarray, nlist: int | None = None, nprobe: int | None = None) -> Any:
    """Inverted lists over k-means cells, full vectors kept, with a direct map so vectors read back by id."""
    import faiss

    n, dims = vectors.shape
    nlist = nlist or max(1, min(int(IVF_LISTS_PER_SQRT_N * math.sqrt(n)), n // 39 or 1))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dims), dims, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234  # k-means on a fixed sample: the same vectors give the same index
    index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
    index.cp.niter = 10
    index.train(vectors)
    index.add(vectors)
    index.make_direct_map()
    index.nprobe = nprobe or min(nlist, max(16, round(IVF_PROBE_SHARE * nlist)))
    return index


def build_hnsw(vectors: np.ndarray, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION,
               ef_search: int = HNSW_EF_SEARCH) -> Any:
    """A navigable small-world graph over the full vectors."""
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    if len(vectors):
        index.add(vectors)
    return index


def search_params(index: Any, allowed: np.ndarray) -> Any:
    """Search parameters that restrict a search to the ids in `allowed` (a boolean mask), keeping the
    index's own settings (efSearch, nprobe)."""
    own = getattr(index, "search_params", None)
    if own is not None:  # an index served by another store (Milvus) filters in its own way
        return own(allowed)
    import faiss

    selector = faiss.IDSelectorBatch(np.flatnonzero(allowed).astype(np.int64))
    if isinstance(index, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    elif isinstance(index, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    else:
        params = faiss.SearchParameters(sel=selector)
    params.docqa_selector = selector  # the parameters hold a raw pointer: keep the selector alive with them
    return params

