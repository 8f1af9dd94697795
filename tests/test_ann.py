"""The approximate index: chosen above a size, exact vectors kept, good recall, and usable by the store."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from docqa import Settings, ann
from docqa.indexing import sync_index
from docqa.store import MANIFEST, read_index, version_dir


def _clustered(n: int, dims: int = 32, seed: int = 0) -> np.ndarray:
    """Normalised vectors in 50 clusters inside a narrow cone, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dims)) + 2.0
    v = centres[rng.integers(50, size=n)] + 0.5 * rng.standard_normal((n, dims))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_kind_switches_above_the_documented_size() -> None:
    assert ann.index_kind(0) == ann.index_kind(ann.APPROXIMATE_ABOVE) == "IndexFlatIP"
    assert ann.index_kind(ann.APPROXIMATE_ABOVE + 1) == ann.DEFAULT_KIND
    with pytest.raises(ValueError, match="count must be >= 0"):
        ann.index_kind(-1)
    with pytest.raises(ValueError, match="unknown index kind"):
        ann.build_index(_clustered(10), "IndexLSH")


@pytest.mark.parametrize("kind", ["IndexIVFFlat", "IndexHNSWFlat"])
def test_approximate_indexes_keep_vectors_and_recall(kind: str, tmp_path: Path) -> None:
    import faiss

    vectors, queries = _clustered(5000), _clustered(100, seed=1)
    index = ann.build_index(vectors, kind)
    path = tmp_path / "index.faiss"
    faiss.write_index(index, str(path))
    back = faiss.read_index(str(path))
    assert type(back).__name__ == kind and back.ntotal == 5000
    np.testing.assert_array_equal(back.reconstruct_n(0, 5000), vectors)  # exact, for incremental re-indexing
    _, truth = ann.build_flat(vectors).search(queries, 5)
    _, found = back.search(queries, 5)  # query-time settings (nprobe, efSearch) came back with the file
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, truth)])
    assert recall >= 0.95


def test_store_builds_reads_and_reuses_an_approximate_index(seed_dir: Path, tmp_path: Path, fake_embedder,
                                                            monkeypatch) -> None:
    monkeypatch.setattr(ann, "APPROXIMATE_ABOVE", 2)
    index = tmp_path / "index"
    stored, _, _ = sync_index(seed_dir, index, Settings(), fake_embedder)
    assert json.loads((version_dir(index) / MANIFEST).read_text())["faiss"] == ann.DEFAULT_KIND == "IndexHNSWFlat"
    assert type(stored.faiss_index).__name__ == ann.DEFAULT_KIND
    before = stored.passage_vectors()
    (seed_dir / "extra.md").write_text("# Extra\n\nA second document about gardening tomatoes.\n", encoding="utf-8")
    fake_embedder.calls.clear()
    stored, _, report = sync_index(seed_dir, index, Settings(), fake_embedder)
    assert report.embedded == ("extra.md",) and fake_embedder.calls == [2]
    after = read_index(index).passage_vectors()
    assert any(np.array_equal(after[i : i + len(before)], before) for i in range(len(after) - len(before) + 1))
    _, ids = stored.faiss_index.search(before[:1], 1)
    assert ids[0, 0] >= 0


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_params_restrict_results_to_the_chosen_ids(kind):
    """A document filter is applied inside FAISS, for every index kind the store can build."""
    import faiss

    from docqa.ann import search_params

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    quantizer = faiss.IndexFlatIP(32)  # referenced here: the IVF index does not own it
    if kind == "flat":
        index = faiss.IndexFlatIP(32)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(32, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 256
    else:
        index = faiss.IndexIVFFlat(quantizer, 32, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = 8
    index.add(vectors)
    allowed = np.zeros(2000, dtype=bool)
    allowed[500:540] = True
    scores, ids = index.search(vectors[:3], 10, params=search_params(index, allowed))
    found = ids[ids >= 0]  # an approximate index may pad with -1, which retrieval drops
    assert found.size >= 20 and ((found >= 500) & (found < 540)).all()
    exact = np.argsort(-(vectors[:3] @ vectors[500:540].T), axis=1)[:, :1] + 500
    assert (ids[:, :1] == exact).mean() >= 2 / 3
