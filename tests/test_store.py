"""The index folder: round trip, manifest, verification, staleness and incremental rebuilds (real FAISS files)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from docqa import Settings
from docqa.errors import IndexMismatchError, StoreError
from docqa.indexing import sync_index
from docqa.manifest import FORMAT_VERSION
from docqa.store import CURRENT, FAISS_FILE, MANIFEST, PASSAGES_FILE, SENTENCES_FILE, read_index, version_dir


def _text(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def _sync(sources: Path, index: Path, embedder, **kw):
    return sync_index(sources, index, Settings(), embedder, **kw)


def test_build_writes_native_files_and_manifest(seed_dir: Path, tmp_path: Path, fake_embedder):
    index = tmp_path / "index"
    stored, docs, report = _sync(seed_dir, index, fake_embedder)
    assert report.rebuilt and report.embedded == tuple(docs)
    live = version_dir(index)
    assert sorted(p.name for p in index.iterdir()) == [CURRENT, live.name]
    assert sorted(p.name for p in live.iterdir()) == sorted([FAISS_FILE, PASSAGES_FILE, SENTENCES_FILE, MANIFEST,
                                                             "bm25"])
    manifest = json.loads((live / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["generation"] == 1
    assert manifest["model"]["dims"] == fake_embedder.dims
    assert manifest["chunking"]["max_passage_chars"] == 700
    assert manifest["passage_count"] == len(stored.chunks) == stored.faiss_index.ntotal
    (name, entry), = manifest["sources"].items()
    assert entry["sha256"] == docs[name].sha256
    assert {FAISS_FILE, PASSAGES_FILE, SENTENCES_FILE, "bm25/terms.json"} <= set(manifest["files"])
    assert not list(index.glob(".*")), "no temporary folders left behind"
    for line in (live / PASSAGES_FILE).read_text().splitlines():
        row = json.loads(line)
        assert _text(seed_dir, row["source"])[row["start"] : row["end"]] == row["text"]


def test_fresh_index_is_loaded_not_rebuilt(seed_dir: Path, tmp_path: Path, fake_embedder):
    _sync(seed_dir, tmp_path / "index", fake_embedder)
    before = (version_dir(tmp_path / "index") / MANIFEST).read_bytes()
    fake_embedder.calls.clear()
    _, _, report = _sync(seed_dir, tmp_path / "index", fake_embedder)
    assert not report.rebuilt and fake_embedder.calls == []
    assert (version_dir(tmp_path / "index") / MANIFEST).read_bytes() == before


def test_only_new_and_changed_sources_are_embedded(seed_dir: Path, tmp_path: Path, fake_embedder):
    index = tmp_path / "index"
    _sync(seed_dir, index, fake_embedder)
    seed_vectors = read_index(index).passage_vectors()
    (seed_dir / "extra.md").write_text("# Extra\n\nA second document about gardening tomatoes.\n", encoding="utf-8")
    fake_embedder.calls.clear()
    stored, _, report = _sync(seed_dir, index, fake_embedder)
    assert report.embedded == ("extra.md",) and len(report.reused) == 1
    assert fake_embedder.calls == [2]  # the two passages of extra.md, nothing else
    kept = [i for i, c in enumerate(stored.chunks) if c.source != "extra.md"]
    np.testing.assert_array_equal(stored.passage_vectors()[kept], seed_vectors)

    (seed_dir / "extra.md").unlink()
    _, _, report = _sync(seed_dir, index, fake_embedder)
    assert report.removed == ("extra.md",)
    assert all(c.source != "extra.md" for c in read_index(index).chunks)


def test_edited_source_is_reindexed_with_new_text(seed_dir: Path, tmp_path: Path, fake_embedder):
    index = tmp_path / "index"
    _sync(seed_dir, index, fake_embedder)
    path = next(seed_dir.glob("*.txt"))
    path.write_text(path.read_text(encoding="utf-8") + "\nA brand new closing paragraph about submarines.\n",
                    encoding="utf-8")
    stored, docs, report = _sync(seed_dir, index, fake_embedder)
    assert report.rebuilt and any("changed source" in r for r in report.reasons)
    assert any("submarines" in c.text for c in stored.chunks)
    assert all(_text(seed_dir, c.source)[c.start : c.end] == c.text for c in stored.chunks)


def test_changed_chunking_settings_trigger_full_rebuild(seed_dir: Path, tmp_path: Path, fake_embedder):
    _sync(seed_dir, tmp_path / "index", fake_embedder)
    fake_embedder.calls.clear()
    _, _, report = sync_index(seed_dir, tmp_path / "index", Settings(max_passage_chars=300), fake_embedder)
    assert report.rebuilt and "chunking settings changed" in report.reasons
    assert read_index(tmp_path / "index").manifest.chunking.max_passage_chars == 300


@pytest.mark.parametrize("damage", ["garbage_faiss", "truncated_faiss", "empty_faiss", "bad_manifest",
                                    "missing_manifest", "truncated_jsonl"])
def test_damaged_index_is_detected_and_rebuilt(seed_dir: Path, tmp_path: Path, fake_embedder, damage: str):
    index = tmp_path / "index"
    good, _, _ = _sync(seed_dir, index, fake_embedder)
    live = version_dir(index)
    faiss_path, manifest, jsonl = live / FAISS_FILE, live / MANIFEST, live / PASSAGES_FILE
    if damage == "garbage_faiss":
        faiss_path.write_bytes(b"\x13\x37" * 500)
    elif damage == "truncated_faiss":
        faiss_path.write_bytes(faiss_path.read_bytes()[:100])
    elif damage == "empty_faiss":
        faiss_path.write_bytes(b"")
    elif damage == "bad_manifest":
        manifest.write_text("{not json")
    elif damage == "missing_manifest":
        manifest.unlink()
    elif damage == "truncated_jsonl":
        jsonl.write_text(jsonl.read_text()[:50])
    with pytest.raises(StoreError) as info:
        read_index(index)
    named = {"garbage_faiss": FAISS_FILE, "truncated_faiss": FAISS_FILE, "empty_faiss": FAISS_FILE,
             "bad_manifest": MANIFEST, "missing_manifest": MANIFEST, "truncated_jsonl": PASSAGES_FILE}[damage]
    assert named in str(info.value) and "docqa index" in str(info.value)
    stored, _, report = _sync(seed_dir, index, fake_embedder)
    assert report.rebuilt
    assert [c.text for c in stored.chunks] == [c.text for c in good.chunks]


def test_manifest_from_another_format_version_is_a_mismatch(seed_dir: Path, tmp_path: Path, fake_embedder):
    _sync(seed_dir, tmp_path / "index", fake_embedder)
    path = version_dir(tmp_path / "index") / MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IndexMismatchError, match="format version 99"):
        read_index(tmp_path / "index")


def test_dimension_mismatch_is_reported(seed_dir: Path, tmp_path: Path, fake_embedder):
    _sync(seed_dir, tmp_path / "index", fake_embedder)
    with pytest.raises(IndexMismatchError, match="384"):
        read_index(tmp_path / "index", dims=384)


def test_faiss_file_of_another_index_type_is_a_mismatch(seed_dir: Path, tmp_path: Path, fake_embedder):
    """A FAISS file of another type than the manifest records is refused, even with matching checksums."""
    import faiss

    from docqa.store import sha256_file

    stored, _, _ = _sync(seed_dir, tmp_path / "index", fake_embedder)
    vectors = stored.passage_vectors()
    other = faiss.IndexHNSWFlat(vectors.shape[1], 8, faiss.METRIC_INNER_PRODUCT)
    other.add(vectors)
    path = version_dir(tmp_path / "index") / FAISS_FILE
    faiss.write_index(other, str(path))
    manifest_path = version_dir(tmp_path / "index") / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][FAISS_FILE] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="IndexHNSWFlat, the manifest says IndexFlatIP"):
        read_index(tmp_path / "index")


def test_a_source_whose_size_and_mtime_match_is_not_read_again(tmp_path: Path, monkeypatch):
    """Loading an index stats every source and hashes only those whose (size, mtime) changed since they were
    indexed; a same-size edit with a new mtime is still found."""
    import os
    import time

    from docqa import Assistant, sources
    from docqa.hash_embedder import HashEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    old = time.time() - 60  # older than the racy window, so the mtime is recorded
    for name, text in {"a.md": "# A\n\nApples keep for months.\n", "b.md": "# B\n\nBeets keep for weeks.\n"}.items():
        (folder / name).write_text(text, encoding="utf-8")
        os.utime(folder / name, (old, old))
    Assistant(folder, tmp_path / "index", embedder=HashEmbedder()).load()
    hashed: list[str] = []
    real = sources.file_sha256
    monkeypatch.setattr(sources, "file_sha256", lambda path: hashed.append(path.name) or real(path))

    assert not Assistant(folder, tmp_path / "index", embedder=HashEmbedder()).load().rebuilt
    assert hashed == []
    (folder / "b.md").write_text("# B\n\nBeans keep for weeks.\n", encoding="utf-8")  # same size, new mtime
    os.utime(folder / "b.md", (old + 30, old + 30))
    report = Assistant(folder, tmp_path / "index", embedder=HashEmbedder()).load()
    assert set(hashed) == {"b.md"} and report.rebuilt and report.embedded == ("b.md",)  # (again under the lock)
