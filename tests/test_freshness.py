"""A long-running Assistant and other processes: changes made elsewhere are picked up, a cited passage always
matches the file as it is now, concurrent adds lose nothing, and a failed add leaves the sources folder as it was.
Other processes are real child processes; the hashed embedder stands in for the model except where the real CLI
runs."""
from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from docqa import Assistant, Settings
from docqa.errors import DocQAError, SourceError, StoreError
from docqa.hash_embedder import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]
GARDEN = ("# Garden notes\n\nTomatoes need six hours of sun. Shade-tolerant varieties such as Cherokee Purple "
          "still fruit in partial shade.\n\nCompost is turned every two weeks so that it heats evenly.\n")
QUESTION = "Which tomatoes still fruit in partial shade?"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def _child(code: str, *args: str, timeout: float = 120) -> str:
    """Run `code` in another Python process; return its stdout (it must succeed)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=_env(), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _assert_cites_current_text(assistant: Assistant, answer) -> None:
    for p in [*answer.passages, *answer.closest]:
        text = (assistant.sources / p.source).read_text(encoding="utf-8")
        assert text[p.start : p.end] == p.text, f"{p.source}[{p.start}:{p.end}] no longer holds the cited text"


@pytest.fixture
def library(seed_dir: Path, tmp_path: Path) -> Assistant:
    """An Assistant (hashed embedder) over the seed and the garden note, loaded."""
    (seed_dir / "garden.md").write_text(GARDEN, encoding="utf-8")
    assistant = Assistant(seed_dir, tmp_path / "index", embedder=HashEmbedder())
    assistant.load()
    return assistant


ADD_CHILD = """
    import sys
    from docqa import Assistant
    from docqa.hash_embedder import HashEmbedder
    Assistant(sys.argv[1], sys.argv[2], embedder=HashEmbedder()).add([sys.argv[3]])
"""


def test_document_added_by_another_process_is_found(library: Assistant, tmp_path: Path):
    assert not any(p.source == "rivers.md" for p in library.ask("How long is the Rhine river?").passages)
    new = tmp_path / "rivers.md"
    new.write_text("# Rivers\n\nThe Rhine river is about 1,230 kilometres long.\n", encoding="utf-8")
    _child(ADD_CHILD, str(library.sources), str(library.index_dir), str(new))
    answer = library.ask("How long is the Rhine river?")
    assert answer.found and answer.passages[0].source == "rivers.md"
    assert "rivers.md" in {d.name for d in library.list_documents()}


def test_edit_by_another_process_never_gives_stale_offsets(library: Assistant):
    before = library.ask(QUESTION)
    assert before.found and before.passages[0].source == "garden.md"
    edit = """
        import sys
        from pathlib import Path
        path = Path(sys.argv[1])
        path.write_text("# Garden notes\\n\\nA new first paragraph pushes every offset along by a good many "
                        "characters.\\n\\n" + path.read_text(encoding="utf-8").split("\\n\\n", 1)[1], encoding="utf-8")
    """
    _child(edit, str(library.sources / "garden.md"))
    after = library.ask(QUESTION)
    _assert_cites_current_text(library, after)
    assert after.found and after.passages[0].start > before.passages[0].start
    assert library.last_sync is not None and "changed source garden.md" in library.last_sync.reasons


def test_file_deleted_by_another_process_is_never_cited(library: Assistant):
    assert library.ask(QUESTION).passages[0].source == "garden.md"
    _child("import os, sys; os.remove(sys.argv[1])", str(library.sources / "garden.md"))
    answer = library.ask(QUESTION)
    assert all(p.source != "garden.md" for p in [*answer.passages, *answer.closest])
    with pytest.raises(SourceError):
        library.document("garden.md")


def test_document_viewer_refuses_a_changed_file(library: Assistant):
    library.document("garden.md")
    (library.sources / "garden.md").write_text(GARDEN.replace("six", "seven"), encoding="utf-8")
    with pytest.raises(SourceError, match="changed on disk"):
        library.document("garden.md")


SLOW_ADD_CHILD = """
    import sys, time
    from pathlib import Path
    import docqa.indexing as indexing
    from docqa import Assistant
    from docqa.hash_embedder import HashEmbedder
    sources, index, new, go = sys.argv[1:5]
    real_scan = indexing.scan_sources

    def scan_then_wait(folder, known=None):  # a scan that sees this process's new file, then a pause before the lock
        found = real_scan(folder, known)
        if Path(new).name in found:
            while not Path(go).exists():
                time.sleep(0.05)
        return found

    indexing.scan_sources = scan_then_wait
    Assistant(sources, index, embedder=HashEmbedder()).add([new])
