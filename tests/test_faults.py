"""Index faults, disk full, killed builds and concurrent builds: detected, then rebuilt or a clear error naming
the file; never a crash or a wrong answer. Real FAISS files throughout; the fake embedder only for plumbing."""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from docqa import Settings
from docqa.embedding import QueryEncoding
from docqa.errors import IndexMismatchError, StoreError
from docqa.indexing import sync_index
from docqa.manifest import FORMAT_VERSION
from docqa.retrieval import Retriever
from docqa.store import (CURRENT, FAISS_FILE, MANIFEST, PASSAGES_FILE, SENTENCES_FILE, leftovers, read_index, recover,
                         version_dir)

TESTS = Path(__file__).resolve().parent
QUESTIONS = [
    "What percent of GDP should NATO members spend on defense?",
    "Is NATO membership for Ukraine a feasible outcome?",
    "Will U.S. troops be sent to Ukraine?",
    "How does Trump plan to pressure Russia?",
    "Which tomatoes grow best in shade?",
]
EXTRA_DOC = ("# Gardening\n\nTomatoes need six hours of sun. Shade-tolerant varieties such as Cherokee Purple "
             "still fruit in partial shade.\n\nWater them deeply twice a week.\n")


class QueryFake(FakeEmbedder):
    """The conftest fake, able to answer questions too (one token per word)."""

    def encode_query(self, text: str) -> QueryEncoding:
        import re

        words = [(m.start(), m.end()) for m in re.finditer(r"\w+", text)] or [(0, 0)]
        tokens = np.vstack([self._vector(text[s:e]) for s, e in words])
        return QueryEncoding(self.encode_queries([text])[0], tokens, tuple(words))


def _sync(sources: Path, index: Path, embedder=None, **kw):
    return sync_index(sources, index, Settings(), embedder or QueryFake(), **kw)


def answers(index: Path) -> list[tuple[bool, tuple[tuple[str, int, int], ...]]]:
    """What the index answers to QUESTIONS: found, and each passage's source and offsets."""
    retriever = Retriever(read_index(index), QueryFake(), Settings())
    out = []
    for q in QUESTIONS:
        result = retriever.search(q, 3)
        out.append((result.found, tuple((h.chunk.source, h.chunk.start, h.chunk.end) for h in result.hits)))
    return out


@pytest.fixture
def built(seed_dir: Path, tmp_path: Path):
    """A real index of the seed article, built with the fake embedder, and what it answers."""
    index = tmp_path / "index"
    _sync(seed_dir, index)
    return index, answers(index)


def _set_file_entry(index: Path, name: str) -> None:
    """Make the manifest agree with a file (as a bug or an attacker could), so only later checks remain."""
    from docqa.store import sha256_file

    live = version_dir(index)
    manifest = json.loads((live / MANIFEST).read_text())
    manifest["files"][name] = {"bytes": (live / name).stat().st_size, "sha256": sha256_file(live / name)}
    (live / MANIFEST).write_text(json.dumps(manifest))


def _edit_manifest(index: Path, change) -> None:
    manifest = json.loads((version_dir(index) / MANIFEST).read_text())
    change(manifest)
    (version_dir(index) / MANIFEST).write_text(json.dumps(manifest))


# ---------------------------------------------------------------- each fault: a clear error naming the file, then a rebuild


def _faiss_other_dims(index: Path) -> None:
    import faiss

    count = read_index(index).faiss_index.ntotal
    other = faiss.IndexFlatIP(32)
    other.add(np.eye(count, 32, dtype=np.float32))
    faiss.write_index(other, str(version_dir(index) / FAISS_FILE))


def _truncate(name: str, keep: float):
    def fault(index: Path) -> None:
        data = (version_dir(index) / name).read_bytes()
        (version_dir(index) / name).write_bytes(data[: int(len(data) * keep)])
    return fault


def _drop_field(field: str):
    return lambda index: _edit_manifest(index, lambda m: m.pop(field))


