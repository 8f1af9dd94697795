"""Milvus store: everything the FAISS folder holds, kept in Milvus collections and updated in place.

A document's passages and sentence vectors are written once under a content key (a hash of its passages and
vectors), and a `doc:` row marks them complete. A generation is committed by inserting one `head:` row that
lists the documents it holds, in order, with the manifest. Readers follow the newest head, so a build that dies
before its head leaves the previous generation answerable, and an unchanged document is neither embedded nor
written again. What no head refers to any more is deleted after each commit (and by `recover`).

Answers come from docqa's own ranking over what `read` loads: the passages (text, offsets, sentence spans) and
BM25 in memory, as the folder has them, and the vectors left in Milvus: dense search, passage and sentence
vectors are Milvus searches and batched, cached fetches (`milvus_vectors`), so a replica holds no vectors.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import IndexMismatchError, StoreError
from .milvus_schema import MilvusTarget, connect, create_collections, reason
from .types import Chunk

if TYPE_CHECKING:
    from .manifest import Manifest
    from .store import StoredIndex

log = logging.getLogger("docqa")

HEAD = "head:"
DOC = "doc:"
INSERT_BATCH = 500  # rows per insert call: well under a server's 64 MB gRPC message at 384 dims
READ_LIMIT = 16_384  # a Milvus server's cap on the rows one query returns (maxQueryResultWindow)
KEEP_HEADS = 2  # the live head and the one before, so a reader that just read the old one can finish


@dataclass(frozen=True)
class Snapshot:
    """One committed generation read back: the manifest and every passage with its vectors, in order."""

    version: str
    manifest: str  # the manifest's JSON, as the writer committed it
    chunks: list[Chunk]
    passage_vectors: np.ndarray | None  # None when read without vectors
    sentence_vectors: np.ndarray | None
    dims: int = 0


class MilvusStore:
    """The Milvus collections of one `MilvusTarget`, read and written by generation."""

    def __init__(self, target: MilvusTarget) -> None:
        self.target = target
        self.location = target.label
        self._client: Any = None
        self._lock = threading.RLock()
        self._build_lock = threading.RLock()
        self.live: list[tuple[str, int]] = []  # (doc_key, passages) of the last generation read, in order

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.target)
        return self._client

    def _call(self, what: str, call, *args: Any, **kwargs: Any) -> Any:
        """A pymilvus call whose failure becomes one StoreError naming the store and the fix."""
        try:
            return call(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:  # MilvusException and grpc errors: server gone, collection dropped, ...
            raise StoreError(f"{self.location}: {what} failed ({reason(exc)}); check that Milvus is running, "
                             f"then run `docqa index --store {self.location}`") from exc

    # ------------------------------------------------------------ reading

    def _heads(self) -> list[dict[str, Any]]:
        meta = self.target.collection("meta")
        if not self._call("listing collections", self.client.has_collection, meta):
            return []
        self._call("loading the collection", self.client.load_collection, meta)
        rows = self._call("reading the generations", self.client.query, meta,
                          filter=f'key like "{HEAD}%"', output_fields=["key", "value"])
        return sorted(rows, key=lambda r: r["key"])

    def current_version(self) -> str | None:
        """The newest committed generation's key (a cheap query; None when nothing is committed)."""
        meta = self.target.collection("meta")
        if not self._call("listing collections", self.client.has_collection, meta):
            return None
        rows = self._call("reading the generations", self.client.query, meta,
                          filter=f'key like "{HEAD}%"', output_fields=["key"])
        return max((r["key"] for r in rows), default=None)

    def snapshot(self, dims: int | None = None, vectors: bool = True) -> Snapshot:
        """The newest generation, checked: every listed document complete, counts as the head says. Without
        `vectors`, the passages only (what a replica holds; `read`)."""
        with self._lock:
            for attempt in range(3):
                heads = self._heads()
                if not heads:
                    raise StoreError(f"{self.location}: no index in collection {self.target.name!r} "
                                     f"(run `docqa index --store {self.location}`)")
                head = heads[-1]
                try:
                    return self._read_head(head, dims, vectors)
                except IndexMismatchError:
                    raise
                except StoreError:  # a newer commit may have deleted what this head lists: read the newer one
                    if attempt == 2 or self.current_version() == head["key"]:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_head(self, head: dict[str, Any], want_dims: int | None, vectors: bool = True) -> Snapshot:
        """The generation `head` lists, checked complete. Without `vectors`, the passages only (text, offsets,
        spans), and the sentence vectors counted in Milvus, not read."""
        value = head["value"]
        try:
            manifest = str(value["manifest"])
            dims = int(value["dims"])
            docs = [(str(s), str(k), int(n), int(m)) for s, k, n, m in value["docs"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{self.location}: generation {head['key']} is unreadable ({exc}); "
                             f"run `docqa index --store {self.location}`") from exc
        if want_dims is not None and dims != want_dims:
            raise IndexMismatchError(f"{self.location}: built with {dims}-d vectors, the model gives {want_dims}; "
                                     f"run `docqa index --store {self.location}` to rebuild")
        fields = ["doc_key", "ordinal", "source", "text", "info"] + (["dense"] if vectors else [])
        passages = self._rows(self.target.collection("p", dims), [(k, n) for _, k, n, _ in docs], fields)
        by_doc: dict[str, list[dict[str, Any]]] = {}
        for row in passages:
            by_doc.setdefault(row["doc_key"], []).append(row)
        sentences_by: dict[tuple[str, int], list[tuple[int, list[float]]]] = {}
        if vectors:
            sentences = self._rows(self.target.collection("s", dims), [(k, m) for _, k, _, m in docs],
                                   ["pk", "doc_key", "ordinal", "vector"])
            for row in sentences:
                k = int(row["pk"].rsplit(":", 1)[1])
                sentences_by.setdefault((row["doc_key"], int(row["ordinal"])), []).append((k, row["vector"]))
            counted: dict[str, int] = {}
            for (key, _), own in sentences_by.items():
                counted[key] = counted.get(key, 0) + len(own)
        else:
            counted = self._counts(self.target.collection("s", dims), [(k, m) for _, k, _, m in docs])
        chunks: list[Chunk] = []
        passage_vectors: list[list[float]] = []
        sentence_vectors: list[list[float]] = []
        for source, key, count, sentence_count in docs:
            rows = sorted(by_doc.get(key, []), key=lambda r: r["ordinal"])
            got = counted.get(key, 0)
            if len(rows) != count or got != sentence_count:
                raise StoreError(f"{self.location}: document {source!r} is half-written ({len(rows)} of {count} "
                                 f"passages, {got} of {sentence_count} sentence vectors); "
                                 f"run `docqa index --store {self.location}` to rebuild")
            for row in rows:
                chunk = _chunk(row)
                chunks.append(chunk)
                if not vectors:
                    continue
                own = sorted(sentences_by.get((key, row["ordinal"]), []))
                if len(own) != len(chunk.sentences):
                    raise StoreError(f"{self.location}: passage {row['ordinal']} of {source!r} has {len(own)} "
                                     f"sentence vectors for {len(chunk.sentences)} sentences; run `docqa index`")
                passage_vectors.append(row["dense"])
                sentence_vectors.extend(v for _, v in own)
        self.live = [(key, count) for _, key, count, _ in docs]
        return Snapshot(head["key"], manifest, chunks, _matrix(passage_vectors, dims) if vectors else None,
                        _matrix(sentence_vectors, dims) if vectors else None, dims)

    def _counts(self, collection: str, docs: list[tuple[str, int]]) -> dict[str, int]:
        """Rows per document in `collection`: one count(*) per batch of documents, and per document only when a
        batch's total is not what the head says (to name the document that is short)."""
        if not self._call("listing collections", self.client.has_collection, collection):
            raise StoreError(f"{self.location}: collection {collection} is missing; "
                             f"run `docqa index --store {self.location}` to rebuild")
        self._call("loading the collection", self.client.load_collection, collection)

        def count(keys: list[str]) -> int:
            rows = self._call("counting sentence vectors", self.client.query, collection,
                              filter=f"doc_key in {json.dumps(keys)}", output_fields=["count(*)"])
            return int(rows[0]["count(*)"]) if rows else 0

        out: dict[str, int] = {}
        for at in range(0, len(docs), 500):
            batch = docs[at : at + 500]
            if count([k for k, _ in batch]) == sum(n for _, n in batch):
                out.update(batch)
            else:
                out.update((k, count([k])) for k, _ in batch)
        return out

    def search(self, vector: np.ndarray | None, text: str | None, limit: int, rrf_k: int = 60,
               sources: Sequence[str] | None = None) -> list[int]:
        """Milvus's own candidate search over the last generation read: dense (inner product), BM25 over the
        text field, or both fused by RRF; optionally only `sources`. Returns passage positions, best first.
        (docqa answers with its own ranking; this measures how far Milvus alone gets, in the bench.)"""
        from pymilvus import AnnSearchRequest, RRFRanker

        positions, at = {}, 0
        for key, count in self.live:
            positions[key] = at
            at += count
        expr = f"doc_key in {json.dumps(list(positions))}"
        if sources is not None:
            expr += f" and source in {json.dumps(list(sources))}"
        name = self.target.collection("p", len(vector) if vector is not None else self._dims())
        requests = []
        if vector is not None:
            requests.append(AnnSearchRequest([vector.tolist()], "dense", {"metric_type": "IP"}, limit, expr=expr))
        if text:
            requests.append(AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, limit, expr=expr))
        if not requests:
            return []
        if len(requests) == 1:
            r = requests[0]
            hits = self._call("searching", self.client.search, name, data=r.data, anns_field=r.anns_field,
                              search_params=r.param, limit=limit, filter=expr, output_fields=["doc_key", "ordinal"])
        else:
            hits = self._call("searching", self.client.hybrid_search, name, requests, RRFRanker(rrf_k), limit=limit,
                              output_fields=["doc_key", "ordinal"])
        return [positions[h["entity"]["doc_key"]] + int(h["entity"]["ordinal"]) for h in hits[0]]

    def _dims(self) -> int:
        heads = self._heads()
        return int(heads[-1]["value"]["dims"])

    def _rows(self, collection: str, docs: list[tuple[str, int]], fields: list[str]) -> list[dict[str, Any]]:
        """Every row of the documents `docs` ((doc_key, expected rows) each), a few documents per query.
        A server caps one query at 16,384 rows (and Lite has no query iterator), so a query that comes back
        full is split in two, down to ranges of one document's passages."""
        if not docs:
            return []
        if not self._call("listing collections", self.client.has_collection, collection):
            raise StoreError(f"{self.location}: collection {collection} is missing; "
                             f"run `docqa index --store {self.location}` to rebuild")
        self._call("loading the collection", self.client.load_collection, collection)
        out: list[dict[str, Any]] = []
        batch: list[tuple[str, int, int]] = []
        rows = 0
        for key, expected in docs:
            if batch and rows + expected > READ_LIMIT // 2:
                out.extend(self._query_pieces(collection, batch, fields))
                batch, rows = [], 0
            batch.append((key, 0, 1 << 62))
            rows += expected
        out.extend(self._query_pieces(collection, batch, fields))
        return out

    def _query_pieces(self, collection: str, pieces: list[tuple[str, int, int]],
                      fields: list[str]) -> list[dict[str, Any]]:
        """Rows of (doc_key, first ordinal, end ordinal) pieces; split when a query comes back full."""
        expr = " or ".join(f'(doc_key == "{k}" and ordinal >= {a} and ordinal < {b})' for k, a, b in pieces)
        rows = self._call("reading passages", self.client.query, collection, filter=expr, output_fields=fields,
                          limit=READ_LIMIT)
        if len(rows) < READ_LIMIT:
            return [dict(r) for r in rows]  # pymilvus fills vector fields lazily, on iteration: copy them now
        if len(pieces) > 1:
            half = len(pieces) // 2
            return (self._query_pieces(collection, pieces[:half], fields)
                    + self._query_pieces(collection, pieces[half:], fields))
        key, a, b = pieces[0]
        top = max(int(r["ordinal"]) for r in rows) + 1 if b >= 1 << 62 else b
        if top - a <= 1:
            raise StoreError(f"{self.location}: one passage has over {READ_LIMIT} rows in {collection}; "
                             f"run `docqa index --store {self.location}` to rebuild")
        middle = (a + top) // 2
        return (self._query_pieces(collection, [(key, a, middle)], fields)
                + self._query_pieces(collection, [(key, middle, b)], fields))

    def read(self, dims: int | None = None) -> StoredIndex:
        """The newest generation as a StoredIndex (its `version` is the generation's key). Passages' text,
        offsets and BM25 are in memory, as the folder has them; the vectors stay in Milvus: the FAISS index and
        the sentence vectors are `milvus_vectors` objects that search and fetch them (batched, cached)."""
        from .manifest import Manifest
        from .milvus_vectors import MilvusLexicalIndex, MilvusVectors
        from .store import StoredIndex

        snap = self.snapshot(dims, vectors=False)
        manifest = Manifest.from_json(snap.manifest, Path(self.location))
        if manifest.passage_count != len(snap.chunks):
            raise StoreError(f"{self.location}: {len(snap.chunks)} passages, the manifest says "
                             f"{manifest.passage_count}; run `docqa index --store {self.location}` to rebuild")
        rows = np.zeros(len(snap.chunks) + 1, dtype=np.int64)
        np.cumsum([len(c.sentences) for c in snap.chunks], out=rows[1:])
        vectors = MilvusVectors(self, snap.dims, self.live, snap.chunks, rows)
        lexical = _compact(MilvusLexicalIndex([c.sentence_texts for c in snap.chunks]))
        lexical.vectors = vectors
        _trim()
        return StoredIndex(Path(self.location, snap.version), manifest, snap.chunks, vectors.dense,
                           vectors.sentences, rows, lexical)

    def read_in_memory(self, dims: int | None = None) -> StoredIndex:
        """The newest generation with every vector in memory (an in-memory FAISS index, as the folder loads):
        the way the first Milvus store answered, kept to compare against."""
        from .ann import build_index
        from .lexical import LexicalIndex
        from .manifest import Manifest
        from .store import StoredIndex

        snap = self.snapshot(dims)
        assert snap.passage_vectors is not None and snap.sentence_vectors is not None
        manifest = Manifest.from_json(snap.manifest, Path(self.location))
        rows = np.zeros(len(snap.chunks) + 1, dtype=np.int64)
        np.cumsum([len(c.sentences) for c in snap.chunks], out=rows[1:])
        lexical = LexicalIndex([c.sentence_texts for c in snap.chunks])
        return StoredIndex(Path(self.location, snap.version), manifest, snap.chunks,
                           build_index(snap.passage_vectors), snap.sentence_vectors, rows, lexical)

    # ------------------------------------------------------------ writing

    def writer(self, dims: int) -> MilvusWriter:
        """A writer for a new generation; nothing is visible to readers until `commit`."""
        with self._lock:
            self._call("creating the collections", create_collections, self.client, self.target, dims)
        return MilvusWriter(self, dims)

    def lock(self, timeout: float = 600.0) -> Any:
        """The build lock (acquire/release): for Milvus Lite a file lock beside the database; for a server,
        one build at a time in this process only (a server has one indexer by design, docs/scaling.md)."""
        if not self.target.lite:
            return self._build_lock
        from filelock import FileLock

        path = Path(self.target.uri)
        return FileLock(str(path.with_name(f".{path.name}.lock")), timeout=timeout)

    def recover(self) -> None:
        """Delete documents no kept generation lists (left by a build that died), and old generations."""
        with self._lock:
            self._collect()

    def _collect(self) -> None:
        if not self._call("listing collections", self.client.has_collection, self.target.collection("meta")):
            return
        heads = self._heads()
        meta = self.target.collection("meta")
        kept, dropped = heads[-KEEP_HEADS:], heads[:-KEEP_HEADS]
        if dropped:
            self._call("deleting old generations", self.client.delete, meta,
                       filter=f"key in {json.dumps([h['key'] for h in dropped])}")
        live = {k for h in kept for _, k, _, _ in h["value"].get("docs", [])}
        dims = {int(h["value"]["dims"]) for h in kept}
        rows = self._call("listing documents", self.client.query, meta, filter=f'key like "{DOC}%"',
                          output_fields=["key", "value"])
        dead = [r for r in rows if r["key"][len(DOC):] not in live]
        dead_keys = [r["key"][len(DOC):] for r in dead]
        for first in range(0, len(dead_keys), 200):
            expr = f"doc_key in {json.dumps(dead_keys[first : first + 200])}"
            for d in {int(r["value"].get("dims", 0)) for r in dead}:
                for kind in ("p", "s"):
                    name = self.target.collection(kind, d)
                    if self._call("listing collections", self.client.has_collection, name):
                        self._call("deleting old passages", self.client.delete, name, filter=expr)
        if dead:
            self._call("deleting old documents", self.client.delete, meta,
                       filter=f"key in {json.dumps([r['key'] for r in dead])}")
        if dims:  # data collections of another dimension that no kept generation uses
            prefix = f"{self.target.name}_"
            for name in self._call("listing collections", self.client.list_collections):
                kind = name[len(prefix):]
                if name.startswith(prefix) and kind[:1] in ("p", "s") and kind[1:].isdigit() \
                        and int(kind[1:]) not in dims:
                    self._call("dropping an unused collection", self.client.drop_collection, name)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


