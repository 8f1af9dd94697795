"""Assistant: loads the index once, then answers questions (with follow-ups) from it.

A long-running Assistant (the web server) follows changes made by other processes: before each question it reads
the index's CURRENT pointer (one small read) and loads a newer version when there is one; after each answer it
checks that every cited file still has the bytes that were indexed (a stat, and a hash only when the stat
changed). A changed or vanished file is re-indexed and the question asked again; an answer is never returned with
offsets into text that is no longer there.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .answer import (build_answer, no_reason, not_english, overview, reason_span, small_talk, states_reason,
                     to_passage)
from .chunking import chunk_document
from .conversation import (clean_history, clean_question, is_bare_why, is_overview_request, is_small_talk,
                           previous_quote, previous_title, refers_back, resolve_query)
from .embedding import Embedder, get_embedder
from .errors import EmptySourcesError, IndexMismatchError, SourceError, StoreError
from .indexing import SyncReport, _same_model as same_model, stat_key, sync_index
from .retrieval import Retriever, SearchResult
from .settings import Settings, default_index_dir, default_sources, default_store
from .sources import READERS, SourceFile, file_sha256, load_document, show_names
from .store import FolderStore, StoredIndex
from .types import Answer, Chunk, Document

log = logging.getLogger("docqa")


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document, as `docqa list` shows it."""

    name: str
    title: str
    passages: int
    pages: int | None