"""


def test_two_adds_at_once_lose_nothing(library: Assistant, tmp_path: Path):
    """Process A copies its file and scans, then pauses before taking the build lock; meanwhile process B adds
    another file and builds. A must not then write an index without B's document."""
    a, b, go = tmp_path / "alpha.md", tmp_path / "beta.md", tmp_path / "go"
    a.write_text("# Alpha\n\nAlpha notes mention albatrosses.\n", encoding="utf-8")
    b.write_text("# Beta\n\nBeta notes mention beavers.\n", encoding="utf-8")
    slow = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SLOW_ADD_CHILD), str(library.sources),
                             str(library.index_dir), str(a), str(go)], env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (library.sources / "alpha.md").exists():  # A has copied its file and is scanning
            assert time.monotonic() < deadline and slow.poll() is None, slow.stderr.read() if slow.stderr else ""
            time.sleep(0.05)
        time.sleep(0.3)
        _child(ADD_CHILD, str(library.sources), str(library.index_dir), str(b))
        go.touch()
        assert slow.wait(60) == 0, slow.stderr.read() if slow.stderr else ""
    finally:
        slow.kill()
        slow.wait()
    fresh = Assistant(library.sources, library.index_dir, embedder=HashEmbedder())
    fresh.load()
    assert {"alpha.md", "beta.md"} <= {d.name for d in fresh.list_documents()}
    assert fresh.last_sync is not None and not fresh.last_sync.rebuilt  # nothing was left out of the index


def test_failed_index_write_takes_the_added_file_back_out(library: Assistant, tmp_path: Path, monkeypatch):
    import faiss

    new = tmp_path / "rivers.md"
    new.write_text("# Rivers\n\nThe Rhine river is about 1,230 kilometres long.\n", encoding="utf-8")
    before = sorted(p.name for p in library.sources.iterdir())

    def full(*args, **kwargs):
        raise RuntimeError("Error in faiss::FileIOWriter: write failed (No space left on device)")

    with monkeypatch.context() as m:
        m.setattr(faiss, "write_index", full)
        with pytest.raises(StoreError, match="No space left on device"):
            library.add([new])
    assert sorted(p.name for p in library.sources.iterdir()) == before
    counting = _Counting()
    again = Assistant(library.sources, library.index_dir, embedder=counting)
    again.load()
    assert not again.last_sync.rebuilt and counting.passages == 0  # nothing left over to embed