class MilvusWriter:
    """Adds documents' passages under content keys; `commit` makes them the new generation in one insert."""

    def __init__(self, store: MilvusStore, dims: int) -> None:
        self.store = store
        self.dims = dims
        self.docs: list[tuple[str, str, int, int]] = []  # (source, doc_key, passages, sentences) in order
        self.written: list[str] = []  # documents this writer inserted (the rest were already stored)
        self._pending: tuple[list[Chunk], list[np.ndarray], list[np.ndarray]] = ([], [], [])

    @property
    def count(self) -> int:
        return sum(n for _, _, n, _ in self.docs) + len(self._pending[0])

    def add(self, chunks: Sequence[Chunk], passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> None:
        """Passages with their vectors (one row per chunk, one per sentence of each, in order)."""
        if passage_vectors.shape != (len(chunks), self.dims) or sentence_vectors.shape != (
                sum(len(c.sentences) for c in chunks), self.dims):
            raise ValueError(f"vectors of shape {passage_vectors.shape} and {sentence_vectors.shape} do not fit "
                             f"{len(chunks)} passages of {self.dims} dims")
        at = 0
        for chunk, vector in zip(chunks, passage_vectors):
            if self._pending[0] and self._pending[0][-1].source != chunk.source:
                self._flush()
            n = len(chunk.sentences)
            self._pending[0].append(chunk)
            self._pending[1].append(vector)
            self._pending[2].append(sentence_vectors[at : at + n])
            at += n

    def _flush(self) -> None:
        chunks, vectors, sentences = self._pending
        self._pending = ([], [], [])
        if not chunks:
            return
        passage_vectors = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), self.dims)
        sentence_vectors = np.concatenate(sentences).astype(np.float32).reshape(-1, self.dims)
        key = doc_key(chunks, passage_vectors, sentence_vectors)
        self.docs.append((chunks[0].source, key, len(chunks), len(sentence_vectors)))
        store, target, client = self.store, self.store.target, self.store.client
        meta = target.collection("meta")
        if store._call("checking a document", client.get, meta, ids=[DOC + key]):
            return  # already stored, complete: an unchanged document is not written again
        passage_rows = [{"pk": f"{key}:{i}", "doc_key": key, "source": c.source, "ordinal": i, "text": c.text,
                         "dense": v.tolist(), "info": _info(c)} for i, (c, v) in enumerate(zip(chunks, vectors))]
        sentence_rows, at = [], 0
        for i, c in enumerate(chunks):
            for k in range(len(c.sentences)):
                sentence_rows.append({"pk": f"{key}:{i}:{k}", "doc_key": key, "ordinal": i,
                                      "vector": sentence_vectors[at].tolist()})
                at += 1
        for name, rows in ((target.collection("p", self.dims), passage_rows),
                           (target.collection("s", self.dims), sentence_rows)):
            for first in range(0, len(rows), INSERT_BATCH):
                store._call("writing passages", client.upsert, name, rows[first : first + INSERT_BATCH])
        store._call("writing passages", client.insert, meta, [{
            "key": DOC + key, "unused": [0.0, 0.0],
            "value": {"source": chunks[0].source, "passages": len(chunks), "sentences": len(sentence_vectors),
                      "dims": self.dims}}])  # written last: no marker, no document
        self.written.append(chunks[0].source)

    def commit(self, manifest: Manifest, lexical: Any = None) -> str:
        """Make the added documents the live generation (one insert); returns its key. `manifest` gives the
        model, chunking and sources; counts, generation and time are filled in here. (`lexical` is rebuilt by
        each reader from the passages' text: Milvus keeps no files.)"""
        from .manifest import FORMAT_VERSION
        from .version import __version__

        self._flush()
        store = self.store
        with store._lock:
            previous = store.current_version()
            generation = int(previous[len(HEAD):].split("-")[0]) + 1 if previous else 1
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            key = f"{HEAD}{generation:012d}-{now.replace('-', '').replace(':', '')}"
            manifest = replace(manifest, format_version=FORMAT_VERSION, docqa_version=__version__,
                               generation=generation, passage_count=sum(d[2] for d in self.docs),
                               sentence_count=sum(d[3] for d in self.docs), files={}, created=now)
            store._call("committing the generation", store.client.insert, store.target.collection("meta"), [{
                "key": key, "unused": [0.0, 0.0],
                "value": {"manifest": manifest.to_json(), "dims": self.dims, "docs": [list(d) for d in self.docs]}}])
            try:
                store._collect()
            except StoreError as exc:  # the generation is live; leftovers go at the next build or recover()
                log.warning("%s", exc)
            return key

    def abort(self) -> None:
        """Forget what was added; rows already written are collected by the next commit or `recover`."""
        self._pending = ([], [], [])
        self.docs = []