def _pickled_sentences(index: Path) -> None:
    np.save(version_dir(index) / SENTENCES_FILE, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    _set_file_entry(index, SENTENCES_FILE)


def _drop_passage_line(index: Path) -> None:
    lines = (version_dir(index) / PASSAGES_FILE).read_text().splitlines(keepends=True)
    (version_dir(index) / PASSAGES_FILE).write_text("".join(lines[:-1]))
    _set_file_entry(index, PASSAGES_FILE)


def _nan_vectors(index: Path) -> None:
    import faiss

    stored = read_index(index)
    bad = faiss.IndexFlatIP(stored.dims)
    bad.add(np.full((stored.faiss_index.ntotal, stored.dims), np.nan, np.float32))
    faiss.write_index(bad, str(version_dir(index) / FAISS_FILE))
    _set_file_entry(index, FAISS_FILE)


FAULTS = [
    # (id, fault, error type, words the message must contain)
    ("folder-missing", lambda index: shutil.rmtree(index), StoreError, ["index folder not found"]),
    ("faiss-empty", lambda index: (version_dir(index) / FAISS_FILE).write_bytes(b""), StoreError,
     [FAISS_FILE, "0 bytes"]),
    ("faiss-missing", lambda index: (version_dir(index) / FAISS_FILE).unlink(), StoreError, [FAISS_FILE, "missing"]),
    ("faiss-truncated", _truncate(FAISS_FILE, 0.5), StoreError, [FAISS_FILE, "truncated"]),
    ("faiss-random-bytes", lambda index: (version_dir(index) / FAISS_FILE).write_bytes(
        random.Random(1).randbytes((version_dir(index) / FAISS_FILE).stat().st_size)), StoreError,
     [FAISS_FILE, "checksum"]),
    ("faiss-random-bytes-manifest-agrees", lambda index: ((version_dir(index) / FAISS_FILE).write_bytes(
        random.Random(2).randbytes(4096)), _set_file_entry(index, FAISS_FILE)), StoreError,
     [FAISS_FILE, "FAISS cannot read it"]),
    ("faiss-other-dims", _faiss_other_dims, StoreError, [FAISS_FILE, "the manifest says"]),
    ("faiss-other-dims-manifest-agrees", lambda index: (_faiss_other_dims(index), _set_file_entry(index, FAISS_FILE)),
     IndexMismatchError, [FAISS_FILE, "of 32 dims", "of 64"]),
    ("faiss-nan-vectors-manifest-agrees", _nan_vectors, StoreError, [FAISS_FILE, "test search"]),
    ("manifest-invalid-json", lambda index: (version_dir(index) / MANIFEST).write_text('{"format_version": 1,'),
     StoreError, [MANIFEST, "unreadable"]),
    ("manifest-not-object", lambda index: (version_dir(index) / MANIFEST).write_text("[1, 2]"), StoreError,
     [MANIFEST, "not a JSON object"]),
    ("manifest-binary", lambda index: (version_dir(index) / MANIFEST).write_bytes(b"\xff\xfe\x00garbage"), StoreError,
     [MANIFEST, "unreadable"]),
    ("manifest-missing", lambda index: (version_dir(index) / MANIFEST).unlink(), StoreError, [MANIFEST, "incomplete"]),
    *[(f"manifest-no-{field}", _drop_field(field), StoreError, [MANIFEST, repr(field)])
      for field in ("format_version", "model", "files", "passage_count", "sources")],
    ("manifest-future-format", lambda index: _edit_manifest(index, lambda m: m.update(format_version=99)),
     IndexMismatchError, [MANIFEST, "format version 99"]),
    ("manifest-file-unlisted", lambda index: _edit_manifest(index, lambda m: m["files"].pop(SENTENCES_FILE)),
     StoreError, [SENTENCES_FILE, "not listed"]),
    ("passage-count-mismatch", lambda index: _edit_manifest(index, lambda m: m.update(
        passage_count=m["passage_count"] + 1)), StoreError, [PASSAGES_FILE, "the manifest says"]),
    ("passages-truncated", _truncate(PASSAGES_FILE, 0.6), StoreError, [PASSAGES_FILE, "truncated"]),
    ("passages-truncated-manifest-agrees", lambda index: (_truncate(PASSAGES_FILE, 0.6)(index),
     _set_file_entry(index, PASSAGES_FILE)), StoreError, [PASSAGES_FILE, "unreadable at line"]),
    ("passages-line-dropped-manifest-agrees", _drop_passage_line, StoreError, [PASSAGES_FILE, "the manifest says"]),
    ("sentences-truncated", _truncate(SENTENCES_FILE, 0.3), StoreError, [SENTENCES_FILE, "truncated"]),
    ("sentences-pickled-manifest-agrees", _pickled_sentences, StoreError, [SENTENCES_FILE, "unreadable"]),
]


@pytest.mark.parametrize("name, fault, error, words", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_named_then_rebuilt(built, seed_dir: Path, name, fault, error, words):
    index, before = built
    fault(index)
    with pytest.raises(error) as caught:
        read_index(index)
    message = str(caught.value)
    for w in words:
        assert w in message
    assert "\n" not in message
    _, _, report = _sync(seed_dir, index)
    assert report.rebuilt and message in report.reasons
    assert answers(index) == before
    assert not leftovers(index)


def test_index_of_another_dimension_is_rebuilt_for_this_model(built, seed_dir: Path):
    index, _ = built
    with pytest.raises(IndexMismatchError, match="built with 64-d vectors, the model gives 384"):
        read_index(index, dims=384)
    stored, _, report = _sync(seed_dir, index, QueryFake(dims=96))
    assert report.rebuilt and stored.dims == 96 and read_index(index, dims=96).faiss_index.d == 96


# ---------------------------------------------------------------- byte flips


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out))
        out[at] ^= rng.randrange(1, 256)
    return bytes(out)


