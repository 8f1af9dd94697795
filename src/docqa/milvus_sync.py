"""Keep a Milvus store in step with the sources folder, embedding and writing only new or changed documents.

The same plan as the folder's (`indexing.sync_index`): the same staleness reasons, the same reuse rule and the
same manifest facts; only the writing differs (`MilvusWriter`: documents in place, one commit row).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .ann import index_kind
from .chunking import chunk_document
from .embedding import Embedder
from .errors import IndexMismatchError, SourceError, StoreError
from .indexing import SyncReport, _chunking_id, _model_id, _reusable, _same_model, stale_reasons
from .milvus_store import MilvusStore
from .settings import Settings
from .sources import SourceFile, load_document, scan_sources
from .store import StoredIndex

log = logging.getLogger("docqa")


def open_store(spec: str | None) -> MilvusStore | None:
    """The Milvus store `spec` names (`milvus:PATH`, `http://host:19530`), or None for the FAISS folder."""
    from .milvus_schema import parse_store

    target = parse_store(spec)
    return None if target is None else MilvusStore(target)


def sync_milvus(
    sources: str | Path,
    store: MilvusStore,
    settings: Settings,
    embedder: Embedder,
    progress: bool = False,
    force: bool = False,
) -> tuple[StoredIndex, dict[str, SourceFile], SyncReport]:
    """Load the store's newest generation, first committing a new one if it is missing, broken or stale."""
    documents = scan_sources(sources)
    stored, reasons = _try_read(store, documents, settings, force, embedder.dims)
    if not reasons and stored is not None:
        return stored, documents, SyncReport(rebuilt=False, reused=tuple(documents))
    with store.lock():
        store.recover()
        stored, reasons = _try_read(store, documents, settings, force, embedder.dims)
        if not reasons and stored is not None:
            return stored, documents, SyncReport(rebuilt=False, reused=tuple(documents))
        log.info("indexing %s: %s", store.location, "; ".join(reasons))
        report = _build(Path(sources), store, documents, settings, embedder, None if force else stored,
                        reasons, progress)
        return store.read(), documents, report


def _try_read(store: MilvusStore, documents: dict[str, SourceFile], settings: Settings, force: bool,
              dims: int) -> tuple[StoredIndex | None, list[str]]:
    try:
        stored = store.read()
    except IndexMismatchError as exc:
        return None, [str(exc)]
    except StoreError as exc:
        if store.current_version() is not None:  # there is an index, and it is broken: say so before rebuilding
            log.warning("%s", exc)
        return None, [str(exc)]
    reasons = stale_reasons(stored.manifest, documents, settings)
    if stored.dims != dims:
        reasons.append(f"built with {stored.dims}-d vectors, the model gives {dims}")
    if force:
        reasons.append("rebuild requested")
    return stored, reasons


def _build(root: Path, store: MilvusStore, documents: dict[str, SourceFile], settings: Settings,
           embedder: Embedder, previous: StoredIndex | None, reasons: list[str], progress: bool) -> SyncReport:
    reusable = _reusable(previous, documents, settings) if previous is not None and previous.dims == embedder.dims \
        else {}
    writer = store.writer(embedder.dims)
    sources: dict[str, Any] = {}
    skipped: dict[str, dict[str, str]] = {}
    embedded: list[str] = []
    count = sentence_count = 0
    for name, source in documents.items():
        if name in reusable:
            chunks, vectors, sentence_vectors = reusable[name]
        else:
            try:
                doc = load_document(source.path, root)
            except SourceError as exc:
                log.warning("skipping %s", exc)
                skipped[name] = {"sha256": source.sha256, "reason": str(exc)}
                continue
            chunks = chunk_document(doc, settings.max_passage_chars, settings.language)
            vectors, sentence_vectors = embedder.encode_chunks(chunks, progress=progress)
            embedded.append(name)
        writer.add(chunks, vectors, sentence_vectors)  # one document at a time: memory stays bounded
        sources[name] = {"sha256": source.sha256, "title": chunks[0].title, "first": count, "passages": len(chunks)}
        count += len(chunks)
        sentence_count += len(sentence_vectors)
    manifest = {
        "format_version": 1,
        "store": "milvus",
        "model": {**_model_id(settings), "dims": int(embedder.dims)},
        "chunking": _chunking_id(settings),
        "faiss": index_kind(count),  # the in-memory index each reader builds from the stored vectors
        "sources": sources,
        "skipped": skipped,
        "files": {},
        "passage_count": count,
        "sentence_count": sentence_count,
    }
    writer.commit(manifest)
    removed = tuple(n for n in (previous.manifest["sources"] if previous else {}) if n not in documents)
    return SyncReport(True, tuple(embedded), tuple(n for n in sources if n in reusable), removed, tuple(reasons),
                      tuple(f"{n}: {v['reason']}" for n, v in skipped.items()))


def newer_generation(store: MilvusStore, loaded: StoredIndex, settings: Settings, dims: int) -> StoredIndex | None:
    """The store's newest generation if it is newer than `loaded` and was built by this model; else None, to
    keep answering from `loaded` (why, if anything failed, is logged in one line)."""
    try:
        version = store.current_version()
        if version in (loaded.directory.name, store.refused):
            return None
        stored = store.read(dims)
    except StoreError as exc:
        log.warning("%s (answering from the generation already loaded)", exc)
        return None
    if not _same_model(stored.manifest, settings):
        store.refused = version  # not read again until a newer one comes
        log.warning("%s: the newest generation was built with %s, this docqa uses %s; answering from the one "
                    "already loaded (run `docqa index --store %s`)", store.location,
                    stored.manifest["model"].get("name"), settings.model_name, store.location)
        return None
    return stored