def doc_key(chunks: Sequence[Chunk], passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> str:
    """A content key for one document's stored rows: its passages (text, offsets, spans) and vectors."""
    h = hashlib.sha256()
    for c in chunks:
        h.update(json.dumps([c.source, c.text, _info(c)], ensure_ascii=False).encode())
    h.update(np.ascontiguousarray(passage_vectors, dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(sentence_vectors, dtype="<f4").tobytes())
    return h.hexdigest()[:40]


def _info(c: Chunk) -> dict[str, Any]:
    return {"title": c.title, "paragraph": c.paragraph, "page": c.page, "start": c.start, "end": c.end,
            "sentences": [list(s) for s in c.sentences]}


def _chunk(row: dict[str, Any]) -> Chunk:
    info = row["info"]
    return Chunk(source=str(row["source"]), title=str(info["title"]), paragraph=int(info["paragraph"]),
                 start=int(info["start"]), end=int(info["end"]), text=str(row["text"]),
                 sentences=tuple((int(s), int(e)) for s, e in info["sentences"]),
                 page=None if info.get("page") is None else int(info["page"]))


def _trim() -> None:
    """Hand the heap that reading the passages used (query results, the BM25 build) back to the system, on
    glibc: without it a replica's RSS keeps their peak."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _compact(lexical: Any) -> Any:
    """The BM25 index in the folder's compact form: saved and loaded back (term ids in arrays, bm25s
    memory-mapped), instead of a Python set per sentence. The files live in a temporary folder that is deleted
    at once; the mapping keeps their pages until the index is dropped."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="docqa-bm25-") as tmp:
        lexical.save(Path(tmp))
        return type(lexical).load(Path(tmp))


def _matrix(rows: list[list[float]], dims: int) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), dims)


def open_store(spec: str | None) -> MilvusStore | None:
    """The Milvus store `spec` names (`milvus:PATH`, `http://host:19530`), or None for the index folder."""
    from .milvus_schema import parse_store

    target = parse_store(spec)
    return None if target is None else MilvusStore(target)
