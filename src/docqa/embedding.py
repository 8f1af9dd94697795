"""Embedding: the bundled all-MiniLM-L6-v2, loaded once per process on first use; normalised float32."""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError
from .model_check import bundled_model_path, verify_model_folder
from .types import Chunk
from .vectors import normalise

__all__ = ["Embedder", "QueryEncoding", "SentenceEmbedder", "bundled_model_path", "get_embedder"]


@dataclass(frozen=True)
class QueryEncoding:
    """A question's normalised vector and its contextual token vectors with their character spans."""

    vector: np.ndarray
    tokens: np.ndarray  # (n_tokens, dims)
    spans: tuple[tuple[int, int], ...]  # (start, end) of each token in the question; (0, 0) for special tokens

    def part(self, words: Sequence[tuple[int, int]]) -> np.ndarray | None:
        """The normalised mean of the token vectors that overlap `words` (None if none do)."""
        mask = np.array([e > s and any(s < we and e > ws for ws, we in words) for s, e in self.spans], dtype=bool)
        if not mask.any():
            return None
        return normalise(self.tokens[mask].mean(axis=0)[None, :])[0]


class Embedder(Protocol):
    """What the index and retrieval need from an embedding model."""

    name: str
    dims: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised float32 row per text."""
        ...

    def encode_query(self, text: str) -> QueryEncoding:
        """One question's vector (as `encode_queries` gives it) plus its token vectors, in one forward pass."""
        ...

    def encode_chunks(self, chunks: Sequence[Chunk], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Normalised vectors for each chunk and for each of its sentences (in order)."""
        ...


class SentenceEmbedder:
    """The bundled sentence model from a local folder, run by `encoder.BertEncoder` (same vectors as
    sentence-transformers, without its import cost). Encoding is serialised: the tokenizer is not thread-safe.

    A build holds the model one encoder batch at a time and lets waiting questions go first, so a question
    asked during a build waits for at most one batch, not for the build."""

    def __init__(self, name: str, path: Path | None = None, batch_size: int = 32) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.dims = 384
        self._model = None
        self._lock = threading.Lock()
        self._turn = threading.Condition()
        self._questions = 0  # questions waiting for or holding the model

    @property
    def model(self):  # encoder.BertEncoder
        """The loaded model (loaded on first use, offline)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = self.path or bundled_model_path()
        verify_model_folder(path)  # a changed or added file is refused before anything loads (CVE-2026-68770)
        if not (path / "modules.json").is_file():
            raise ModelError(f"model folder is incomplete or missing: {path}")
        from .encoder import BertEncoder

        model = BertEncoder(path)
        self.dims = model.dims
        return model

    @contextlib.contextmanager
    def _for_question(self) -> Iterator[None]:
        with self._turn:
            self._questions += 1
        try:
            with self._lock:
                yield
        finally:
            with self._turn:
                self._questions -= 1
                self._turn.notify_all()

    @contextlib.contextmanager
    def _for_build(self) -> Iterator[None]:
        with self._turn:  # questions first; a steady stream of them still lets a batch through every second
            self._turn.wait_for(lambda: self._questions == 0, timeout=1.0)
        with self._lock:
            yield

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        model = self.model
        with self._for_question():
            return model.encode(list(texts), self.batch_size)

    def encode_query(self, text: str) -> QueryEncoding:
        model = self.model
        with self._for_question():
            encoding = model.tokenize([text])[0]
            tokens = model.token_vectors([encoding], 1)[0]
        vector = normalise(tokens.mean(axis=0)[None, :])[0]
        return QueryEncoding(vector, tokens, tuple((int(a), int(b)) for a, b in encoding.offsets))

    def encode_chunks(self, chunks: Sequence[Chunk], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass per chunk: the chunk vector is the mean of its token vectors (exactly what
        `model.encode` returns) and each sentence vector is the mean of that sentence's token vectors.

        Chunks run longest first, so each batch holds texts of about the same length (little padding)."""
        from tqdm.auto import tqdm

        model = self.model
        with self._for_build():
            encodings = model.tokenize([c.text for c in chunks])
        order = sorted(range(len(chunks)), key=lambda i: -len(encodings[i].ids))
        passage_rows: list[np.ndarray] = [np.zeros(0, np.float32)] * len(chunks)
        sentences_of: list[list[np.ndarray | None]] = [[] for _ in chunks]
        step = max(self.batch_size, 1)
        bar = tqdm(total=len(chunks), unit="passage", desc="Embedding", leave=False,
                   disable=not progress or len(chunks) < 64)
        for first in range(0, len(order), step):
            block = order[first : first + step]
            with self._for_build():
                tokens = model.token_vectors([encodings[i] for i in block], self.batch_size)
            for i, vectors in zip(block, tokens):
                passage_rows[i] = vectors.mean(axis=0)
                sentences_of[i] = _sentence_means(chunks[i], vectors, encodings[i].offsets)
            bar.update(len(block))
        bar.close()
        sentence_rows = [row for rows in sentences_of for row in rows]
        missing = [i for i, row in enumerate(sentence_rows) if row is None]
        if missing:  # sentences cut off by the model's token limit: encode them alone
            flat = [chunk.text[s - chunk.start : e - chunk.start] for chunk in chunks for s, e in chunk.sentences]
            for first in range(0, len(missing), step):
                part = missing[first : first + step]
                with self._for_build():
                    alone = model.encode([flat[i] for i in part], self.batch_size)
                for i, row in zip(part, alone):
                    sentence_rows[i] = row
        dims = passage_rows[0].shape[0] if passage_rows else self.dims
        passages = normalise(np.vstack(passage_rows)) if passage_rows else np.zeros((0, dims), np.float32)
        sentences = normalise(np.vstack(sentence_rows)) if sentence_rows else np.zeros((0, dims), np.float32)
        return passages, sentences


def _sentence_means(chunk: Chunk, vectors: np.ndarray, spans: list[tuple[int, int]]) -> list[np.ndarray | None]:
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    real = ends > starts  # special tokens have (0, 0)
    rows: list[np.ndarray | None] = []
    for s, e in chunk.sentences:
        s, e = s - chunk.start, e - chunk.start
        mask = real & (starts < e) & (ends > s)
        rows.append(vectors[mask].mean(axis=0) if mask.any() else None)
    return rows


_SHARED: dict[tuple[str, str], SentenceEmbedder] = {}
_SHARED_LOCK = threading.Lock()


def get_embedder(name: str, batch_size: int = 32) -> SentenceEmbedder:
    """The process-wide embedder for `name` (the bundled model), created once."""
    key = (name, str(batch_size))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = SentenceEmbedder(name, batch_size=batch_size)
        return _SHARED[key]
