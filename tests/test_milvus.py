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


def _manifest():
    from docqa import Settings
    from docqa.indexing import chunking_info, model_info
    from docqa.manifest import FORMAT_VERSION, Manifest

    return Manifest(FORMAT_VERSION, "", 0, model_info(Settings(), 64), chunking_info(Settings()), "IndexFlatIP",
                    0, 0, {})


def _write(store: MilvusStore, docs):
    writer = store.writer(64)
    for chunks, vectors, sentences in docs:
        writer.add(chunks, vectors, sentences)
    writer.commit(_manifest())
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


@pytest.mark.parametrize("read_limit", [16_384, 7])  # 7: every read is split, as a server's row cap would
def test_round_trip_is_exact(store: MilvusStore, two_docs, read_limit: int, monkeypatch) -> None:
    import docqa.milvus_store

    monkeypatch.setattr(docqa.milvus_store, "READ_LIMIT", read_limit)
    _write(store, two_docs)
    snap = store.snapshot(64)
    chunks = [c for d in two_docs for c in d[0]]
    assert snap.chunks == chunks  # offsets, paragraph, page, sentence spans and text, in order
    assert np.array_equal(snap.passage_vectors, np.vstack([d[1] for d in two_docs]))
    assert np.array_equal(snap.sentence_vectors, np.vstack([d[2] for d in two_docs]))
    manifest = store.read().manifest  # the typed manifest, counts filled in at commit
    assert (manifest.model.dims, manifest.passage_count, manifest.generation) == (64, len(chunks), 1)
    text = SEED_FILE.read_text(encoding="utf-8")
    assert all(text[c.start : c.end] == c.text for c in snap.chunks if c.source == SEED_FILE.name)


