"""Store: the index folder on disk (FAISS file, passages.jsonl, sentences.npy, manifest.json written last).

Builds go to a temporary sibling folder that is renamed into place, under a lock, so a reader sees the old
index or the new one and never half of either. Every file is checked against the manifest before it is read.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import IndexMismatchError, StoreError
from .sources import file_sha256 as sha256_file
from .types import Chunk

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FAISS_FILE = "passages.faiss"
PASSAGES_FILE = "passages.jsonl"
SENTENCES_FILE = "sentences.npy"
DATA_FILES = (FAISS_FILE, PASSAGES_FILE, SENTENCES_FILE)

log = logging.getLogger("docqa")


@dataclass(frozen=True)
class StoredIndex:
    """An index loaded from disk: the chunks, their FAISS index and the sentence vectors."""

    directory: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    faiss_index: Any  # faiss.Index
    sentence_vectors: np.ndarray  # one row per sentence, chunk by chunk
    sentence_rows: np.ndarray  # first sentence row of each chunk, plus the total at the end

    @property
    def dims(self) -> int:
        return int(self.manifest["model"]["dims"])

    def passage_vectors(self) -> np.ndarray:
        """Every chunk's vector, read back from the FAISS index."""
        n = self.faiss_index.ntotal
        return self.faiss_index.reconstruct_n(0, n) if n else np.zeros((0, self.dims), np.float32)

    def chunk_sentence_vectors(self, i: int) -> np.ndarray:
        """The sentence vectors of chunk `i`."""
        return self.sentence_vectors[self.sentence_rows[i] : self.sentence_rows[i + 1]]


# ---------------------------------------------------------------- reading


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest, checked for shape; StoreError names the file and the fix."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise StoreError(f"index folder not found: {directory} (run `docqa index`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: missing, so the index is incomplete (run `docqa index`)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: unreadable ({exc}); run `docqa index` to rebuild") from exc
    required = {"format_version": int, "model": dict, "chunking": dict, "sources": dict, "files": dict,
                "passage_count": int, "sentence_count": int}
    if not isinstance(manifest, dict):
        raise StoreError(f"{path}: not a JSON object; run `docqa index` to rebuild")
    for key, kind in required.items():
        if not isinstance(manifest.get(key), kind):
            raise StoreError(f"{path}: field {key!r} is missing or not a {kind.__name__}; run `docqa index`")
    if manifest["format_version"] != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{path}: format version {manifest['format_version']}, this docqa reads {FORMAT_VERSION}; "
            "run `docqa index` to rebuild"
        )
    return manifest


def _verify_files(directory: Path, manifest: dict[str, Any]) -> None:
    for name in DATA_FILES:
        path = directory / name
        expected = manifest["files"].get(name)
        if not isinstance(expected, dict):
            raise StoreError(f"{path}: not listed in the manifest; run `docqa index` to rebuild")
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: missing; run `docqa index` to rebuild") from exc
        if size != expected.get("bytes"):
            raise StoreError(f"{path}: {size} bytes, the manifest says {expected.get('bytes')} "
                             "(truncated or changed); run `docqa index` to rebuild")
        if sha256_file(path) != expected.get("sha256"):
            raise StoreError(f"{path}: checksum does not match the manifest (corrupted); "
                             "run `docqa index` to rebuild")


def _read_chunks(path: Path, count: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    try:
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
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
    """Load and verify an index folder. Raises StoreError (or IndexMismatchError) naming the bad file."""
    import faiss

    directory = Path(directory)
    manifest = read_manifest(directory)
    if dims is not None and manifest["model"].get("dims") != dims:
        raise IndexMismatchError(f"{directory / MANIFEST}: built with {manifest['model'].get('dims')}-d vectors, "
                                 f"the model gives {dims}; run `docqa index` to rebuild")
    _verify_files(directory, manifest)
    count, dims = manifest["passage_count"], int(manifest["model"]["dims"])
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
    kind = manifest.get("faiss")
    if isinstance(kind, str) and type(index).__name__ != kind:
        raise IndexMismatchError(f"{faiss_path}: a {type(index).__name__}, the manifest says {kind}; "
                                 "run `docqa index` to rebuild")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexMismatchError(f"{faiss_path}: metric type {index.metric_type}, not inner product; "
                                 "run `docqa index` to rebuild")
    _sanity_query(index, faiss_path)
    sentences_path = directory / SENTENCES_FILE
    try:
        sentence_vectors = np.load(sentences_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{sentences_path}: unreadable ({exc}); run `docqa index`") from exc
    expected_rows = sum(len(c.sentences) for c in chunks)
    if sentence_vectors.shape != (expected_rows, dims) or sentence_vectors.dtype != np.float32:
        raise StoreError(f"{sentences_path}: shape {sentence_vectors.shape}, expected ({expected_rows}, {dims}); "
                         "run `docqa index`")
    rows = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(c.sentences) for c in chunks], out=rows[1:])
    return StoredIndex(directory, manifest, chunks, index, sentence_vectors, rows)


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


