"""Assistant: loads the index once, then answers questions (with follow-ups) from it."""
from __future__ import annotations

import shutil
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .answer import build_answer, small_talk
from .conversation import clean_history, clean_question, is_small_talk, resolve_query
from .embedding import Embedder, get_embedder
from .errors import EmptySourcesError, SourceError
from .indexing import SyncReport, sync_index
from .retrieval import Retriever, SearchResult
from .settings import Settings, default_index_dir, default_sources
from .sources import READERS, SourceFile, file_sha256, load_document, show_names
from .types import Answer, Document


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
    ) -> None:
        self.sources = Path(sources) if sources is not None else default_sources()
        self.index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        self.settings = settings or Settings()  # no disk access here: a missing folder is an error on first use
        self._embedder = embedder
        self._retriever: Retriever | None = None
        self._files: dict[str, SourceFile] = {}
        self._documents: dict[tuple[str, str], Document] = {}
        self._lock = threading.RLock()
        self.last_sync: SyncReport | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.model_name, self.settings.encode_batch_size)
        return self._embedder

    def load(self, progress: bool = False, force: bool = False) -> SyncReport:
        """Bring the index up to date with the sources (embedding only what changed) and load it."""
        with self._lock:
            stored, files, report = sync_index(
                self.sources, self.index_dir, self.settings, self.embedder, progress=progress, force=force
            )
            self._retriever = Retriever(stored, self.embedder, self.settings)
            self._retriever.search("warm up", 1)  # the first encode pays for torch's lazy set-up: not a user
            indexed = stored.manifest["sources"]
            self._files = {name: f for name, f in files.items() if name in indexed}
            self.last_sync = report
            return report

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self.load()
        assert self._retriever is not None
        return self._retriever

    def document(self, name: str) -> Document:
        """An indexed document, read on first request (its text is what offsets refer to)."""
        self.retriever
        source = self._files.get(name)
        if source is None:
            raise SourceError(f"no document named {name!r}; known: {', '.join(sorted(self._files)) or 'none'}")
        key = (name, source.sha256)
        if key not in self._documents:
            self._documents[key] = load_document(source.path, self.sources)
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
        manifest = self.retriever.stored.manifest["sources"]
        pages: dict[str, int] = {}
        for chunk in self.retriever.stored.chunks:
            if chunk.page is not None:
                pages[chunk.source] = max(pages.get(chunk.source, 0), chunk.page)
        return [DocumentInfo(name, entry["title"], entry["passages"], pages.get(name))
                for name, entry in sorted(manifest.items())]

    def add(self, paths: Iterable[str | Path], progress: bool = False) -> SyncReport:
        """Copy documents into the sources folder and index them. Every file is checked first: a bad one
        raises SourceError naming it, and then nothing is copied. A file whose content is already indexed
        (under any name) is skipped."""
        paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        if not paths:
            raise ValueError("add() needs at least one file")
        with self._lock:
            self.retriever
            known = {f.sha256: name for name, f in self._files.items()}
            plan: list[tuple[Path, Path]] = []
            for path in paths:
                target = self.sources / _safe_name(path.name)
                if not path.is_file():
                    raise SourceError(f"{path}: no such file")
                load_document(path, path.parent, max_bytes=self.settings.max_document_bytes)  # validates
                digest = file_sha256(path)
                if digest in known:  # already indexed, or twice in this call
                    continue
                known[digest] = target.name
                plan.append((path, target))
            for path, target in plan:
                if path.resolve() != target.resolve():
                    tmp = target.with_name(f".{target.name}.adding")
                    shutil.copyfile(path, tmp)
                    tmp.replace(target)
            return self.load(progress=progress)

    def remove(self, name: str, progress: bool = False) -> SyncReport:
        """Delete a document from the sources folder and drop its passages from the index."""
        with self._lock:
            self.retriever
            if not isinstance(name, str) or name not in self._files:
                raise SourceError(f"no document named {name!r}; known: {', '.join(sorted(self._files)) or 'none'}")
            path = (self.sources / name).resolve()
            if not path.is_relative_to(self.sources.resolve()):
                raise SourceError(f"{name!r} is outside the sources folder")
            path.unlink()
            return self.load(progress=progress)

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
        result = retriever.search(text, top_k, sources)
        query = resolve_query(text, messages, self.settings.max_question_chars)
        if query != text:
            result = _prefer(result, retriever.search(query, top_k, sources))
        scope = "document" if len(sources if sources is not None else self._files) <= 1 else "documents"
        return build_answer(text, result.query, result.hits, result.found, scope)

    def _check_sources(self, sources: Collection[str]) -> set[str]:
        if isinstance(sources, str):
            sources = [sources]
        wanted = set(sources)
        unknown = sorted(wanted - set(self._files))
        if unknown:
            raise ValueError(f"unknown document(s): {show_names(unknown)}; known: {show_names(sorted(self._files))}")
        return wanted


def _safe_name(name: str) -> str:
    """`name` if it is a plain file name (no folders, not hidden) with a supported suffix."""
    if not name or "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or Path(name).is_absolute():
        raise SourceError(f"{name!r}: not a usable document name (no folders, no leading dot)")
    if Path(name).suffix.lower() not in READERS:
        raise SourceError(f"{name}: unsupported type; docqa reads {', '.join(sorted(READERS))}")
    return name


def _prefer(alone: SearchResult, with_context: SearchResult) -> SearchResult:
    """For a follow-up, choose between searching the question alone and joined to the previous question:
    the one that finds an answer, and with context unless the question alone is clearly better grounded."""
    if not with_context.found:
        return alone
    if not alone.found:
        return with_context
    return with_context if with_context.hits[0].relevance >= alone.hits[0].relevance - 0.05 else alone
