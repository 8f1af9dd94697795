"""Assistant: loads the index once, then answers questions (with follow-ups) from it."""
from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from .answer import build_answer, small_talk
from .conversation import clean_history, clean_question, is_small_talk, looks_like_follow_up, resolve_query
from .embedding import Embedder, get_embedder
from .errors import SourceError
from .indexing import SyncReport, sync_index
from .retrieval import Retriever, SearchResult
from .settings import Settings, default_index_dir, default_sources
from .types import Answer, Document


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
        self.settings = settings or Settings()
        if not self.sources.is_dir():
            raise SourceError(f"sources folder not found: {self.sources} (create it, or set DOCQA_SOURCES)")
        self._embedder = embedder
        self._retriever: Retriever | None = None
        self._documents: dict[str, Document] = {}
        self._lock = threading.Lock()
        self.last_sync: SyncReport | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.model_name, self.settings.encode_batch_size)
        return self._embedder

    def load(self, progress: bool = False, force: bool = False) -> SyncReport:
        """Bring the index up to date with the sources (rebuilding what changed) and load it."""
        with self._lock:
            stored, documents, report = sync_index(
                self.sources, self.index_dir, self.settings, self.embedder, progress=progress, force=force
            )
            self._retriever = Retriever(stored, self.embedder, self.settings)
            self._documents = documents
            self.last_sync = report
            return report

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self.load()
        assert self._retriever is not None
        return self._retriever

    @property
    def documents(self) -> dict[str, Document]:
        """The loaded documents by name (their text is what offsets refer to)."""
        self.retriever
        return self._documents

    def ask(
        self,
        question: str,
        history: Sequence[dict[str, Any]] | None = None,
        top_k: int | None = None,
        sources: Collection[str] | None = None,
    ) -> Answer:
        """Answer `question`, using `history` (Gradio-style messages) to resolve follow-ups."""
        top_k = self.settings.top_k if top_k is None else top_k
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 50:
            raise ValueError(f"top_k must be an integer from 1 to 50, not {top_k!r}")
        text = clean_question(question, self.settings.max_question_chars)
        messages = clean_history(history, self.settings.max_history_messages)
        if sources is not None:
            sources = self._check_sources(sources)
        if is_small_talk(text):
            return small_talk(text)
        retriever = self.retriever
        result = retriever.search(text, top_k, sources)
        query = resolve_query(text, messages, self.settings.max_question_chars)
        if query != text:
            result = _prefer(result, retriever.search(query, top_k, sources), looks_like_follow_up(text))
        scope = "document" if len(self._documents) <= 1 else "documents"
        return build_answer(text, result.query, result.hits, result.found, scope)

    def _check_sources(self, sources: Collection[str]) -> set[str]:
        if isinstance(sources, str):
            sources = [sources]
        wanted = set(sources)
        unknown = sorted(wanted - set(self.documents))
        if unknown:
            raise ValueError(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(sorted(self.documents))}")
        return wanted


def _prefer(alone: SearchResult, with_context: SearchResult, leans_back: bool) -> SearchResult:
    """Choose between searching the question alone and with the previous question prepended."""
    if not with_context.found:
        return alone
    if not alone.found:
        return with_context
    best_alone = alone.hits[0].relevance
    best_context = with_context.hits[0].relevance
    return with_context if leans_back and best_context >= best_alone - 0.05 else alone