class Assistant:
    """Question answering over one sources folder and its index. The index loads on first use."""

    def __init__(
        self,
        sources: str | Path | None = None,
        index_dir: str | Path | None = None,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        store: str | None = None,
    ) -> None:
        self.sources = Path(sources) if sources is not None else default_sources()
        self.index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        self.settings = settings or Settings()  # no disk access here: a missing folder is an error on first use
        self._embedder = embedder
        self._retriever: Retriever | None = None
        self._files: dict[str, SourceFile] = {}
        self._documents: dict[tuple[str, str], Document] = {}
        self._confirmed: dict[tuple[str, str], tuple[int, int | None]] = {}  # (name, sha256) -> stat that matched
        self._failed_version: str | None = None  # a newer version that could not be read (not retried)
        self._lock = threading.RLock()  # held by load, add and remove; never by a question
        self._retrying = threading.local()
        self.last_sync: SyncReport | None = None
        from .milvus_store import open_store

        self.store = open_store(store if store is not None else default_store())  # None: the index folder
        self._store = self.store or FolderStore(self.index_dir)
        self._polled = 0.0  # when a Milvus store was last asked for a newer generation

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.model_name, self.settings.encode_batch_size)
        return self._embedder

    def load(self, progress: bool = False, force: bool = False) -> SyncReport:
        """Bring the index up to date with the sources (embedding only what changed) and load it."""
        return self._sync(progress, force)

    def _sync(self, progress: bool = False, force: bool = False,
              prepared: dict[str, list[Chunk]] | None = None) -> SyncReport:
        with self._lock:  # questions keep using the loaded index until the new one is swapped in
            stored, _, report = sync_index(self.sources, self._store, self.settings, self.embedder,
                                           progress=progress, force=force, prepared=prepared)
            self._adopt(stored)
            self.last_sync = report
            return report

    def _adopt(self, stored: StoredIndex) -> None:
        retriever = Retriever(stored, self.embedder, self.settings)
        retriever.search("warm up", 1)  # the first encode pays for torch's lazy set-up: not a user
        self._files = {name: SourceFile(name, self.sources / name, entry.sha256, entry.bytes)
                       for name, entry in stored.manifest.sources.items()}
        self._retriever = retriever

    @property
    def retriever(self) -> Retriever:
        """The loaded index's retriever; loads the index first, or a newer version another process made."""
        if self._retriever is None:
            self.load()
        elif self._moved_on():
            self._reload()
        assert self._retriever is not None
        return self._retriever

    def _moved_on(self) -> bool:
        """Whether the store has a newer version than the loaded one. The folder's CURRENT is read every time;
        a Milvus store is asked (one query) at most every `store_refresh_seconds`."""
        assert self._retriever is not None
        if self.store is not None:
            if time.monotonic() - self._polled < self.settings.store_refresh_seconds:
                return False
            self._polled = time.monotonic()
        try:
            return self._store.current_version() != self._retriever.stored.version
        except StoreError as exc:  # a Milvus server gone: keep answering from what is loaded
            log.warning("%s (answering from the loaded index)", exc)
            return False

    def _reload(self) -> None:
        """Load the version CURRENT now names (built by another process), unless this one is building."""
        if not self._lock.acquire(blocking=False):  # a load here is running: it swaps its result in
            return
        try:
            location, version = self._store.location, None
            try:
                version = self._store.current_version()
                if self._retriever is None or version in (self._retriever.stored.version, self._failed_version):
                    return
                stored = self._store.read(self.embedder.dims)
                if not same_model(stored.manifest, self.settings):
                    raise IndexMismatchError(f"version {stored.version} was built with {stored.manifest.model.name}, "
                                             f"this docqa uses {self.settings.model_name}")
            except StoreError as exc:
                log.warning("%s: keeping the loaded index (%s)", location, exc)
                self._failed_version = version
                return
            self._adopt(stored)
            log.info("%s: loaded version %s, made by another process", location, stored.version)
        finally:
            self._lock.release()

    def _source_is_current(self, name: str, stored: StoredIndex) -> bool:
        """Whether the file `name` still holds the bytes `stored` indexed: its size and mtime as recorded (a
        stat), else its sha256."""
        entry = stored.manifest.sources.get(name)
        if entry is None:
            return False
        path = self.sources / name
        try:
            key = stat_key(os.stat(path))
        except OSError:
            return False
        if key[1] is not None and key in ((entry.bytes, entry.mtime_ns), self._confirmed.get((name, entry.sha256))):
            return True
        try:
            same = file_sha256(path) == entry.sha256
        except OSError:
            return False
        if same and key[1] is not None:
            self._confirmed[(name, entry.sha256)] = key
        return same

    def _checked(self, answer: Answer, retriever: Retriever, again: Callable[[], Answer]) -> Answer:
        """`answer` if every file it cites still holds the text `retriever` indexed; otherwise the index is
        brought up to date and the question asked once more (`again`). If the files change even then, it
        refuses with a StoreError rather than cite text that is no longer there."""
        cited = {p.source for p in (*answer.passages, *answer.closest)}
        stale = sorted(name for name in cited if not self._source_is_current(name, retriever.stored))
        if not stale:
            return answer
        if getattr(self._retrying, "active", False):
            raise StoreError(f"{', '.join(stale)} changed on disk while the question was answered; ask again")
        log.info("%s changed on disk since it was indexed: re-indexing", ", ".join(stale))
        self.load()
        self._retrying.active = True
        try:
            return again()
        finally:
            self._retrying.active = False

    def document(self, name: str) -> Document:
        """An indexed document, read on first request (its text is what offsets refer to)."""
        stored = self.retriever.stored
        source = self._files.get(name)
        if source is None:
            raise SourceError(f"no document named {name!r}; known: {', '.join(sorted(self._files)) or 'none'}")
        if not self._source_is_current(name, stored):
            raise SourceError(f"{name} changed on disk since it was indexed; ask again to re-index it")
        key = (name, source.sha256)
        if key not in self._documents:
            self._documents[key] = load_document(source.path, self.sources, settings=self.settings)
        return self._documents[key]

    @property
    def documents(self) -> dict[str, Document]:
        """Every indexed document by name."""
        self.retriever
        return {name: self.document(name) for name in sorted(self._files)}

    @property
    def file_types(self) -> list[str]:
        """The file suffixes `add` reads, e.g. ['.htm', '.html', '.md', '.pdf', '.txt']."""
        return sorted(READERS)

    def list_documents(self) -> list[DocumentInfo]:
        """The indexed documents with their passage counts."""
        manifest = self.retriever.stored.manifest.sources
        pages: dict[str, int] = {}
        for chunk in self.retriever.stored.chunks:
            if chunk.page is not None:
                pages[chunk.source] = max(pages.get(chunk.source, 0), chunk.page)
        return [DocumentInfo(name, entry.title, entry.passages, pages.get(name))
                for name, entry in sorted(manifest.items())]

    def add(self, paths: Iterable[str | Path], progress: bool = False) -> SyncReport:
        """Copy documents into the sources folder and index them. Every file is read and cut into passages
        first: a bad one raises SourceError naming it, and then nothing is copied. A file whose content is
        already indexed (under any name) is skipped. If the copy or the indexing fails, the sources folder is
        put back as it was."""
        paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        if not paths:
            raise ValueError("add() needs at least one file")
        with self._lock:
            self.retriever
            known = {f.sha256: name for name, f in self._files.items()}
            plan: list[tuple[Path, Path]] = []
            prepared: dict[str, list[Chunk]] = {}
            for path in paths:
                target = self.sources / _safe_name(path.name)
                if not path.is_file():
                    raise SourceError(f"{path}: no such file")
                doc = load_document(path, path.parent, max_bytes=self.settings.max_document_bytes,
                                    settings=self.settings)
                if doc.sha256 in known:  # already indexed, or twice in this call
                    continue
                prepared[doc.sha256] = chunk_document(doc, self.settings.max_passage_chars, self.settings.language,
                                                      self.settings.sentence_window_chars)
                known[doc.sha256] = target.name
                plan.append((path, target))
            placed = _place(plan, self.sources)
            try:
                report = self._sync(progress=progress, prepared=prepared)
            except BaseException:
                _undo(placed)
                raise
            _forget(placed)
            return report

    def remove(self, name: str, progress: bool = False) -> SyncReport:
        """Delete a document from the sources folder and drop its passages from the index (the file comes
        back if the index cannot be written)."""
        with self._lock:
            self.retriever
            if not isinstance(name, str) or name not in self._files:
                raise SourceError(f"no document named {name!r}; known: {', '.join(sorted(self._files)) or 'none'}")
            path = (self.sources / name).resolve()
            if not path.is_relative_to(self.sources.resolve()):
                raise SourceError(f"{name!r} is outside the sources folder")
            kept = path.with_name(f".{path.name}.removing")
            try:
                os.replace(path, kept)
            except OSError as exc:
                raise SourceError(f"{name}: cannot remove it from {self.sources} ({exc.strerror or exc})") from None
            try:
                report = self.load(progress=progress)
            except BaseException:
                os.replace(kept, path)
                raise
            kept.unlink(missing_ok=True)
            return report

    def ask(
        self,
        question: str,
        history: Sequence[dict[str, Any]] | None = None,
        top_k: int | None = None,
        sources: Collection[str] | None = None,
    ) -> Answer:
        """Answer `question`, using `history` (Gradio-style messages) to resolve follow-ups, optionally
        searching only the documents named in `sources`."""
        top_k = self.settings.top_k if top_k is None else top_k
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 50:
            raise ValueError(f"top_k must be an integer from 1 to 50, not {top_k!r}")
        text = clean_question(question, self.settings.max_question_chars)
        messages = clean_history(history, self.settings.max_history_messages)
        retriever = self.retriever
        if not self._files:
            raise EmptySourcesError(self.sources)
        if sources is not None:
            sources = self._check_sources(sources)
        if is_small_talk(text):
            return small_talk(text)
        scope = "document" if len(sources if sources is not None else self._files) <= 1 else "documents"

        def checked(answer: Answer) -> Answer:
            return self._checked(answer, retriever, lambda: self.ask(question, history, top_k, sources))

        if is_overview_request(text):
            return checked(overview(text, [to_passage(h) for h in retriever.openings(sources)]))
        if is_bare_why(text) and messages:
            return checked(self._why(retriever, text, messages, top_k, sources, scope))
        result = retriever.search(text, top_k, sources)
        if result.reading is not None and result.reading.foreign and not result.found:
            return not_english(text)
        query = resolve_query(text, messages, self.settings.max_question_chars,
                              name_zipf=self.settings.retrieval.english_word_zipf)
        if query != text:
            names_nothing = result.reading is None or not result.reading.words
            needs = refers_back(text, messages, self.settings.max_question_chars,
                                name_zipf=self.settings.retrieval.english_word_zipf)
            result = _prefer(result, retriever.search(query, top_k, sources, asked=text), needs or names_nothing)
        if messages:
            result = _stay_on_topic(retriever, result, messages, top_k, sources, self.settings.retrieval.topic_ratio,
                                    text)
        return checked(build_answer(text, result.query, result.hits, result.found, scope))

    def _why(self, retriever: Retriever, text: str, messages: list[dict[str, str]], top_k: int,
             sources: Collection[str] | None, scope: str) -> Answer:
        """ "Why?" after an answer: the passage that answer quoted, if it states a reason; else the passage found
        for the previous question and this one, if its answering sentence states a reason; else "doesn't say
        why". The search shown is the previous question and this one (the quoted sentence is only used to find
        the passage again)."""
        quote = previous_quote(messages)
        query = resolve_query(text, messages, self.settings.max_question_chars,
                              name_zipf=self.settings.retrieval.english_word_zipf)
        if quote is None:
            return no_reason(text, query, [], scope)
        result = retriever.search(quote, top_k, sources)
        span = reason_span(result.hits[0]) if result.found else None
        if span is not None:  # the reason is highlighted, not the sentence quoted before
            return build_answer(text, query, [replace(result.hits[0], highlight=span)], True, scope)
        elsewhere = retriever.search(query, top_k, sources, asked=text) if query != text else None
        if elsewhere is not None and elsewhere.found and states_reason(to_passage(elsewhere.hits[0]).highlight_text):
            return build_answer(text, query, elsewhere.hits[:1], True, scope)
        return no_reason(text, query, [to_passage(h) for h in result.hits[:1]], scope)

    def _check_sources(self, sources: Collection[str]) -> set[str]:
        if isinstance(sources, str):
            sources = [sources]
        wanted = set(sources)
        unknown = sorted(wanted - set(self._files))
        if unknown:
            raise ValueError(f"unknown document(s): {show_names(unknown)}; known: {show_names(sorted(self._files))}")
        return wanted


