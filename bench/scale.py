"""Item 7, scale: search over up to 1,000,000 passage vectors, exact against the approximate indexes.

The vectors have the structure of real ones: each mixes two real MiniLM passage vectors (from the item-6
corpus; the first weighs 0.5-1) and adds Gaussian noise drawn with the real vectors' covariance (their
principal axes and spreads), then is normalised. So they sit in the same narrow cone as real embeddings, in clusters of near-paraphrases, instead
of the isotropic noise on which HNSW's recall collapses. Questions are made the same way with more noise."""
from __future__ import annotations

import gc
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import Row, ms, p50, rss_bytes

PASSAGE_SPREAD = 0.8
QUESTION_SPREAD = 1.0
TOP_K = 5  # recall@5 against exact search
CANDIDATES = 50  # what the retriever asks FAISS for


def synthesize(base: np.ndarray, n: int, spread: float, seed: int) -> np.ndarray:
    """`n` normalised vectors around random rows of `base`, with noise shaped like `base` itself."""
    rng = np.random.default_rng(seed)
    base = np.asarray(base, dtype=np.float32)
    centred = base - base.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    scale = (s / math.sqrt(len(base))).astype(np.float32)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for first in range(0, n, 65536):
        rows = min(65536, n - first)
        weight = rng.uniform(0.5, 1.0, size=(rows, 1)).astype(np.float32)
        seeds = weight * base[rng.integers(len(base), size=rows)] + (1 - weight) * base[rng.integers(len(base), size=rows)]
        noise = (rng.standard_normal((rows, len(s)), dtype=np.float32) * scale) @ vt
        block = seeds + spread * noise
        out[first : first + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _timed_search(index, queries: np.ndarray, k: int) -> list[float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None, :], k)
        times.append(time.perf_counter() - start)
    return times


def _recall(index, queries: np.ndarray, truth: np.ndarray) -> float:
    _, ids = index.search(queries, TOP_K)
    return float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(ids, truth)]))


def _disk_bytes(index) -> int:
    import faiss

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def run(base: np.ndarray, n: int, queries: int, smoke: bool) -> list[Row]:
    from docqa import ann

    vectors = synthesize(base, n, PASSAGE_SPREAD, seed=1)
    qs = synthesize(base, queries, QUESTION_SPREAD, seed=2)
    gc.collect()
    rows: list[Row] = []

    built: dict[str, tuple[object, float, int]] = {}
    for kind in ("IndexFlatIP", "IndexIVFFlat", "IndexHNSWFlat"):
        before = rss_bytes()
        start = time.perf_counter()
        index = ann.build_index(vectors, kind)
        seconds = time.perf_counter() - start
        built[kind] = (index, seconds, rss_bytes() - before)
    flat = built["IndexFlatIP"][0]
    _, truth = flat.search(qs, TOP_K)

    # Per question, as the retriever searches (one vector, k = 50 candidates); exact search is slow, so
    # it gets fewer questions, interleaved with the others.
    exact_qs = qs[: max(queries // 4, 2)]
    flat_times = _timed_search(flat, exact_qs, CANDIDATES)
    threshold = min(ann.APPROXIMATE_ABOVE, n)
    small = ann.build_flat(vectors[:threshold])
    small_times = _timed_search(small, qs, CANDIDATES)
    del small
    rows.append(Row("7 scale", f"exact IndexFlatIP at {n:,}: search p50 / p95", ms(flat_times),
                    f"build {built['IndexFlatIP'][1]:.1f} s, memory {built['IndexFlatIP'][2] / 2**20:,.0f} MiB, "
                    f"file {_disk_bytes(flat) / 2**20:,.0f} MiB", "1.00", "(baseline)"))
    rows.append(Row("7 scale", f"exact IndexFlatIP at the switch ({threshold:,})", ms(small_times),
                    f"exact at {n:,}: {ms(flat_times)}", f"{p50(small_times) / p50(flat_times):.3f}", "<= 10 ms",
                    None if smoke else p50(small_times) <= 0.010))

    default = ann.index_kind(n) if n > ann.APPROXIMATE_ABOVE else ann.DEFAULT_KIND
    for kind, knob, values in (("IndexIVFFlat", "nprobe", (32, 64, 128)),
                               ("IndexHNSWFlat", "efSearch", (128, 256, 512))):
        index, seconds, memory = built[kind]
        saved = index.nprobe if kind == "IndexIVFFlat" else index.hnsw.efSearch
        extra = f"nlist {index.nlist}" if kind == "IndexIVFFlat" else f"M {ann.HNSW_M}, efConstruction {ann.HNSW_EF_CONSTRUCTION}"
        for value in sorted(set(values) | {saved}):
            if kind == "IndexIVFFlat":
                index.nprobe = value
            else:
                index.hnsw.efSearch = value
            recall = _recall(index, qs, truth)
            times = _timed_search(index, qs, CANDIDATES)
            chosen = value == saved
            mark = " (saved in the index)" if chosen else ""
            rows.append(Row(
                "7 scale", f"{kind} at {n:,}, {knob} {value}{mark}: search p50 / p95, recall@5",
                f"{ms(times)}, recall {recall:.3f}", f"exact {ms(flat_times)}",
                f"{p50(times) / p50(flat_times):.3f}", "<= 10 ms, recall >= 0.95" if chosen else "-",
                None if smoke or not chosen else (p50(times) <= 0.010 and recall >= 0.95)))
        if kind == "IndexIVFFlat":
            index.nprobe = saved
        else:
            index.hnsw.efSearch = saved
        rows.append(Row("7 scale", f"{kind} at {n:,} ({extra}): build, memory, file"
                        + (" (the store's choice)" if kind == default else ""),
                        f"{seconds:.1f} s, {memory / 2**20:,.0f} MiB, {_disk_bytes(index) / 2**20:,.0f} MiB",
                        f"flat: {built['IndexFlatIP'][1]:.1f} s, {built['IndexFlatIP'][2] / 2**20:,.0f} MiB",
                        "-", "report"))
    index = built["IndexIVFFlat"][0]
    back = index.reconstruct_n(0, min(n, 1000))
    assert np.allclose(back, vectors[: len(back)]), "the approximate index must read vectors back exactly"
    return rows