def test_replacing_add_that_fails_restores_the_old_file(library: Assistant, tmp_path: Path, monkeypatch):
    import faiss

    new = tmp_path / "garden.md"
    new.write_text(GARDEN.replace("six", "eight"), encoding="utf-8")
    monkeypatch.setattr(faiss, "write_index", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(StoreError):
        library.add([new])
    assert (library.sources / "garden.md").read_text(encoding="utf-8") == GARDEN
    assert not [p for p in library.sources.iterdir() if p.name.startswith(".")]


def test_disk_full_in_the_sources_folder_is_one_clear_error(library: Assistant, tmp_path: Path, monkeypatch):
    new = tmp_path / "rivers.md"
    new.write_text("# Rivers\n\nThe Rhine river is about 1,230 kilometres long.\n" * 50, encoding="utf-8")
    before = sorted(p.name for p in library.sources.iterdir())

    def half_then_full(src, dst, *args, **kwargs):
        Path(dst).write_bytes(Path(src).read_bytes()[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(shutil, "copyfile", half_then_full)
    with pytest.raises(DocQAError) as caught:
        library.add([new])
    message = str(caught.value)
    assert "rivers.md" in message and "No space left on device" in message and "\n" not in message
    assert sorted(p.name for p in library.sources.iterdir()) == before  # no hidden .rivers.md.adding


def test_a_file_enters_the_sources_folder_only_after_it_is_cut_into_passages(library: Assistant, tmp_path: Path,
                                                                           monkeypatch):
    import docqa.assistant
    import docqa.indexing
    from docqa.chunking import chunk_document

    new = tmp_path / "rivers.md"
    new.write_text("# Rivers\n\nThe Rhine river is about 1,230 kilometres long.\n", encoding="utf-8")
    seen: list[bool] = []

    def watched(doc, *args, **kwargs):
        if doc.name == "rivers.md":
            seen.append((library.sources / "rivers.md").exists())
        return chunk_document(doc, *args, **kwargs)

    monkeypatch.setattr(docqa.indexing, "chunk_document", watched)
    monkeypatch.setattr(docqa.assistant, "chunk_document", watched, raising=False)
    library.add([new])
    assert seen and seen[0] is False, "the file was in the sources folder before it had been cut into passages"
    assert (library.sources / "rivers.md").exists()


def test_missing_manifest_is_reported_once(library: Assistant, caplog):
    from docqa.indexing import sync_index
    from docqa.store import MANIFEST, version_dir

    (version_dir(library.index_dir) / MANIFEST).unlink()
    with caplog.at_level(logging.WARNING, logger="docqa"):
        sync_index(library.sources, library.index_dir, Settings(), HashEmbedder())
    warnings = [r.getMessage() for r in caplog.records if MANIFEST in r.getMessage()]
    assert len(warnings) == 1, warnings


class _Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.passages = 0
        self.calls: list[int] = []

    def encode_chunks(self, chunks, progress: bool = False):
        self.passages += len(chunks)
        self.calls.append(len(chunks))
        return super().encode_chunks(chunks, progress)


def test_build_embeds_in_bounded_batches(seed_dir: Path, tmp_path: Path):
    """Memory follows the batch, not the corpus: no encode call holds much more than one batch."""
    from docqa.indexing import sync_index

    for i in range(6):
        (seed_dir / f"note-{i}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(
            f"Paragraph {j} of note {i} talks about topic {i * 100 + j}." for j in range(10)), encoding="utf-8")
    counting = _Counting()
    stored, _, _ = sync_index(seed_dir, tmp_path / "index", Settings(build_batch_passages=16), counting)
    largest_document = max(e.passages for e in stored.manifest.sources.values())
    assert counting.passages == stored.manifest.passage_count
    assert len(counting.calls) > 1 and max(counting.calls) < 16 + largest_document, counting.calls


def test_question_during_a_build_waits_for_one_batch_not_the_build(embedder, seed_text: str):
    """With the real model: a question asked while a build encodes 200 passages is answered before the build
    ends (the build lets waiting questions take the model between its batches)."""
    from docqa.chunking import chunk_document
    from docqa.sources import split_paragraphs
    from docqa.types import Document

    doc = Document("seed.txt", "Seed", seed_text, "0" * 64, split_paragraphs(seed_text))
    chunks = chunk_document(doc, 700, "en")
    chunks = (chunks * (200 // len(chunks) + 1))[:200]
    started, done = threading.Event(), {}

    def build() -> None:
        started.set()
        embedder.encode_chunks(chunks)
        done["build"] = time.monotonic()

    thread = threading.Thread(target=build)
    thread.start()
    started.wait()
    time.sleep(0.5)  # the build is under way
    embedder.encode_query("What did Hegseth say about Article 5?")
    done["question"] = time.monotonic()
    thread.join()
    assert done["question"] < done["build"], "the question waited for the whole build"


@pytest.mark.slow
def test_real_cli_add_is_seen_by_a_loaded_assistant(seed_dir: Path, tmp_path: Path, embedder):
    """The real model in both processes: `docqa add` in a child, then the loaded Assistant's next question."""
    assistant = Assistant(seed_dir, tmp_path / "index", embedder=embedder)
    assistant.load()
    new = tmp_path / "rivers.md"
    new.write_text("# Rivers\n\nThe Rhine river is about 1,230 kilometres long and flows into the North Sea.\n",
                   encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "docqa.cli", "add", "--sources", str(seed_dir), "--index",
                           str(tmp_path / "index"), str(new)], capture_output=True, text=True, env=_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = time.perf_counter()
    answer = assistant.ask("How long is the Rhine?")
    refresh = time.perf_counter() - start
    assert answer.found and answer.passages[0].source == "rivers.md"
    _assert_cites_current_text(assistant, answer)
    print(f"\nrefresh: the first question after another process's `docqa add` took {refresh * 1e3:.0f} ms "
          "(reload included)")
