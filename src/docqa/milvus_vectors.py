"""The vectors of a Milvus generation, served from Milvus instead of held in memory.

`Retriever` and the highlight use three things of a loaded index that hold vectors:

    stored.faiss_index          .search(query, k[, params]), .search_params(mask), .reconstruct(i), .ntotal
    stored.sentence_vectors     len(), rows i..j (via chunk_sentence_vectors), .best_sentence_cosines (null cosine)
    stored.passage_vectors()    .reconstruct_n (an incremental build reusing unchanged documents)

`MilvusVectors` gives both objects for one generation. Dense search is a Milvus search (FLAT, inner product:
exact, like the folder's IndexFlatIP) that also returns the hits' vectors. The first vector a question lacks
fetches, in one `get` per collection, the sentence vectors of the dense hits and the vectors and sentence vectors
of BM25's candidates (their scores come from this module's `LexicalIndex` subclass, which notes them): the
candidates `Retriever._fuse` takes. So a question costs about three round trips: the search and two `get`s.
What is fetched stays in a bounded LRU cache (`CACHE_PASSAGES` passages, ~10 MB at 384 dims). The null cosine
(`StoredIndex.best_sentence_cosines`) is one Milvus search of the question bank with limit 1. A search limited to
some passages (`ann.search_params` asks the index for its own parameters) becomes a filter on document keys and,
for a document only partly admitted, ordinals.

A replica then holds passages' text, offsets and BM25 in memory, but no vectors.
"""
from __future__ import annotations

import bisect
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import StoreError
from .lexical import LexicalIndex
from .types import Chunk

if TYPE_CHECKING:
    from .milvus_store import MilvusStore

CACHE_PASSAGES = 4096  # passages whose vector and sentence vectors stay cached (~10 MB at 384 dims, 5 sentences)
GET_BATCH = 2048  # ids per `get` call