@dataclass(frozen=True)
class _Placed:
    """A file copied into the sources folder, and the file it replaced (kept aside until the index is written)."""

    target: Path
    replaced: Path | None


def _place(plan: Sequence[tuple[Path, Path]], folder: Path) -> list[_Placed]:
    """Copy each file to its target (through a hidden temporary file); on failure, undo and raise SourceError."""
    placed: list[_Placed] = []
    for path, target in plan:
        if path.resolve() == target.resolve():
            continue
        tmp = target.with_name(f".{target.name}.adding")
        kept = target.with_name(f".{target.name}.replaced")
        try:
            shutil.copyfile(path, tmp)
            if target.exists():
                os.replace(target, kept)
                placed.append(_Placed(target, kept))
            else:
                placed.append(_Placed(target, None))
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            _undo(placed)
            raise SourceError(f"{path.name}: cannot copy it into {folder} ({exc.strerror or exc}); "
                              "nothing was added") from None
    return placed


def _undo(placed: Sequence[_Placed]) -> None:
    """Put the sources folder back as it was before `_place`."""
    for item in reversed(placed):
        if item.replaced is not None and item.replaced.exists():
            os.replace(item.replaced, item.target)
        elif item.replaced is None:
            item.target.unlink(missing_ok=True)


def _forget(placed: Sequence[_Placed]) -> None:
    """Drop the replaced files kept aside: the new ones are indexed."""
    for item in placed:
        if item.replaced is not None:
            item.replaced.unlink(missing_ok=True)


