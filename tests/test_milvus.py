"""The Milvus store against a real Milvus Lite file (no mocks). Skipped, with the reason, without the extra:
`pip install -e '.[milvus]'`, then `pytest -m milvus`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from docqa.chunking import chunk_document
from docqa.errors import IndexMismatchError, StoreError
from docqa.milvus_schema import MilvusTarget, parse_store
from docqa.sources import load_document

pytest.importorskip("pymilvus", reason="the Milvus store needs the extra: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the Milvus store tests need Milvus Lite: pip install -e '.[milvus]'")

from docqa.milvus_store import MilvusStore  # noqa: E402

from conftest import SEED_FILE, FakeEmbedder  # noqa: E402

pytestmark = pytest.mark.milvus


def _doc_chunks(path: Path, embedder: FakeEmbedder):
    chunks = chunk_document(load_document(path, path.parent))
    vectors, sentences = embedder.encode_chunks(chunks)
    return chunks, vectors, sentences


def _write(store: MilvusStore, docs, manifest=None) -> MilvusStore:
    writer = store.writer(64)
    for chunks, vectors, sentences in docs:
        writer.add(chunks, vectors, sentences)
    writer.commit(manifest or {"note": "test"})
    return writer


@pytest.fixture
def store(tmp_path: Path):
    s = MilvusStore(MilvusTarget(str(tmp_path / "docqa.db")))
    yield s
    s.close()


@pytest.fixture
def two_docs(tmp_path: Path):
    embedder = FakeEmbedder()
    other = tmp_path / "notes.txt"
    other.write_text("Pantry notes\n\nThe apple store is kept at four degrees. Pears ripen in a week.\n\n"
                     "The bakery is closed on Mondays.\n", encoding="utf-8")
    return _doc_chunks(SEED_FILE, embedder), _doc_chunks(other, embedder)


def test_parse_store() -> None:
    assert parse_store(None) is None and parse_store("folder") is None
    assert parse_store("milvus:./x.db") == MilvusTarget("x.db")
    assert parse_store("http://db:19530#team").name == "team"
    assert not parse_store("http://db:19530").lite
    for bad in ("milvus:", "ftp://x", "./index", "milvus:x.db#9bad"):
        with pytest.raises(ValueError, match="store"):
            parse_store(bad)


def test_round_trip_is_exact(store: MilvusStore, two_docs) -> None:
    _write(store, two_docs, {"model": "fake"})
    snap = store.snapshot(64)
    chunks = [c for d in two_docs for c in d[0]]
    assert snap.chunks == chunks  # offsets, paragraph, page, sentence spans and text, in order
    assert np.array_equal(snap.passage_vectors, np.vstack([d[1] for d in two_docs]))
    assert np.array_equal(snap.sentence_vectors, np.vstack([d[2] for d in two_docs]))
    assert snap.manifest == {"model": "fake"}
    text = SEED_FILE.read_text(encoding="utf-8")
    assert all(text[c.start : c.end] == c.text for c in snap.chunks if c.source == SEED_FILE.name)


def test_unchanged_documents_are_not_written_again(store: MilvusStore, two_docs, tmp_path: Path) -> None:
    first = _write(store, two_docs)
    assert len(first.written) == 2
    again = _write(store, two_docs)
    assert again.written == []
    other = tmp_path / "notes.txt"
    other.write_text(other.read_text(encoding="utf-8") + "\nThe cellar is damp.\n", encoding="utf-8")
    changed = _doc_chunks(other, FakeEmbedder())
    third = _write(store, [two_docs[0], changed])
    assert third.written == ["notes.txt"]
    snap = store.snapshot()
    assert [c.text for c in snap.chunks if c.source == "notes.txt"] == [c.text for c in changed[0]]
    # the old version of notes.txt is gone from the collection once no kept generation lists it
    _write(store, [two_docs[0], changed])
    rows = store.client.query(store.target.collection("p", 64), filter='source == "notes.txt"',
                              output_fields=["doc_key"])
    assert {r["doc_key"] for r in rows} == {third.docs[1][1]}


def test_a_build_that_dies_leaves_the_previous_documents(store: MilvusStore, two_docs) -> None:
    _write(store, two_docs[:1])
    before = store.snapshot()
    writer = store.writer(64)
    writer.add(*two_docs[1])
    writer._flush()  # the rows are written, the generation never committed (the process died here)
    after = store.snapshot()
    assert after.version == before.version and after.chunks == before.chunks
    store.recover()
    rows = store.client.query(store.target.collection("p", 64), filter='source == "notes.txt"',
                              output_fields=["pk"])
    assert rows == []  # recover collected what the dead build wrote


def test_half_written_document_is_one_clear_error(store: MilvusStore, two_docs) -> None:
    _write(store, two_docs)
    store.client.delete(store.target.collection("p", 64), filter='source == "notes.txt"')
    with pytest.raises(StoreError, match=r"milvus:.*docqa\.db: document 'notes\.txt' is half-written.*docqa index"):
        store.snapshot()


def test_missing_collection_and_wrong_dims(store: MilvusStore, two_docs) -> None:
    _write(store, two_docs)
    with pytest.raises(IndexMismatchError, match="built with 64-d vectors, the model gives 384"):
        store.snapshot(384)
    store.client.drop_collection(store.target.collection("s", 64))
    with pytest.raises(StoreError, match=r"collection docqa_s64 is missing; run `docqa index --store milvus:"):
        store.snapshot()


def test_empty_store_says_how_to_build(store: MilvusStore) -> None:
    assert store.current_version() is None
    with pytest.raises(StoreError, match=r"no index in collection 'docqa' \(run `docqa index --store milvus:"):
        store.snapshot()


def test_server_down_is_one_line() -> None:
    store = MilvusStore(MilvusTarget("http://127.0.0.1:9"))
    with pytest.raises(StoreError) as info:
        store.current_version()
    message = str(info.value)
    assert message.startswith("http://127.0.0.1:9: cannot connect") and "server is running" in message
    assert "\n" not in message


def test_lite_file_held_by_another_process(store: MilvusStore, two_docs, tmp_path: Path) -> None:
    _write(store, two_docs[:1])
    code = ("import sys; from docqa.milvus_store import MilvusStore; from docqa.milvus_schema import MilvusTarget\n"
            f"MilvusStore(MilvusTarget({str(tmp_path / 'docqa.db')!r})).current_version()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "another process has the file open" in last and "http://host:19530" in last