def _file_entry(path: Path) -> dict[str, Any]:
    _fsync(path)
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def write_index(
    directory: str | Path,
    chunks: Sequence[Chunk],
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    manifest: dict[str, Any],
) -> None:
    """Write a complete index into a temporary sibling folder, then rename it over `directory`."""
    directory = Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.building-", dir=directory.parent))
    except OSError as exc:
        raise _write_error(directory, exc) from exc
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; an index folder is as readable as a sources folder
        _write_faiss(build_faiss_index(passage_vectors), tmp / FAISS_FILE)
        with (tmp / PASSAGES_FILE).open("w", encoding="utf-8") as f:
            for c in chunks:
                f.write(json.dumps({
                    "source": c.source, "title": c.title, "paragraph": c.paragraph, "page": c.page,
                    "start": c.start, "end": c.end, "sentences": [list(s) for s in c.sentences], "text": c.text,
                }, ensure_ascii=False) + "\n")
        np.save(tmp / SENTENCES_FILE, np.ascontiguousarray(sentence_vectors, dtype=np.float32), allow_pickle=False)
        manifest = {
            **manifest,
            "format_version": FORMAT_VERSION,
            "docqa_version": __version__,
            "passage_count": len(chunks),
            "sentence_count": int(sentence_vectors.shape[0]),
            "files": {name: _file_entry(tmp / name) for name in DATA_FILES},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        manifest_tmp = tmp / (MANIFEST + ".part")
        manifest_tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _fsync(manifest_tmp)
        os.replace(manifest_tmp, tmp / MANIFEST)  # written last: no manifest, no index
        _fsync(tmp)
        _swap_into_place(tmp, directory)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # disk full, read-only folder, ...: one clear error, old index kept
            raise _write_error(directory, exc) from exc
        raise


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


def _swap_into_place(tmp: Path, directory: Path) -> None:
    if directory.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.previous-", dir=directory.parent))
        try:
            os.rename(directory, old / "index")
        except BaseException:
            shutil.rmtree(old, ignore_errors=True)
            raise
        try:
            os.rename(tmp, directory)
        except BaseException:
            os.rename(old / "index", directory)  # put the previous index back
            shutil.rmtree(old, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, directory)
    try:
        _fsync(directory.parent)
    except OSError as exc:  # the new index is in place; only its durability across a power cut is in doubt
        log.warning("%s: could not sync the folder after the swap (%s)", directory.parent, exc)


def leftovers(directory: str | Path) -> list[Path]:
    """Temporary folders that killed builds left next to `directory`."""
    directory = Path(directory)
    if not directory.parent.is_dir():
        return []
    return [p for kind in ("building", "previous") for p in directory.parent.glob(f".{directory.name}.{kind}-*")]


def recover(directory: str | Path) -> None:
    """Clean up after a build that was killed: drop partial builds, restore a displaced previous index."""
    directory = Path(directory)
    parent = directory.parent
    if not parent.is_dir():
        return
    for partial in parent.glob(f".{directory.name}.building-*"):
        shutil.rmtree(partial, ignore_errors=True)
    previous = sorted(parent.glob(f".{directory.name}.previous-*"), key=lambda p: p.stat().st_mtime)
    for old in previous:
        if not directory.exists() and (old / "index" / MANIFEST).is_file():
            os.rename(old / "index", directory)
            log.warning("restored the previous index at %s after an interrupted build", directory)
        shutil.rmtree(old, ignore_errors=True)


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