class MilvusVectors:
    """Dense search and vectors of one generation (its documents, in order), read from Milvus on demand."""

    def __init__(self, store: MilvusStore, dims: int, docs: Sequence[tuple[str, int]], chunks: Sequence[Chunk],
                 sentence_rows: np.ndarray, cache: int = CACHE_PASSAGES) -> None:
        self.store = store
        self.dims = dims
        self.keys = [k for k, _ in docs]
        self.starts = [0]
        for _, n in docs:
            self.starts.append(self.starts[-1] + n)
        self.first = {k: s for k, s in zip(self.keys, self.starts)}
        self.sentence_counts = [len(c.sentences) for c in chunks]
        self.sentence_rows = sentence_rows
        self.passages = target_name(store, "p", dims)
        self.sentence_collection = target_name(store, "s", dims)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._capacity = cache
        self._lock = threading.Lock()
        self._hint = threading.local()  # this thread's last dense hits and BM25 scores: what the next misses need
        self._exclusive = True  # until a search meets rows of another generation: no generation filter needed
        self.calls = 0  # round trips to Milvus, for the bench
        self.dense = MilvusDenseIndex(self)
        self.sentences = MilvusSentenceVectors(self)

    @property
    def ntotal(self) -> int:
        return self.starts[-1]

    # ------------------------------------------------------------ positions and filters

    def locate(self, i: int) -> tuple[str, int]:
        """(doc_key, ordinal) of passage position `i`."""
        if not 0 <= i < self.ntotal:
            raise IndexError(f"passage {i} of {self.ntotal}")
        d = bisect.bisect_right(self.starts, i) - 1
        return self.keys[d], i - self.starts[d]

    def generation_filter(self) -> str:
        return f"doc_key in {json.dumps(self.keys)}"

    def allowed_filter(self, allowed: np.ndarray) -> str | None:
        """A Milvus filter for the passages the boolean mask `allowed` admits; None when it admits none: whole
        documents by key, others by key and ordinal."""
        whole, parts = [], []
        for key, a, b in zip(self.keys, self.starts, self.starts[1:]):
            inside = allowed[a:b]
            if b == a or not inside.any():
                continue
            if inside.all():
                whole.append(key)
            else:
                parts.append(f'(doc_key == "{key}" and ordinal in {json.dumps(np.flatnonzero(inside).tolist())})')
        if whole:
            parts.insert(0, f"doc_key in {json.dumps(whole)}")
        return " or ".join(parts) or None

    # ------------------------------------------------------------ search

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's answer shape: (scores, ids), each (nq, k), padded as FAISS pads (-FLT_MAX, -1)."""
        query = np.asarray(query, dtype=np.float32).reshape(-1, self.dims)
        scores = np.full((len(query), k), -np.finfo(np.float32).max, dtype=np.float32)
        ids = np.full((len(query), k), -1, dtype=np.int64)
        if k <= 0 or not self.ntotal:
            return scores, ids
        expr = None
        if allowed is not None:
            expr = self.allowed_filter(allowed)  # lists live documents only: no generation filter needed
            if expr is None:
                return scores, ids
        hits = self._search(query, k, expr, allowed is not None)
        found: list[int] = []
        for row, result in enumerate(hits):
            for col, h in enumerate(result[:k]):
                e = h["entity"]
                i = self.first[e["doc_key"]] + int(e["ordinal"])
                scores[row, col], ids[row, col] = h["distance"], i
                found.append(i)
                self._put(i, np.asarray(e["dense"], dtype=np.float32), None)
        self._hint.dense, self._hint.k, self._hint.allowed = found, k, allowed
        return scores, ids

    def _search(self, query: np.ndarray, k: int, expr: str | None, scoped: bool) -> list[list[dict[str, Any]]]:
        """Unfiltered while this generation's documents are all the collection holds (checked on each answer:
        a hit from another generation switches to the generation filter for good)."""
        fields = ["doc_key", "ordinal", "dense"]
        if not scoped and self._exclusive:
            hits = self._call_search(self.passages, query, "dense", k, "", fields)
            if all(h["entity"]["doc_key"] in self.first for result in hits for h in result):
                return hits
            self._exclusive = False
        if not scoped:
            expr = self.generation_filter()
        return self._call_search(self.passages, query, "dense", k, expr or "", fields)

    def _call_search(self, name: str, query: np.ndarray, field: str, k: int, expr: str,
                     fields: list[str]) -> list[list[dict[str, Any]]]:
        self.calls += 1
        return self.store._call("searching", self.store.client.search, name, data=query.tolist(), anns_field=field,
                                search_params={"metric_type": "IP"}, limit=k, filter=expr, output_fields=fields)

    def best_sentence(self, bank: np.ndarray) -> np.ndarray:
        """Each row of `bank`'s best inner product with any sentence vector of this generation."""
        bank = np.asarray(bank, dtype=np.float32).reshape(-1, self.dims)
        expr = "" if self._exclusive else self.generation_filter()
        hits = self._call_search(self.sentence_collection, bank, "vector", 1, expr, ["doc_key"])
        if expr == "" and not all(h["entity"]["doc_key"] in self.first for result in hits for h in result):
            self._exclusive = False
            hits = self._call_search(self.sentence_collection, bank, "vector", 1, self.generation_filter(),
                                     ["doc_key"])
        return np.asarray([[result[0]["distance"] if result else -np.inf] for result in hits], dtype=np.float32)

    # ------------------------------------------------------------ vectors by position

    def passage(self, i: int) -> np.ndarray:
        got = self._get(i)
        if got is None or got[0] is None:
            self._miss(i)
            got = self._get(i)
        assert got is not None
        return got[0]

    def sentence_block(self, i: int) -> np.ndarray:
        """The sentence vectors of passage `i`."""
        got = self._get(i)
        if got is None or got[1] is None:
            self._miss(i)
            got = self._get(i)
        assert got is not None and got[1] is not None
        return got[1]

    def rows(self, first: int, last: int) -> np.ndarray:
        """Sentence vector rows first .. last (as the folder's sentences.npy would give them)."""
        if first >= last:
            return np.zeros((0, self.dims), np.float32)
        a = int(np.searchsorted(self.sentence_rows, first, side="right")) - 1
        b = int(np.searchsorted(self.sentence_rows, last, side="left"))
        out = []
        for at in range(a, b, GET_BATCH // 8):
            span = list(range(at, min(b, at + GET_BATCH // 8)))
            blocks = self._sentence_blocks(span)
            out.extend(blocks[i] for i in span)
        block = np.concatenate(out) if out else np.zeros((0, self.dims), np.float32)
        offset = first - int(self.sentence_rows[a])
        return block[offset : offset + last - first]

    def passages_range(self, first: int, count: int) -> np.ndarray:
        out = []
        for at in range(first, first + count, GET_BATCH):
            span = list(range(at, min(first + count, at + GET_BATCH)))
            vectors = self._passage_vectors(span)
            out.extend(vectors[i] for i in span)
        return np.asarray(out, dtype=np.float32).reshape(count, self.dims)

    def _miss(self, i: int) -> None:
        """Fetch `i` and, in the same calls, the other candidates this question will look at: the dense hits
        (their vectors came with the search; their sentence vectors not yet) and BM25's top passages (as
        `Retriever._fuse` takes them). A question costs the search and two `get`s: passage vectors, sentence
        vectors."""
        wanted = [i]
        wanted.extend(getattr(self._hint, "dense", ()))
        scores = getattr(self._hint, "scores", None)
        k = getattr(self._hint, "k", 0)
        if scores is not None and k and len(scores) == self.ntotal:
            allowed = getattr(self._hint, "allowed", None)
            for j in np.argsort(-scores, kind="stable")[:k]:
                if scores[j] <= 0:
                    break
                if allowed is None or allowed[j]:
                    wanted.append(int(j))
        self._hint.dense, self._hint.scores = (), None  # used once: the next miss is another question's
        wanted = list(dict.fromkeys(wanted))
        cached = {j: self._get(j) for j in wanted}
        self._fetch([j for j in wanted if cached[j] is None or cached[j][0] is None],
                    [j for j in wanted if cached[j] is None or cached[j][1] is None])

    # ------------------------------------------------------------ fetching and the cache

    def _get(self, i: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        with self._lock:
            got = self._cache.get(i)
            if got is not None:
                self._cache.move_to_end(i)
            return got

    def _put(self, i: int, vector: np.ndarray | None, sentences: np.ndarray | None) -> None:
        with self._lock:
            old = self._cache.pop(i, None)
            if old is not None:
                vector = old[0] if vector is None else vector
                sentences = old[1] if sentences is None else sentences
            self._cache[i] = (vector, sentences)  # type: ignore[assignment]
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)

    def _fetch(self, vectors_of: list[int], sentences_of: list[int]) -> None:
        if vectors_of:
            for i, vector in self._passage_vectors(vectors_of).items():
                self._put(i, vector, None)
        if sentences_of:
            for i, block in self._sentence_blocks(sentences_of).items():
                self._put(i, None, block)

    def _passage_vectors(self, positions: list[int]) -> dict[int, np.ndarray]:
        """Passage vectors by primary key, a batch per `get`."""
        pks = {f"{k}:{o}": i for i, (k, o) in ((i, self.locate(i)) for i in positions)}
        out: dict[int, np.ndarray] = {}
        for row in self._get_rows(self.passages, list(pks), "dense"):
            out[pks[row["pk"]]] = np.asarray(row["dense"], dtype=np.float32)
        lost = [i for i in positions if i not in out]
        if lost:
            raise self._gone(lost[0], "its vector")
        return out

    def _sentence_blocks(self, positions: list[int]) -> dict[int, np.ndarray]:
        """Each passage's sentence vectors, in order, by primary key, a batch per `get`."""
        pks: dict[str, tuple[int, int]] = {}
        for i in positions:
            k, o = self.locate(i)
            for s in range(self.sentence_counts[i]):
                pks[f"{k}:{o}:{s}"] = (i, s)
        parts: dict[int, dict[int, list[float]]] = {i: {} for i in positions}
        for row in self._get_rows(self.sentence_collection, list(pks), "vector"):
            i, s = pks[row["pk"]]
            parts[i][s] = row["vector"]
        out = {}
        for i in positions:
            if len(parts[i]) != self.sentence_counts[i]:
                raise self._gone(i, f"{self.sentence_counts[i] - len(parts[i])} of its sentence vectors")
            out[i] = np.asarray([parts[i][s] for s in range(self.sentence_counts[i])],
                                dtype=np.float32).reshape(-1, self.dims)
        return out

    def _get_rows(self, name: str, pks: list[str], field: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for at in range(0, len(pks), GET_BATCH):
            self.calls += 1
            rows = self.store._call("reading vectors", self.store.client.get, name, ids=pks[at : at + GET_BATCH],
                                    output_fields=["pk", field])
            out.extend(dict(r) for r in rows)
        return out

    def _gone(self, i: int, what: str) -> StoreError:
        key, ordinal = self.locate(i)
        loc = self.store.location
        return StoreError(f"{loc}: passage {ordinal} of document {key[:12]} lost {what} (a newer build deleted "
                          f"this generation, or the collection was changed); run `docqa index --store {loc}`")

    def note_scores(self, scores: np.ndarray) -> None:
        self._hint.scores = scores


def target_name(store: MilvusStore, kind: str, dims: int) -> str:
    return store.target.collection(kind, dims)


@dataclass(frozen=True)
class AllowedPassages:
    """Search parameters that limit a Milvus-served search to the passages a boolean mask admits (what
    `ann.search_params` returns for a `MilvusDenseIndex`)."""

    allowed: np.ndarray


class MilvusDenseIndex:
    """What `Retriever` uses of a FAISS index, answered by Milvus: `search`, `reconstruct`, `reconstruct_n`,
    `ntotal`, `d`, and `search_params` (a mask of allowed passages becomes a Milvus filter)."""

    def __init__(self, vectors: MilvusVectors) -> None:
        self._v = vectors
        self.d = vectors.dims

    @property
    def ntotal(self) -> int:
        return self._v.ntotal

    def search_params(self, allowed: np.ndarray) -> AllowedPassages:
        return AllowedPassages(np.asarray(allowed, dtype=bool))

    def search(self, query: np.ndarray, k: int, params: AllowedPassages | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._v.search(query, int(k), None if params is None else params.allowed)

    def reconstruct(self, i: int) -> np.ndarray:
        return self._v.passage(int(i)).copy()

    def reconstruct_n(self, first: int, count: int) -> np.ndarray:
        return self._v.passages_range(int(first), int(count))


class MilvusSentenceVectors:
    """The generation's sentence vectors as `StoredIndex.sentence_vectors`: len(), shape, slices of rows (one
    passage's rows come from the cache), and each query's best sentence (`best_sentence_cosines`)."""

    __array_ufunc__ = None  # numpy defers `ndarray @ this` to __rmatmul__ instead of converting it

    def __init__(self, vectors: MilvusVectors) -> None:
        self._v = vectors
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return int(self._v.sentence_rows[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), self._v.dims

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("Milvus sentence vectors are read by row ranges (vectors[a:b])")
        first, last, _ = item.indices(len(self))
        rows = self._v.sentence_rows
        p = int(np.searchsorted(rows, first, side="right")) - 1
        if 0 <= p < len(rows) - 1 and rows[p] == first and rows[p + 1] == last:  # one passage: via the cache
            return self._v.sentence_block(p)
        return self._v.rows(first, last)

    def best_sentence_cosines(self, queries: np.ndarray) -> np.ndarray:
        """Each query's best inner product with any sentence vector of this generation (one Milvus search)."""
        return self._v.best_sentence(queries)[:, 0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Milvus sentence vectors are not held in memory; read row ranges (vectors[a:b])")


class MilvusLexicalIndex(LexicalIndex):
    """docqa's BM25 (in memory), noting each question's scores so the vectors of BM25's candidates can be
    fetched together (`MilvusVectors._miss`)."""

    vectors: MilvusVectors | None = None

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        out = super().scores(terms)
        if self.vectors is not None:
            self.vectors.note_scores(out)
        return out
