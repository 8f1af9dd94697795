"""Retrieval: dense (FAISS) and BM25 search fused by reciprocal rank, the answering sentence, and abstention."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .errors import IndexMismatchError
from .lexical import LexicalIndex
from .settings import Settings
from .store import StoredIndex
from .types import Chunk

# Abstention: a passage is relevant when its cosine plus a share of the question's distinctive wording
# that it contains clears a bar. Cosine alone separates poorly with MiniLM; wording alone misses paraphrase.
COVERAGE_WEIGHT = 0.35
RELEVANCE_BAR = 0.42
# A further passage is shown only when it is nearly as relevant as the first.
FOLLOWER_RATIO = 0.8
# A neighbouring sentence joins the highlight when it scores within this margin of the best one.
HIGHLIGHT_MARGIN = 0.03


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with the signals behind its rank."""

    chunk: Chunk
    position: int
    score: float  # reciprocal-rank fusion score
    cosine: float
    coverage: float
    highlight: tuple[int, int]

    @property
    def relevance(self) -> float:
        return self.cosine + COVERAGE_WEIGHT * self.coverage


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits; `found` says whether the best of them addresses the question."""

    query: str
    hits: list[Hit]
    found: bool


class Retriever:
    """Searches one loaded index with one embedder."""

    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings) -> None:
        self.stored = stored
        self.embedder = embedder
        self.settings = settings
        self.lexical = LexicalIndex([c.text for c in stored.chunks])

    def search(self, query: str, top_k: int, sources: Collection[str] | None = None) -> SearchResult:
        """The best `top_k` passages for `query`, best first, optionally only from `sources`."""
        chunks = self.stored.chunks
        if not chunks:
            return SearchResult(query, [], False)
        vector = self.embedder.encode_queries([query])[0]
        if vector.shape[0] != self.stored.dims:
            raise IndexMismatchError(f"the model gives {vector.shape[0]}-d vectors, the index holds "
                                     f"{self.stored.dims}-d; run `docqa index` to rebuild")
        allowed = self._allowed(sources)
        terms = self.lexical.query_terms(query)
        dense = self._dense(vector, allowed)
        lexical = self.lexical.scores(terms)
        fused = self._fuse(dense, lexical, allowed)
        hits = [self._hit(i, s, vector, terms, dense) for i, s in fused[: max(top_k * 3, 10)]]
        hits.sort(key=lambda h: (-h.score, h.position))
        if not hits:
            return SearchResult(query, [], False)
        found = hits[0].relevance >= RELEVANCE_BAR or max(h.relevance for h in hits) >= RELEVANCE_BAR
        if found:  # lead with the most relevant passage, then the fused order
            lead = max(hits, key=lambda h: (h.relevance, h.score))
            rest = [h for h in hits if h is not lead and h.relevance >= FOLLOWER_RATIO * lead.relevance]
            hits = [lead, *rest]
        return SearchResult(query, hits[:top_k], found)

    def _allowed(self, sources: Collection[str] | None) -> np.ndarray | None:
        if sources is None:
            return None
        wanted = set(sources)
        return np.array([c.source in wanted for c in self.stored.chunks], dtype=bool)

    def _dense(self, vector: np.ndarray, allowed: np.ndarray | None) -> dict[int, float]:
        index = self.stored.faiss_index
        k = min(index.ntotal, max(self.settings.candidates, 1) if allowed is None else index.ntotal)
        scores, ids = index.search(vector[None, :].astype(np.float32), k)
        out = {}
        for i, s in zip(ids[0], scores[0]):
            if i >= 0 and np.isfinite(s) and (allowed is None or allowed[i]):  # FAISS pads with -1
                out[int(i)] = float(s)
        return out

    def _fuse(self, dense: dict[int, float], lexical: np.ndarray, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        k = self.settings.rrf_k
        fused: dict[int, float] = {}
        for rank, i in enumerate(sorted(dense, key=lambda i: -dense[i])):
            fused[i] = 1.0 / (k + rank + 1)
        order = np.argsort(-lexical, kind="stable")[: self.settings.candidates]
        rank = 0
        for i in order:
            if lexical[i] <= 0:
                break
            if allowed is not None and not allowed[i]:
                continue
            fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (k + rank + 1)
            rank += 1
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))

    def _hit(self, i: int, score: float, vector: np.ndarray, terms: list[str], dense: dict[int, float]) -> Hit:
        chunk = self.stored.chunks[i]
        cosine = dense.get(i)
        if cosine is None:
            cosine = float(self.stored.faiss_index.reconstruct(i) @ vector)
        return Hit(chunk, i, score, cosine, self.lexical.coverage(terms, i),
                   self._highlight(i, chunk, vector, terms))

    def _highlight(self, i: int, chunk: Chunk, vector: np.ndarray, terms: list[str]) -> tuple[int, int]:
        """The span of the sentence (or adjacent sentences) that best answers the query."""
        spans = chunk.sentences
        if len(spans) == 1:
            return spans[0]
        from .lexical import tokenize

        cosines = self.stored.chunk_sentence_vectors(i) @ vector
        words = tokenize([chunk.text[s - chunk.start : e - chunk.start] for s, e in spans])
        scores = [float(c) + COVERAGE_WEIGHT * self.lexical.text_coverage(terms, set(w))
                  for c, w in zip(cosines, words)]
        best = int(np.argmax(scores))
        first = last = best
        if best > 0 and scores[best - 1] >= scores[best] - HIGHLIGHT_MARGIN:
            first = best - 1
        elif best + 1 < len(spans) and scores[best + 1] >= scores[best] - HIGHLIGHT_MARGIN:
            last = best + 1
        return spans[first][0], spans[last][1]