@pytest.mark.parametrize("name, trials", [(FAISS_FILE, 500), (PASSAGES_FILE, 150), (SENTENCES_FILE, 150)])
def test_byte_flips_are_all_rejected(built, name, trials):
    index, _ = built
    original = (version_dir(index) / name).read_bytes()
    rng = random.Random(f"flips-{name}")
    rejected = 0
    for _ in range(trials):
        mutated = _flip(original, rng)
        if mutated == original:
            continue
        (version_dir(index) / name).write_bytes(mutated)
        with pytest.raises(StoreError, match=name):
            read_index(index)
        rejected += 1
    (version_dir(index) / name).write_bytes(original)
    read_index(index)
    print(f"\nbyte flips in {name}: {rejected}/{trials} rejected, 0 silent loads")
    assert rejected >= trials - 2  # a flip can only be skipped if it XORs a byte back (never, with 1..255)


def test_manifest_byte_flips_never_give_a_wrong_answer(built, seed_dir: Path):
    """A flipped manifest either fails to load, or loads the very same data (only metadata changed), and
    sync_index then serves the same answers (after a rebuild when the flip made the index look stale)."""
    index, before = built
    original = (version_dir(index) / MANIFEST).read_bytes()
    reference = read_index(index)
    vectors = reference.passage_vectors()
    rng = random.Random("flips-manifest")
    outcomes = {"rejected": 0, "same data": 0}
    for _ in range(200):
        (version_dir(index) / MANIFEST).write_bytes(_flip(original, rng))
        try:
            stored = read_index(index)
        except StoreError:
            outcomes["rejected"] += 1
            continue
        assert stored.chunks == reference.chunks
        np.testing.assert_array_equal(stored.passage_vectors(), vectors)
        np.testing.assert_array_equal(stored.sentence_vectors, reference.sentence_vectors)
        outcomes["same data"] += 1
    for _ in range(20):  # and through sync_index, which rebuilds what looks stale
        (version_dir(index) / MANIFEST).write_bytes(_flip(original, rng))
        _sync(seed_dir, index)
        assert answers(index) == before
        original = (version_dir(index) / MANIFEST).read_bytes()
    print(f"\nmanifest byte flips: {outcomes}")


HEADER_FLIPS = textwrap.dedent("""
    import json, random, sys
    from pathlib import Path
    import numpy as np
    from docqa.errors import StoreError
    from docqa.store import FAISS_FILE, MANIFEST, read_index, sha256_file, version_dir
    root = Path(sys.argv[1])
    index = version_dir(root)
    good = read_index(root)
    vectors = good.passage_vectors()
    original = (index / FAISS_FILE).read_bytes()
    manifest = json.loads((index / MANIFEST).read_text())
    header = len(original) - vectors.size * 4  # everything before the vectors, including their byte count
    rng = random.Random(7)
    counts = {"rejected": 0, "same data": 0, "wrong": 0}
    for trial in range(int(sys.argv[2])):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(header)
            data[at] = rng.randrange(256) if rng.random() < 0.5 else 0xFF
        (index / FAISS_FILE).write_bytes(bytes(data))
        manifest["files"][FAISS_FILE] = {"bytes": len(data), "sha256": sha256_file(index / FAISS_FILE)}
        (index / MANIFEST).write_text(json.dumps(manifest))
        try:
            stored = read_index(root)
        except StoreError:
            counts["rejected"] += 1
            continue
        same = (stored.faiss_index.metric_type == good.faiss_index.metric_type
                and np.array_equal(stored.passage_vectors(), vectors))
        counts["same data" if same else "wrong"] += 1
    print(json.dumps(counts))
""")