def test_a_replica_holds_no_vectors_and_searches_as_faiss_does(store: MilvusStore, two_docs) -> None:
    """`read` leaves the vectors in Milvus; dense search, reconstruct, sentence rows, the null cosine's best
    sentences and a search limited to one document (or to any set of passages) answer as the in-memory FAISS
    index does."""
    from docqa.ann import search_params
    from docqa.milvus_vectors import MilvusDenseIndex, MilvusSentenceVectors

    _write(store, two_docs)
    served, memory = store.read(64), store.read_in_memory(64)
    assert isinstance(served.faiss_index, MilvusDenseIndex)
    assert isinstance(served.sentence_vectors, MilvusSentenceVectors)
    with pytest.raises(TypeError, match="not held in memory"):
        np.asarray(served.sentence_vectors)
    n = memory.faiss_index.ntotal
    assert served.faiss_index.ntotal == n and len(served.sentence_vectors) == len(memory.sentence_vectors)
    queries = np.vstack([memory.faiss_index.reconstruct(i) for i in (0, n // 2, n - 1)]) + 0.01
    for k in (1, 5, n + 3):
        got, want = served.faiss_index.search(queries, k), memory.faiss_index.search(queries, k)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    allowed = np.array([c.source == "notes.txt" for c in memory.chunks])
    got = served.faiss_index.search(queries, 10, params=search_params(served.faiss_index, allowed))
    want = memory.faiss_index.search(queries, 10, params=search_params(memory.faiss_index, allowed))
    np.testing.assert_array_equal(got[1], want[1])
    assert set(got[1][got[1] >= 0]) == set(np.flatnonzero(allowed))
    alternate = np.arange(n) % 2 == 1  # any mask, not only whole documents: every other passage
    got = served.faiss_index.search(queries, n, params=search_params(served.faiss_index, alternate))
    want = memory.faiss_index.search(queries, n, params=search_params(memory.faiss_index, alternate))
    np.testing.assert_array_equal(got[1], want[1])
    for i in range(n):
        np.testing.assert_array_equal(served.faiss_index.reconstruct(i), memory.faiss_index.reconstruct(i))
        np.testing.assert_array_equal(served.chunk_sentence_vectors(i), memory.chunk_sentence_vectors(i))
    np.testing.assert_array_equal(served.passage_vectors(1, n - 2), memory.passage_vectors(1, n - 2))
    rows = served.sentence_rows
    np.testing.assert_array_equal(served.sentence_vectors[int(rows[1]) + 1 : int(rows[-2]) - 1],
                                  memory.sentence_vectors[int(rows[1]) + 1 : int(rows[-2]) - 1])
    bank = queries[:, ::-1].copy()
    np.testing.assert_allclose(served.best_sentence_cosines(bank), memory.best_sentence_cosines(bank), rtol=1e-5)
    np.testing.assert_allclose(memory.best_sentence_cosines(bank), (bank @ memory.sentence_vectors.T).max(axis=1),
                               rtol=1e-5)


def test_a_replica_ignores_rows_of_other_generations(store: MilvusStore, two_docs) -> None:
    """Rows a newer build has written (not yet committed), or an older generation keeps, never come back."""
    first, second = two_docs
    _write(store, [first])
    served = store.read(64)
    n = served.faiss_index.ntotal
    writer = store.writer(64)
    writer.add(*second)
    writer._flush()  # the second document's rows are in the collection; no generation lists them yet
    queries = np.vstack(second[1])  # its own vectors: its rows are the best matches there are
    _, ids = served.faiss_index.search(queries, 3)
    assert ((ids >= 0) & (ids < n)).all()
    best = served.best_sentence_cosines(queries)
    np.testing.assert_allclose(best, (queries @ np.asarray(first[2]).T).max(axis=1), rtol=1e-5)


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


# ---------------------------------------------------------------- through Assistant and the CLI


def _questions() -> list[str]:
    from docqa.evaluation import load_gold

    gold = load_gold()
    return [q["question"] for q in gold.answerable] + list(gold.off_topic)


def _without_scores(answer: dict) -> dict:
    return {**answer, **{k: [{**p, "score": None} for p in answer[k]] for k in ("passages", "closest")}}


def _scores(answer: dict) -> list[float]:
    """The passages' scores (rounded to 6 places): Milvus and FAISS sum float32 products in another order, so
    the last place may differ (0.141508 vs 0.141509 seen on one machine)."""
    return [p["score"] for k in ("passages", "closest") for p in answer[k]]


def test_same_answers_as_the_folder(seed_assistant, embedder, tmp_path: Path) -> None:
    """The real model: every answer (found, passages, offsets, highlight) equals the folder's, scores to 2e-6."""
    from docqa import Assistant

    milvus = Assistant(sources=seed_assistant.sources, embedder=embedder, store=f"milvus:{tmp_path / 'docqa.db'}")
    assert milvus.load().rebuilt
    text = SEED_FILE.read_text(encoding="utf-8")
    for question in _questions():
        answer = milvus.ask(question)
        assert _without_scores(answer.to_dict()) == _without_scores(seed_assistant.ask(question).to_dict()), question
        assert _scores(answer.to_dict()) == pytest.approx(_scores(seed_assistant.ask(question).to_dict()), abs=2e-6)
        assert all(text[p.start : p.end] == p.text for p in answer.passages + answer.closest)
    milvus.store.close()


def test_add_and_remove_in_place_and_seen_by_a_second_assistant(seed_dir: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from docqa import Assistant, Settings

    spec = f"milvus:{tmp_path / 'docqa.db'}"
    settings = replace(Settings(), store_refresh_seconds=0.0)
    embedder = FakeEmbedder()
    writer = Assistant(sources=seed_dir, embedder=embedder, store=spec, settings=settings)
    writer.load()
    reader = Assistant(sources=seed_dir, embedder=FakeEmbedder(), store=spec, settings=settings)
    reader.load()
    assert not reader.last_sync.rebuilt
    note = tmp_path / "pantry.txt"
    note.write_text("Pantry\n\nThe apple store is kept at four degrees Celsius.\n", encoding="utf-8")
    embedder.calls.clear()
    report = writer.add([note])
    assert report.embedded == ("pantry.txt",) and report.reused == (SEED_FILE.name,)
    assert embedder.calls[0] == len(chunk_document(load_document(note, tmp_path)))  # only the new document
    answer = reader.ask("How cold is the apple store?")
    assert answer.found and answer.passages[0].source == "pantry.txt"
    writer.remove("pantry.txt")
    assert "pantry.txt" not in {p.source for p in reader.ask("How cold is the apple store?").passages}
    assert [d.name for d in reader.list_documents()] == [SEED_FILE.name]
    writer.store.close()
    reader.store.close()


def test_a_reader_refuses_a_generation_of_another_model(seed_dir: Path, tmp_path: Path, caplog) -> None:
    from dataclasses import replace

    from docqa import Assistant, Settings

    spec = f"milvus:{tmp_path / 'docqa.db'}"
    settings = replace(Settings(), store_refresh_seconds=0.0)
    reader = Assistant(sources=seed_dir, embedder=FakeEmbedder(), store=spec, settings=settings)
    reader.load()
    before = reader.ask("What did Hegseth say about Article 5?").to_dict()
    other = Assistant(sources=seed_dir, embedder=FakeEmbedder(), store=spec,
                      settings=replace(settings, model_name="another-model"))
    assert other.load().rebuilt  # the model changed: everything is embedded again, by the other model
    with caplog.at_level("WARNING", logger="docqa"):
        assert reader.ask("What did Hegseth say about Article 5?").to_dict() == before
    assert "was built with another-model" in caplog.text and "keeping the loaded index" in caplog.text
    reader.store.close()
    other.store.close()


def test_cli_index_and_ask_with_store(seed_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from docqa.cli import main

    monkeypatch.setenv("DOCQA_STORE", "")  # restored after the test: main() sets it from --store
    store = f"milvus:{tmp_path / 'docqa.db'}"
    assert main(["index", "--sources", str(seed_dir), "--store", store]) == 0
    assert f"into {store}" in capsys.readouterr().out
    assert main(["ask", "--sources", str(seed_dir), "--store", store, "--json", "What about Article 5?"]) == 0
    out = capsys.readouterr().out
    assert '"found": true' in out
    monkeypatch.setenv("DOCQA_STORE", "milvus:")
    assert main(["list", "--sources", str(seed_dir)]) == 2
    assert "give a file after 'milvus:'" in capsys.readouterr().err
    assert main(["ask", "--sources", str(seed_dir), "--store", "http://127.0.0.1:9", "Article 5?"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "http://127.0.0.1:9: cannot connect" in err and "Traceback" not in err
