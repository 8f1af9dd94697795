"""Store: the index folder on disk, as versions behind one atomic pointer.

    index/CURRENT            the name of the live version, replaced atomically (os.replace)
    index/v000007-1f2e3d4c/  one complete version: passages.faiss, passages.jsonl, sentences.npy, bm25/...,
                             and manifest.json, written last
    index/.building-*        a build in progress
    .index.lock              beside the folder: the build lock

A build streams into a hidden folder inside the index folder, renames it to a new version and then replaces
CURRENT, so a reader always finds the old index or the new one, never none and never half of one. Superseded
versions are deleted; a reader that loses that race reads CURRENT again. Every file is checked against the
manifest before it is read. CURRENT's content is the cheap "has the index moved on?" test of a long-running
reader (`current_version`).
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import IndexMismatchError, StoreError
from .manifest import FORMAT_VERSION, FileEntry, Manifest
from .sources import file_sha256 as sha256_file
from .types import Chunk
from .version import __version__

MANIFEST = "manifest.json"
FAISS_FILE = "passages.faiss"
PASSAGES_FILE = "passages.jsonl"
SENTENCES_FILE = "sentences.npy"
LEXICAL_DIR = "bm25"
DATA_FILES = (FAISS_FILE, PASSAGES_FILE, SENTENCES_FILE)
CURRENT = "CURRENT"
_VERSION_NAME = re.compile(r"v\d{6,}-[0-9a-f]{8}")
_LEGACY_FILES = (MANIFEST, FAISS_FILE, PASSAGES_FILE, SENTENCES_FILE)  # format 1 kept them in the folder itself
_VECTORS_PART = "passages.f32.part"
_SENTENCES_PART = "sentences.f32.part"

log = logging.getLogger("docqa")


@dataclass(frozen=True)
class StoredIndex:
    """An index version loaded from disk: the chunks, their FAISS index, the sentence vectors and BM25."""

    directory: Path  # the version folder
    manifest: Manifest
    chunks: list[Chunk]
    faiss_index: Any  # faiss.Index
    sentence_vectors: np.ndarray  # one row per sentence, chunk by chunk (memory-mapped)
    sentence_rows: np.ndarray  # first sentence row of each chunk, plus the total at the end
    lexical: Any = None  # lexical.LexicalIndex, saved with the version

    @property
    def dims(self) -> int:
        return self.manifest.model.dims

    @property
    def version(self) -> str:
        """The version folder's name, as CURRENT gives it."""
        return self.directory.name

    def passage_vectors(self, first: int = 0, count: int | None = None) -> np.ndarray:
        """The vectors of chunks first .. first + count (all by default), read back from the FAISS index."""
        count = self.faiss_index.ntotal - first if count is None else count
        return self.faiss_index.reconstruct_n(first, count) if count else np.zeros((0, self.dims), np.float32)

    def chunk_sentence_vectors(self, i: int) -> np.ndarray:
        """The sentence vectors of chunk `i`."""
        return self.sentence_vectors[self.sentence_rows[i] : self.sentence_rows[i + 1]]

    def best_sentence_cosines(self, queries: np.ndarray) -> np.ndarray:
        """Each query vector's best cosine with any sentence of this index (a store that keeps its vectors
        elsewhere answers it there)."""
        own = getattr(self.sentence_vectors, "best_sentence_cosines", None)
        if own is not None:
            return np.asarray(own(queries), dtype=np.float32)
        return (np.asarray(queries, dtype=np.float32) @ self.sentence_vectors.T).max(axis=1)


class IndexStore(Protocol):
    """What indexing and a long-running Assistant need from a store: the FAISS folder here (`FolderStore`);
    a second store (issue 13: Milvus) implements the same."""

    location: Path

    def current_version(self) -> str | None:
        """A cheap token that changes whenever a new version becomes live (None: no index)."""
        ...

    def read(self, dims: int | None = None) -> StoredIndex:
        """The live version, verified."""
        ...

    def writer(self, dims: int) -> IndexWriter:
        """A writer that streams a new version and makes it live on `commit`."""
        ...

    def lock(self, timeout: float = 600.0) -> Any:
        """The cross-process build lock (a context manager)."""
        ...

    def recover(self) -> None:
        """Clean up after a build that was killed (call under the lock)."""
        ...