def test_faiss_header_corruption_that_passes_the_checksum_never_crashes(built):
    """Defence in depth: when the manifest itself agrees with a corrupted FAISS header, FAISS's reader, the
    deserialisation limit and the dimension/count/sanity checks must still fail cleanly (in a child process, so
    a segfault or an abort would show as a failure); a header flip that loads must load the very same vectors
    with the same metric. Flips inside the vectors are out of reach here: only the checksum catches those."""
    index, _ = built
    proc = subprocess.run([sys.executable, "-c", HEADER_FLIPS, str(index), "300"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nFAISS header flips with a manifest that agrees: {counts}")
    assert sum(counts.values()) == 300 and counts["rejected"] > 0 and counts["wrong"] == 0


# ---------------------------------------------------------------- -1 ids and k > ntotal


def test_minus_one_ids_are_filtered(tmp_path: Path):
    sources = tmp_path / "one"
    sources.mkdir()
    (sources / "tiny.md").write_text("# Tiny\n\nTomatoes need six hours of sun.\n", encoding="utf-8")
    stored, _, _ = _sync(sources, tmp_path / "index")
    n = stored.faiss_index.ntotal
    assert n <= 2
    scores, ids = stored.faiss_index.search(np.ones((1, stored.dims), np.float32), n + 5)
    assert list(ids[0]).count(-1) == 5  # FAISS pads when k > ntotal ...
    retriever = Retriever(stored, QueryFake(), Settings(candidates=50))
    result = retriever.search("How many hours of sun do tomatoes need?", 50)
    assert result.found and {h.position for h in result.hits} <= set(range(n))  # ... retrieval drops the padding
    assert retriever._dense(np.full(stored.dims, np.nan, np.float32), None) == {}  # NaN query: nothing, no -1


def test_top_k_above_passage_count(built):
    index, _ = built
    stored = read_index(index)
    result = Retriever(stored, QueryFake(), Settings(candidates=1000)).search(QUESTIONS[0], 50)
    positions = [h.position for h in result.hits]
    assert positions and all(0 <= p < stored.faiss_index.ntotal for p in positions)
    assert len(set(positions)) == len(positions)


# ---------------------------------------------------------------- read-only folder


READ_ONLY_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from test_faults import QueryFake, answers
    from docqa import Settings, StoreError
    from docqa.indexing import sync_index
    sources, index = sys.argv[2], sys.argv[3]
    try:
        stored, _, report = sync_index(sources, index, Settings(), QueryFake())
        print("LOADED", report.rebuilt, answers(index) == eval(sys.argv[4]))
    except StoreError as exc:
        print("ERROR", exc)
""")


def _run_read_only(work: Path, sources: Path, index: Path, expected) -> str:
    """Run the sync in a process that really cannot write `work` (as nobody when we are root)."""
    cmd = [sys.executable, "-c", READ_ONLY_CHILD, str(TESTS), str(sources), str(index), repr(expected)]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a folder read-only")
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        if subprocess.run([*drop, sys.executable, "-c", "pass"], capture_output=True).returncode:
            pytest.skip(f"nobody cannot run {sys.executable} (pyenv's Pythons live under /root, which only root reads)")
        cmd = [*drop, *cmd]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(work)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def read_only_work(seed_dir: Path):
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="docqa-ro-"))  # outside pytest's private tmp, so nobody can read it
    shutil.copytree(seed_dir, work / "seeds")
    _sync(work / "seeds", work / "index")
    yield work
    for p in [work, *work.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(work)


def _make_read_only(work: Path) -> None:
    for p in [*work.rglob("*"), work]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def test_read_only_fresh_index_loads(read_only_work: Path):
    expected = answers(read_only_work / "index")
    _make_read_only(read_only_work)
    line = _run_read_only(read_only_work, read_only_work / "seeds", read_only_work / "index", expected)
    assert line == "LOADED False True"


@pytest.mark.parametrize("fault", ["stale", "corrupt"])
def test_read_only_index_that_needs_a_rebuild_is_a_clear_error(read_only_work: Path, fault):
    index = read_only_work / "index"
    if fault == "stale":
        (read_only_work / "seeds" / "extra.md").write_text(EXTRA_DOC, encoding="utf-8")
    else:
        (version_dir(index) / FAISS_FILE).write_bytes(b"")
    manifest_before = (version_dir(index) / MANIFEST).read_bytes()
    _make_read_only(read_only_work)
    line = _run_read_only(read_only_work, read_only_work / "seeds", index, [])
    assert line.startswith(f"ERROR {index}: the index must be rebuilt (")
    assert ("new source extra.md" if fault == "stale" else FAISS_FILE) in line
    assert "cannot be written (Permission denied)" in line
    assert (version_dir(index) / MANIFEST).read_bytes() == manifest_before


# ---------------------------------------------------------------- leftovers of killed builds


def test_leftovers_next_to_a_fresh_index_are_removed_on_restart(built, seed_dir: Path):
    index, before = built
    live = version_dir(index)
    (index / ".building-abc").mkdir()
    (index / ".building-abc" / FAISS_FILE).write_bytes(b"half")
    (index / f".{CURRENT}.1234abcd.part").write_text("v000009-1234abcd")
    shutil.copytree(live, index / "v000000-0badf00d")  # a superseded version a killed build did not delete
    assert len(leftovers(index)) == 3
    _, _, report = _sync(seed_dir, index)
    assert not report.rebuilt and not leftovers(index)
    assert version_dir(index) == live and answers(index) == before


def test_kill_between_the_new_version_and_the_pointer_keeps_the_old_index(built, seed_dir: Path):
    """The new version folder is in place but CURRENT still names the old one: readers see the old index, and
    recovery deletes the orphan (the next build makes it again)."""
    index, before = built
    live = version_dir(index)
    shutil.copytree(live, index / "v000002-0123abcd")
    assert read_index(index).directory == live and answers(index) == before
    recover(index)
    assert sorted(p.name for p in index.iterdir()) == sorted([CURRENT, live.name])


def test_superseded_versions_are_deleted_and_a_reader_that_lost_the_race_retries(built, seed_dir: Path,
                                                                                monkeypatch: pytest.MonkeyPatch):
    """A reader that read CURRENT just before a build replaced it and deleted the old version reads the new one."""
    import docqa.store as store

    index, _ = built
    old = version_dir(index)
    (seed_dir / "extra.md").write_text(EXTRA_DOC, encoding="utf-8")
    real = store.version_dir
    calls = []

    def stale_once(directory):
        calls.append(1)
        if len(calls) == 1:
            _sync(seed_dir, index)  # a build completes between reading CURRENT and reading the version
            return old
        return real(directory)

    monkeypatch.setattr(store, "version_dir", stale_once)
    stored = read_index(index)
    assert not old.exists() and stored.directory == real(index)
    assert "extra.md" in stored.manifest.sources


def test_format_1_index_is_replaced_by_a_versioned_one(built, seed_dir: Path):
    """An index folder from docqa's first format (the files in the folder itself) is rebuilt, and its files go."""
    index, before = built
    live = version_dir(index)
    for p in live.iterdir():
        if p.is_file():
            shutil.copy(p, index / p.name)
    manifest = json.loads((index / MANIFEST).read_text())
    (index / MANIFEST).write_text(json.dumps({**manifest, "format_version": 1}))
    shutil.rmtree(live)
    (index / CURRENT).unlink()
    with pytest.raises(IndexMismatchError, match=f"format version 1, this docqa reads {FORMAT_VERSION}"):
        read_index(index)
    _, _, report = _sync(seed_dir, index)
    assert report.rebuilt and answers(index) == before
    assert sorted(p.name for p in index.iterdir()) == sorted([CURRENT, version_dir(index).name])


def test_leftovers_of_a_running_build_are_not_touched(built, seed_dir: Path):
    from docqa.store import lock_for

    index, _ = built
    partial = index / ".building-live"
    partial.mkdir()
    with lock_for(index):  # another build is running
        _sync(seed_dir, index)
        assert partial.exists()


# ---------------------------------------------------------------- disk full


class DiskFull:
    """Counts the store's writes (mkdtemp, chmod, each file open for writing and each write() to it, FAISS's
    write, fsync, replace, rename) and raises ENOSPC at the `fail_at`-th one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int) -> None:
        import builtins
        import io
        import tempfile

        import faiss

        import threading

        self.thread = threading.get_ident()  # other threads (a test server, say) write as usual
        self.count = 0
        self.fail_at = fail_at
        self.failed = None
        real_open = builtins.open
        for module, name in [(tempfile, "mkdtemp"), (os, "chmod"), (os, "fsync"), (os, "replace"),
                             (os, "rename"), (faiss, "write_index")]:
            monkeypatch.setattr(module, name, self._counted(getattr(module, name), name))

        def counted_open(file, mode="r", *args, **kwargs):
            if not any(c in mode for c in "wax+") or threading.get_ident() != self.thread:
                return real_open(file, mode, *args, **kwargs)
            self._tick(f"open {Path(file).name}")
            return _FullFile(real_open(file, mode, *args, **kwargs), self)

        monkeypatch.setattr(builtins, "open", counted_open)
        monkeypatch.setattr(io, "open", counted_open)

    def _tick(self, what: str) -> None:
        self.count += 1
        if self.count == self.fail_at:
            self.failed = what
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), what)

    def _counted(self, real, name):
        import threading

        def call(*args, **kwargs):
            if threading.get_ident() != self.thread:
                return real(*args, **kwargs)
            if name == "write_index":  # FAISS writes part of the file before it fails
                self.count += 1
                if self.count == self.fail_at:
                    self.failed = name
                    Path(args[1]).write_bytes(b"IxF")  # a torn file, as a full disk leaves it
                    raise RuntimeError("Error in faiss::FileIOWriter: write failed (No space left on device)")
                return real(*args, **kwargs)
            self._tick(name)
            return real(*args, **kwargs)
        return call


class _FullFile:
    def __init__(self, f, disk: DiskFull) -> None:
        self._f, self._disk = f, disk

    def write(self, data):
        self._disk.count += 1
        if self._disk.count == self._disk.fail_at:
            self._disk.failed = "write"
            self._f.write(data[: len(data) // 2])  # half of it reached the disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


@pytest.mark.slow
def test_disk_full_at_every_write(seed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """ENOSPC at write 1, 2, ... of a rebuild until one completes: the previous index verifies and serves after
    each failure, the error is one clear StoreError, and no temporary folder is left, even before recover()."""
    index = tmp_path / "index"
    _sync(seed_dir, index)
    before = answers(index)
    old_manifest = (version_dir(index) / MANIFEST).read_bytes()
    (seed_dir / "extra.md").write_text(EXTRA_DOC, encoding="utf-8")
    failures = []
    for n in range(1, 500):
        with monkeypatch.context() as m:
            disk = DiskFull(m, n)
            try:
                _sync(seed_dir, index)
                completed = True
            except StoreError as exc:
                completed = False
                message = str(exc)
        if completed:
            break
        failures.append(disk.failed)
        assert message.startswith(f"{index}: cannot write the index: ") and "\n" not in message, message
        assert "No space left on device" in message, message
        assert not leftovers(index), f"write {n} ({disk.failed}) left {leftovers(index)}"
        recover(index)
        assert (version_dir(index) / MANIFEST).read_bytes() == old_manifest, f"write {n} ({disk.failed}) changed it"
        assert answers(index) == before
    else:
        pytest.fail("the build never completed")
    after = answers(index)
    assert after != before and any(any(src == "extra.md" for src, _, _ in hits) for _, hits in after)
    assert json.loads((version_dir(index) / MANIFEST).read_text())["sources"].keys() == {"extra.md", *json.loads(
        old_manifest)["sources"]}
    print(f"\ndisk full: {len(failures)} failing write points, all kept the previous index; build completed at "
          f"write {n}; points: {failures}")
    assert len(failures) >= 10


# ---------------------------------------------------------------- killed and concurrent builds (child processes)


BUILD_CHILD = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    import faiss
    from test_faults import QueryFake
    from docqa import Settings
    from docqa import store
    from docqa.indexing import sync_index
    sources, index, log, pause, force = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6] == "1"

    def slowed(real):  # widen the window in which a kill lands mid-write
        def call(*args, **kwargs):
            time.sleep(pause)
            return real(*args, **kwargs)
        return call

    for module, name in [(os, "fsync"), (os, "rename"), (os, "replace"), (faiss, "write_index")]:
        setattr(module, name, slowed(getattr(module, name)))
    real_commit = store.IndexWriter.commit

    def logged_commit(self, *args, **kwargs):
        started = time.time()
        real_commit(self, *args, **kwargs)
        with open(log, "a") as f:
            f.write(json.dumps([os.getpid(), started, time.time()]) + "\\n")

    store.IndexWriter.commit = logged_commit
    print("GO", flush=True)
    _, _, report = sync_index(sources, index, Settings(), QueryFake(), force=force)
    print("DONE", report.rebuilt, flush=True)
""")


def _start_build(sources: Path, index: Path, log: Path, pause: float, force: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-c", BUILD_CHILD, str(TESTS), str(sources), str(index), str(log), str(pause),
           "1" if force else "0"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_go(proc: subprocess.Popen) -> float:
    line = proc.stdout.readline()
    assert line.strip() == "GO", proc.stderr.read()[-2000:]
    return time.monotonic()


@pytest.fixture
def old_and_new(seed_dir: Path, tmp_path: Path):
    """Sources with an extra document, the index of the seed alone (old), and the answers of old and new."""
    index = tmp_path / "index"
    _sync(seed_dir, index)
    old = answers(index)
    (seed_dir / "extra.md").write_text(EXTRA_DOC, encoding="utf-8")
    shutil.copytree(seed_dir, tmp_path / "reference-seeds")
    _sync(tmp_path / "reference-seeds", tmp_path / "reference-index")
    new = answers(tmp_path / "reference-index")
    assert new != old
    return seed_dir, index, old, new


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_during_build_keeps_a_loadable_index(old_and_new, tmp_path: Path):
    seed_dir, index, old, new = old_and_new
    pause = 0.02
    template = tmp_path / "template"
    shutil.copytree(index, template)
    proc = _start_build(seed_dir, index, tmp_path / "log", pause)  # one full build, to time it
    started = _wait_go(proc)
    assert proc.wait(60) == 0, proc.stderr.read()[-2000:]
    duration = time.monotonic() - started
    rng = random.Random(20261127)
    outcomes = {"old": 0, "new": 0, "left temporary folders": 0}
    trials = 20
    for trial in range(trials):
        shutil.rmtree(index)
        shutil.copytree(template, index)
        proc = _start_build(seed_dir, index, tmp_path / "log", pause)
        started = _wait_go(proc)
        time.sleep(max(0.0, rng.uniform(0, duration * 1.1) - (time.monotonic() - started)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
        outcomes["left temporary folders"] += bool(leftovers(index))
        assert (index / CURRENT).is_file(), "the pointer is never missing"
        recover(index)  # what the next start does (under the lock) before anything else
        assert not leftovers(index)
        state = answers(index)  # loads and verifies
        assert state in (old, new), f"trial {trial}: the index answers neither as before nor as rebuilt"
        outcomes["old" if state == old else "new"] += 1
        _, _, report = _sync(seed_dir, index)  # the restart then finishes the job
        assert answers(index) == new and not leftovers(index)
    print(f"\nSIGKILL: {trials} kills in a {duration:.2f} s build: {outcomes}")
    assert outcomes["old"] + outcomes["new"] == trials


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("force", [False, True], ids=["stale", "forced"])
def test_two_builds_at_once_are_serialised(old_and_new, tmp_path: Path, force: bool):
    seed_dir, index, old, new = old_and_new
    log = tmp_path / "writes.log"
    procs = [_start_build(seed_dir, index, log, 0.05, force) for _ in range(2)]
    for proc in procs:
        _wait_go(proc)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
        results.append(out.strip().splitlines()[-1])
    writes = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda w: w[1])
    if force:
        assert results == ["DONE True", "DONE True"] and len(writes) == 2
        assert writes[0][2] <= writes[1][1], f"the two builds overlapped: {writes}"
    else:  # the second waits for the lock, then finds the index fresh
        assert sorted(results) == ["DONE False", "DONE True"] and len(writes) == 1
    assert answers(index) == new and not leftovers(index)
    print(f"\ntwo builds at once ({'forced' if force else 'stale'}): {results}, writes {writes}")