def _safe_name(name: str) -> str:
    """`name` if it is a plain file name (no folders, not hidden) with a supported suffix."""
    if not name or "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or Path(name).is_absolute():
        raise SourceError(f"{name!r}: not a usable document name (no folders, no leading dot)")
    if Path(name).suffix.lower() not in READERS:
        raise SourceError(f"{name}: unsupported type; docqa reads {', '.join(sorted(READERS))}")
    return name


def _stay_on_topic(retriever: Retriever, result: SearchResult, messages: list[dict[str, str]], top_k: int,
                   sources: Collection[str] | None, topic_ratio: float, asked: str) -> SearchResult:
    """In a conversation, a question is most likely about the document the last answer quoted: when the search
    lands in another document, the same search within that document wins if it answers and is nearly as relevant
    (`RetrievalSettings.topic_ratio`), or if it is at least as relevant and the question is answerable."""
    title = previous_title(messages)
    indexed = retriever.stored.manifest.sources
    current = {name for name, entry in indexed.items() if entry.title == title} if title else set()
    if sources is not None:
        current &= set(sources)
    if not current or (result.hits and result.hits[0].chunk.source in current):
        return result
    within = retriever.search(result.query, top_k, current, asked)
    if not within.hits or not result.hits:
        return within if within.found else result
    ratio = within.hits[0].relevance / result.hits[0].relevance if result.hits[0].relevance > 0 else 0.0
    if within.found and (not result.found or ratio >= topic_ratio):
        return within
    if result.found and ratio >= 1.0:  # answerable, and this document holds a passage at least as relevant
        return replace(within, found=True, probability=result.probability, signals=result.signals)
    return result


def _prefer(alone: SearchResult, with_context: SearchResult, refers_back: bool) -> SearchResult:
    """For a follow-up, choose between searching the question alone and after the previous question's topic:
    a question that points back at something it does not name needs the context, and only the context ("When was
    it rebuilt?" about a bridge no document names is not answered with the harbour that was); one that names its
    own subject ("What about the spending target?") is searched alone, with the context only as a fallback."""
    if refers_back:
        return with_context
    return alone if alone.found or not with_context.found else with_context