@dataclass(frozen=True)
class FolderStore:
    """The FAISS folder (this module's functions) as an `IndexStore`."""

    location: Path

    def current_version(self) -> str | None:
        return current_version(self.location)

    def read(self, dims: int | None = None) -> StoredIndex:
        return read_index(self.location, dims)

    def writer(self, dims: int) -> IndexWriter:
        return IndexWriter(self.location, dims)

    def lock(self, timeout: float = 600.0) -> Any:
        return lock_for(self.location, timeout)

    def recover(self) -> None:
        recover(self.location)


# ---------------------------------------------------------------- reading


def current_version(directory: str | Path) -> str | None:
    """The live version's name from CURRENT (one small read; None when there is none)."""
    try:
        return (Path(directory) / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def version_dir(directory: str | Path) -> Path:
    """The live version folder; StoreError when the index folder has none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise StoreError(f"index folder not found: {directory} (run `docqa index`)")
    path = directory / CURRENT
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        legacy = directory / MANIFEST
        if legacy.is_file():  # format 1: the files in the folder itself
            try:
                Manifest.from_json(legacy.read_bytes(), legacy)
            except OSError as err:
                raise StoreError(f"{legacy}: unreadable ({err}); run `docqa index` to rebuild") from err
        raise StoreError(f"{path}: missing, so the index is incomplete (run `docqa index`)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: unreadable ({exc}); run `docqa index` to rebuild") from exc
    if not _VERSION_NAME.fullmatch(name):
        raise StoreError(f"{path}: does not name an index version; run `docqa index` to rebuild")
    return directory / name


def read_manifest(directory: Path) -> Manifest:
    """A version folder's manifest, checked for shape; StoreError names the file and the fix."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise StoreError(f"{directory}: missing (run `docqa index`)")
    try:
        text = path.read_bytes()
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: missing, so the index is incomplete (run `docqa index`)") from exc
    except OSError as exc:
        raise StoreError(f"{path}: unreadable ({exc}); run `docqa index` to rebuild") from exc
    return Manifest.from_json(text, path)


def _verify_files(directory: Path, manifest: Manifest) -> None:
    for name in DATA_FILES:
        if name not in manifest.files:
            raise StoreError(f"{directory / name}: not listed in the manifest; run `docqa index` to rebuild")
    if not any(name.startswith(f"{LEXICAL_DIR}/") for name in manifest.files):
        raise StoreError(f"{directory / LEXICAL_DIR}: not listed in the manifest; run `docqa index` to rebuild")
    for name, expected in manifest.files.items():
        path = directory / name
        if name.startswith("/") or ".." in Path(name).parts:
            raise StoreError(f"{directory / MANIFEST}: lists a file outside the index ({name!r}); run `docqa index`")
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: missing; run `docqa index` to rebuild") from exc
        if size != expected.bytes:
            raise StoreError(f"{path}: {size} bytes, the manifest says {expected.bytes} "
                             "(truncated or changed); run `docqa index` to rebuild")
        if sha256_file(path) != expected.sha256:
            raise StoreError(f"{path}: checksum does not match the manifest (corrupted); "
                             "run `docqa index` to rebuild")


def _read_chunks(path: Path, count: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                chunks.append(Chunk(
                    source=str(row["source"]), title=str(row["title"]), paragraph=int(row["paragraph"]),
                    start=int(row["start"]), end=int(row["end"]), text=str(row["text"]),
                    sentences=tuple((int(s), int(e)) for s, e in row["sentences"]),
                    page=None if row.get("page") is None else int(row["page"]),
                ))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{path}: unreadable at line {len(chunks) + 1} ({exc}); run `docqa index`") from exc
    if len(chunks) != count:
        raise StoreError(f"{path}: {len(chunks)} passages, the manifest says {count}; run `docqa index`")
    return chunks


def read_index(directory: str | Path, dims: int | None = None) -> StoredIndex:
    """Load and verify the live version of an index folder. Raises StoreError (or IndexMismatchError) naming
    the bad file. A version deleted by a newer build while this was reading it is retried with the newer one."""
    directory = Path(directory)
    for attempt in range(3):
        version = version_dir(directory)
        try:
            return _read_version(version, dims)
        except StoreError:
            if attempt == 2 or current_version(directory) == version.name:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _read_version(directory: Path, dims: int | None) -> StoredIndex:
    import faiss

    manifest = read_manifest(directory)
    if dims is not None and manifest.model.dims != dims:
        raise IndexMismatchError(f"{directory / MANIFEST}: built with {manifest.model.dims}-d vectors, "
                                 f"the model gives {dims}; run `docqa index` to rebuild")
    _verify_files(directory, manifest)
    count, dims = manifest.passage_count, manifest.model.dims
    chunks = _read_chunks(directory / PASSAGES_FILE, count)
    faiss_path = directory / FAISS_FILE
    limit = faiss_path.stat().st_size + 4096
    previous = faiss.get_deserialization_vector_byte_limit()
    faiss.set_deserialization_vector_byte_limit(limit)
    try:
        index = faiss.read_index(str(faiss_path))
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise StoreError(f"{faiss_path}: FAISS cannot read it ({str(exc).splitlines()[0][:200]}); "
                         "run `docqa index` to rebuild") from exc
    finally:
        faiss.set_deserialization_vector_byte_limit(previous)
    if index.d != dims or index.ntotal != count:
        raise IndexMismatchError(f"{faiss_path}: {index.ntotal} vectors of {index.d} dims, the manifest says "
                                 f"{count} of {dims}; run `docqa index` to rebuild")
    if type(index).__name__ != manifest.faiss:
        raise IndexMismatchError(f"{faiss_path}: a {type(index).__name__}, the manifest says {manifest.faiss}; "
                                 "run `docqa index` to rebuild")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexMismatchError(f"{faiss_path}: metric type {index.metric_type}, not inner product; "
                                 "run `docqa index` to rebuild")
    _sanity_query(index, faiss_path)
    sentences_path = directory / SENTENCES_FILE
    try:
        sentence_vectors = np.load(sentences_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{sentences_path}: unreadable ({exc}); run `docqa index`") from exc
    expected_rows = sum(len(c.sentences) for c in chunks)
    if sentence_vectors.shape != (expected_rows, dims) or sentence_vectors.dtype != np.float32:
        raise StoreError(f"{sentences_path}: shape {sentence_vectors.shape}, expected ({expected_rows}, {dims}); "
                         "run `docqa index`")
    rows = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(c.sentences) for c in chunks], out=rows[1:])
    _check_sources(directory / MANIFEST, manifest, chunks)
    return StoredIndex(directory, manifest, chunks, index, sentence_vectors, rows,
                       _read_lexical(directory / LEXICAL_DIR, count, manifest, chunks))


def _check_sources(path: Path, manifest: Manifest, chunks: list[Chunk]) -> None:
    """Each source's passage range holds that source's passages, and the ranges cover every passage in order."""
    at = 0
    for name, entry in manifest.sources.items():
        last = entry.first + entry.passages
        if entry.first != at or any(c.source != name for c in chunks[entry.first : last]) or last > len(chunks):
            raise StoreError(f"{path}: the passages of {name!r} are not where it says; run `docqa index`")
        at = last
    if at != len(chunks):
        raise StoreError(f"{path}: lists {at} passages by source, the index holds {len(chunks)}; run `docqa index`")


def _read_lexical(folder: Path, count: int, manifest: Manifest, chunks: list[Chunk]) -> Any:
    """The saved BM25 index; built again from the passages when another tokeniser cut its terms (they would not
    match the questions' terms), until `docqa index` saves it anew."""
    from .lexical import TOKENISER, LexicalIndex

    if manifest.tokeniser != TOKENISER:
        log.info("%s: terms cut by tokeniser %r, this docqa uses %r; tokenising again", folder, manifest.tokeniser,
                 TOKENISER)
        return LexicalIndex([c.sentence_texts for c in chunks])
    try:
        lexical = LexicalIndex.load(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{folder}: BM25 index unreadable ({str(exc)[:200]}); run `docqa index`") from exc
    if lexical.size != count:
        raise StoreError(f"{folder}: BM25 over {lexical.size} passages, the manifest says {count}; "
                         "run `docqa index`")
    return lexical


def _sanity_query(index: Any, path: Path) -> None:
    """The first stored vector is finite and a search for it returns a real id with a finite score."""
    if index.ntotal == 0:
        return
    try:
        vector = np.asarray(index.reconstruct(0), dtype=np.float32)[None, :]
        scores, ids = index.search(vector, 1)
    except (RuntimeError, ValueError) as exc:
        raise StoreError(f"{path}: FAISS cannot search it ({str(exc).splitlines()[0][:200]}); "
                         "run `docqa index` to rebuild") from exc
    if not np.isfinite(vector).all() or ids[0, 0] < 0 or not np.isfinite(scores[0, 0]):
        raise StoreError(f"{path}: a test search returned no result (corrupted); run `docqa index` to rebuild")


# ---------------------------------------------------------------- writing


def build_faiss_index(vectors: np.ndarray) -> Any:
    """An inner-product index over normalised vectors: exact up to `ann.APPROXIMATE_ABOVE` passages,
    approximate (an HNSW graph over the full vectors, `ann.DEFAULT_KIND`) above."""
    from .ann import build_index

    return build_index(vectors)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexWriter:
    """Streams a new version into a hidden folder inside the index folder: passages and their vectors are
    appended as they come (memory stays bounded by what one `add` holds), then `commit` builds the FAISS and
    BM25 files, writes the manifest last and makes the version live. Any failure leaves the live version as
    it was; OSError (a full disk, a read-only folder) becomes one StoreError."""

    def __init__(self, directory: str | Path, dims: int) -> None:
        self.directory = Path(directory)
        self.dims = dims
        self.count = 0
        self.sentence_count = 0
        self._tmp: Path | None = None
        self._files: list[Any] = []
        self._guard(self._open)

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=self.directory))
        os.chmod(self._tmp, 0o755)  # mkdtemp makes it private; an index folder is as readable as a sources folder
        self._passages = open(self._tmp / PASSAGES_FILE, "w", encoding="utf-8")
        self._files.append(self._passages)
        self._vectors = open(self._tmp / _VECTORS_PART, "wb")
        self._files.append(self._vectors)
        self._sentences = open(self._tmp / _SENTENCES_PART, "wb")
        self._files.append(self._sentences)

    def add(self, chunks: Sequence[Chunk], passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> None:
        """Append passages with their vectors (one row per chunk, and one per sentence of each, in order)."""
        if passage_vectors.shape != (len(chunks), self.dims) or sentence_vectors.shape != (
                sum(len(c.sentences) for c in chunks), self.dims):
            raise ValueError(f"vectors of shape {passage_vectors.shape} and {sentence_vectors.shape} do not fit "
                             f"{len(chunks)} passages of {self.dims} dims")

        def write() -> None:
            for c in chunks:
                self._passages.write(json.dumps({
                    "source": c.source, "title": c.title, "paragraph": c.paragraph, "page": c.page,
                    "start": c.start, "end": c.end, "sentences": [list(s) for s in c.sentences], "text": c.text,
                }, ensure_ascii=False) + "\n")
            self._vectors.write(np.ascontiguousarray(passage_vectors, dtype="<f4").tobytes())
            self._sentences.write(np.ascontiguousarray(sentence_vectors, dtype="<f4").tobytes())

        self._guard(write)
        self.count += len(chunks)
        self.sentence_count += len(sentence_vectors)

    def commit(self, manifest: Manifest, lexical: Any) -> str:
        """Finish the files, write the manifest, make the version live; returns the version's name.
        `manifest` gives the model, chunking and sources; counts, files and generation are filled in here."""
        return self._guard(lambda: self._commit(manifest, lexical))

    def abort(self) -> None:
        """Drop the unfinished version."""
        for f in self._files:
            try:
                f.close()
            except OSError:
                pass
        self._files = []
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _commit(self, manifest: Manifest, lexical: Any) -> str:
        assert self._tmp is not None
        tmp = self._tmp
        for f in self._files:
            f.flush()
            os.fsync(f.fileno())
            f.close()
        self._files = []
        vectors = _raw_rows(tmp / _VECTORS_PART, self.count, self.dims)
        _write_faiss(build_faiss_index(vectors), tmp / FAISS_FILE)
        del vectors
        (tmp / _VECTORS_PART).unlink()
        _raw_to_npy(tmp / _SENTENCES_PART, tmp / SENTENCES_FILE, self.sentence_count, self.dims)
        (tmp / _SENTENCES_PART).unlink()
        lexical.save(tmp / LEXICAL_DIR)
        generation = _next_generation(self.directory)
        files = {p.relative_to(tmp).as_posix(): _file_entry(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = replace(manifest, format_version=FORMAT_VERSION, docqa_version=__version__,
                           generation=generation, passage_count=self.count, sentence_count=self.sentence_count,
                           files=files, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        manifest_tmp = tmp / (MANIFEST + ".part")
        manifest_tmp.write_text(manifest.to_json(), encoding="utf-8")
        _fsync(manifest_tmp)
        os.replace(manifest_tmp, tmp / MANIFEST)  # written last: no manifest, no index
        _fsync(tmp)
        name = f"v{generation:06d}-{secrets.token_hex(4)}"
        _publish(tmp, self.directory, name)
        self._tmp = None
        _drop_superseded(self.directory, name)
        return name

    def _guard(self, step):
        try:
            return step()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):  # disk full, read-only folder, ...: one clear error, old index kept
                raise _write_error(self.directory, exc) from exc
            raise


def write_index(
    directory: str | Path,
    chunks: Sequence[Chunk],
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    manifest: Manifest,
) -> str:
    """Write a complete version in one go (what `IndexWriter` does in steps); returns its name."""
    from .lexical import LexicalIndex

    writer = IndexWriter(directory, manifest.model.dims)
    writer.add(chunks, passage_vectors, sentence_vectors)
    lexical = LexicalIndex([c.sentence_texts for c in chunks])
    return writer.commit(manifest, lexical)


def _raw_rows(path: Path, count: int, dims: int) -> np.ndarray:
    if not count:
        return np.zeros((0, dims), np.float32)
    return np.memmap(path, dtype="<f4", mode="r", shape=(count, dims))


def _raw_to_npy(raw: Path, target: Path, count: int, dims: int) -> None:
    """Copy raw float32 rows into a .npy file, a block at a time."""
    if not count:
        np.save(target, np.zeros((0, dims), np.float32), allow_pickle=False)
        return
    rows = _raw_rows(raw, count, dims)
    out = np.lib.format.open_memmap(target, mode="w+", dtype=np.float32, shape=(count, dims))
    step = max(1, (16 << 20) // (4 * dims))
    for first in range(0, count, step):
        out[first : first + step] = rows[first : first + step]
    out.flush()
    del out, rows


def _next_generation(directory: Path) -> int:
    """One more than the live version's generation (or than any version folder's number)."""
    numbers = [int(p.name[1 : p.name.index("-")]) for p in directory.iterdir() if _VERSION_NAME.fullmatch(p.name)]
    return max(numbers, default=0) + 1


def _publish(tmp: Path, directory: Path, name: str) -> None:
    """Rename the finished version into place and point CURRENT at it (the one atomic step)."""
    target = directory / name
    os.rename(tmp, target)
    pointer = directory / f".{CURRENT}.{secrets.token_hex(4)}.part"
    try:
        with open(pointer, "w", encoding="utf-8") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, directory / CURRENT)
    except BaseException:
        pointer.unlink(missing_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        raise
    try:
        _fsync(directory)
    except OSError as exc:  # the new version is live; only its durability across a power cut is in doubt
        log.warning("%s: could not sync the folder after the swap (%s)", directory, exc)


def _drop_superseded(directory: Path, live: str) -> None:
    """Delete versions other than `live`, and the files of a format-1 index (its manifest first). A reader
    that loaded one keeps what it loaded (memory-mapped files outlive their names)."""
    try:
        for name in _LEGACY_FILES:
            (directory / name).unlink(missing_ok=True)
        for p in directory.iterdir():
            if _VERSION_NAME.fullmatch(p.name) and p.name != live:
                shutil.rmtree(p, ignore_errors=True)
    except OSError as exc:  # the new version is live; `recover` retries at the next build or start
        log.warning("%s: could not delete superseded versions (%s)", directory, exc)


def _file_entry(path: Path) -> FileEntry:
    _fsync(path)
    return FileEntry(path.stat().st_size, sha256_file(path))


def _write_faiss(index: Any, path: Path) -> None:
    import faiss

    try:
        faiss.write_index(index, str(path))
    except RuntimeError as exc:  # FAISS reports a full disk as a RuntimeError
        raise OSError(errno.EIO, f"FAISS could not write it: {str(exc).splitlines()[0][:200]}", str(path)) from exc


def _write_error(directory: Path, exc: OSError) -> StoreError:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return StoreError(f"{directory}: cannot write the index: {reason}{where}; the previous index, if any, is "
                      "unchanged")


def leftovers(directory: str | Path) -> list[Path]:
    """What killed builds left in `directory`: unfinished versions, pointer files, versions CURRENT does not
    name."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    live = current_version(directory)
    return [p for p in directory.iterdir()
            if p.name.startswith((".building-", f".{CURRENT}."))
            or (_VERSION_NAME.fullmatch(p.name) and p.name != live)]


def recover(directory: str | Path) -> None:
    """Clean up after a build that was killed (call it under the build lock)."""
    for path in leftovers(directory):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def lock_for(directory: str | Path, timeout: float = 600.0):
    """A cross-process lock for building `directory` (filelock.FileLock on a sibling file)."""
    from filelock import FileLock

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(directory.parent / f".{directory.name}.lock"), timeout=timeout)


def group_by_source(chunks: Iterable[Chunk]) -> dict[str, list[int]]:
    """Chunk positions of each source, in order."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        groups.setdefault(c.source, []).append(i)
    return groups
