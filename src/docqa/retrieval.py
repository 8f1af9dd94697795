"""Retrieval: dense (FAISS) and BM25 search fused by reciprocal rank, the answering sentence, and abstention."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np

from .embedding import Embedder, QueryEncoding
from .errors import IndexMismatchError
from .lexical import LexicalIndex
from .settings import Settings
from .store import StoredIndex
from .types import Chunk

# Candidates come from dense and BM25 search fused by reciprocal rank; they are then ordered by relevance:
# the mean of the passage's cosine and its best sentence's cosine, plus a share of the question's distinctive
# wording (idf-weighted) that the passage contains. Cosine alone separates answerable from off-topic questions
# poorly with MiniLM; wording alone misses paraphrase; together they give a usable bar for abstention.
COVERAGE_WEIGHT = 0.35
RELEVANCE_BAR = 0.25
# Relevance is not enough when a question names the document's subject but asks about something else
# ("What did Hegseth say about climate change?"): the question's words that the best passage lacks must
# then be supported by its meaning. Their contextual token vectors are compared with the passage's sentences.
# A passage that holds most (over half) of the question's distinctive wording needs no such check.
GROUNDED_COVERAGE = 0.5
ASPECT_BAR = 0.15
# A further passage is shown only when it clears the bar and is nearly as relevant as the first.
FOLLOWER_RATIO = 0.75
# A neighbouring sentence joins the highlight when it scores within this margin of the best one.
HIGHLIGHT_MARGIN = 0.03


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with the signals behind its rank."""

    chunk: Chunk
    position: int
    fused: float  # reciprocal-rank fusion score (candidate order)
    cosine: float  # passage vs. question
    sentence_cosine: float  # best sentence vs. question
    coverage: float  # idf-weighted share of the question's terms in the passage
    highlight: tuple[int, int] | None = None  # set only on the hits a search returns

    @property
    def relevance(self) -> float:
        """The score passages are ordered and judged by."""
        return (self.cosine + self.sentence_cosine) / 2 + COVERAGE_WEIGHT * self.coverage


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
        self.lexical = stored.lexical if stored.lexical is not None else LexicalIndex(  # saved with the index
            [[c.text[a - c.start : b - c.start] for a, b in c.sentences] for c in stored.chunks])

    def search(self, query: str, top_k: int, sources: Collection[str] | None = None) -> SearchResult:
        """The best `top_k` passages for `query`, best first, optionally only from `sources`."""
        chunks = self.stored.chunks
        if not chunks:
            return SearchResult(query, [], False)
        encoding = self.embedder.encode_query(query)
        vector = encoding.vector
        if vector.shape[0] != self.stored.dims:
            raise IndexMismatchError(f"the model gives {vector.shape[0]}-d vectors, the index holds "
                                     f"{self.stored.dims}-d; run `docqa index` to rebuild")
        allowed = self._allowed(sources)
        words = self.lexical.query_words(query)
        terms = list(dict.fromkeys(t for _, _, t in words))
        dense = self._dense(vector, allowed)
        lexical = self.lexical.scores(terms)
        fused = self._fuse(dense, lexical, allowed)
        hits = [self._hit(i, s, vector, terms, dense) for i, s in fused]
        hits.sort(key=lambda h: (-h.relevance, -h.fused, h.position))
        # Only passages that clear the bar and are grounded can answer; the best of them leads.
        answering = [h for h in hits[: max(top_k * 3, 10)]
                     if h.relevance >= RELEVANCE_BAR and self._grounded(h, encoding, words)]
        if not answering:
            return SearchResult(query, self._highlighted(hits[:top_k], vector, terms), False)
        bar = max(RELEVANCE_BAR, FOLLOWER_RATIO * answering[0].relevance)
        chosen = [h for h in answering if h.relevance >= bar][:top_k]
        return SearchResult(query, self._highlighted(chosen, vector, terms), True)

    def _grounded(self, hit: Hit, encoding: QueryEncoding, words: list[tuple[int, int, str]]) -> bool:
        """Whether the passage speaks to the part of the question that it does not share word for word."""
        if hit.coverage > GROUNDED_COVERAGE:
            return True
        present = self.lexical.passage_terms(hit.position)
        missing = encoding.part([(s, e) for s, e, t in words if t not in present])
        if missing is None:
            return True
        return float((self.stored.chunk_sentence_vectors(hit.position) @ missing).max()) >= ASPECT_BAR

    def _allowed(self, sources: Collection[str] | None) -> np.ndarray | None:
        if sources is None:
            return None
        wanted = set(sources)
        return np.array([c.source in wanted for c in self.stored.chunks], dtype=bool)

    def _dense(self, vector: np.ndarray, allowed: np.ndarray | None) -> dict[int, float]:
        index = self.stored.faiss_index
        query = vector[None, :].astype(np.float32)
        if allowed is None:
            scores, ids = index.search(query, min(index.ntotal, self.settings.candidates))
        else:  # only the chosen documents' passages, searched inside FAISS (no scan of the rest)
            from .ann import search_params

            wanted = int(allowed.sum())
            if not wanted:
                return {}
            k = min(wanted, self.settings.candidates)
            scores, ids = index.search(query, k, params=search_params(index, allowed))
        out = {}
        for i, s in zip(ids[0], scores[0]):
            if i >= 0 and np.isfinite(s):  # FAISS pads with -1
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
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[: self.settings.candidates]

    def _hit(self, i: int, score: float, vector: np.ndarray, terms: list[str], dense: dict[int, float]) -> Hit:
        cosine = dense.get(i)
        if cosine is None:
            cosine = float(self.stored.faiss_index.reconstruct(i) @ vector)
        sentence_cosine = float((self.stored.chunk_sentence_vectors(i) @ vector).max())
        return Hit(self.stored.chunks[i], i, score, cosine, sentence_cosine, self.lexical.coverage(terms, i))

    def _highlighted(self, hits: list[Hit], vector: np.ndarray, terms: list[str]) -> list[Hit]:
        return [replace(h, highlight=self._highlight(h.position, vector, terms)) for h in hits]

    def _highlight(self, i: int, vector: np.ndarray, terms: list[str]) -> tuple[int, int]:
        """The span of the sentence (or two adjacent sentences) of passage `i` that best answers the query."""
        spans = self.stored.chunks[i].sentences
        if len(spans) == 1:
            return spans[0]
        cosines = self.stored.chunk_sentence_vectors(i) @ vector
        scores = [float(c) + COVERAGE_WEIGHT * self.lexical.text_coverage(terms, words)
                  for c, words in zip(cosines, self.lexical.sentence_terms(i))]
        best = int(np.argmax(scores))
        first = last = best
        if best > 0 and scores[best - 1] >= scores[best] - HIGHLIGHT_MARGIN:
            first = best - 1
        elif best + 1 < len(spans) and scores[best + 1] >= scores[best] - HIGHLIGHT_MARGIN:
            last = best + 1
        return spans[first][0], spans[last][1]
