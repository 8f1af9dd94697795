"""Embedding: the bundled all-MiniLM-L6-v2 or a local sentence-transformers folder (`Settings.model_name`),
loaded once per process on first use; normalised float32."""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from .errors import ModelError
from .model_check import bundled_model_path, check_chosen_folder, verify_model_folder
from .settings import MODEL_NAME
from .types import Chunk
from .vectors import normalise

__all__ = ["Embedder", "QueryEncoding", "SentenceEmbedder", "SentenceTransformersEmbedder", "bundled_model_path",
           "get_embedder", "load_embedder"]


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


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class SentenceEmbedder:
    """A mean-pooled BERT sentence model from a local folder (the bundled one by default), run by
    `encoder.BertEncoder` (same vectors as sentence-transformers, without its import cost). The folder is checked
    by `check` before anything in it is read (the committed hashes by default). Encoding is serialised: the
    tokenizer is not thread-safe.

    A build holds the model one encoder batch at a time and lets waiting questions go first, so a question
    asked during a build waits for at most one batch, not for the build."""

    def __init__(self, name: str, path: Path | None = None, batch_size: int = 32,
                 check: Callable[[Path], None] = verify_model_folder) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.check = check
        self._model = None
        self._lock = threading.Lock()
        self._turn = threading.Condition()
        self._questions = 0  # questions waiting for or holding the model

    @property
    def dims(self) -> int:
        """The vector size, as the model's config gives it (loads the model)."""
        return self.model.dims

    @property
    def model(self):  # encoder.BertEncoder
        """The loaded model (loaded on first use, offline)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        _offline()
        path = self.path or bundled_model_path()
        self.check(path)  # a changed or added file is refused before anything loads (CVE-2026-68770)
        if not (path / "modules.json").is_file():
            raise ModelError(f"model folder is incomplete or missing: {path}")
        from .encoder import BertEncoder

        return BertEncoder(path)

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
            flat = [text for chunk in chunks for text in chunk.sentence_texts]
            for first in range(0, len(missing), step):
                part = missing[first : first + step]
                with self._for_build():
                    alone = model.encode([flat[i] for i in part], self.batch_size)
                for i, row in zip(part, alone):
                    sentence_rows[i] = row
        dims = passage_rows[0].shape[0] if passage_rows else model.dims
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


class SentenceTransformersEmbedder:
    """A local sentence-transformers folder that `encoder.BertEncoder` does not run (another architecture or
    pooling, extra modules), run by sentence-transformers itself: offline, `local_files_only`, never
    `trust_remote_code`. Passages and their sentences are encoded separately (two passes, exact vectors)."""

    def __init__(self, name: str, path: Path, batch_size: int = 32) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:  # sentence_transformers.SentenceTransformer
        """The loaded model (loaded on first use, offline, after `check_chosen_folder`)."""
        with self._lock:
            if self._model is None:
                _offline()
                check_chosen_folder(self.path)
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True,
                                                      trust_remote_code=False)
                except (OSError, ValueError, KeyError, RuntimeError) as exc:
                    raise ModelError(f"{self.path}: sentence-transformers cannot load it ({exc})") from exc
            return self._model

    @property
    def dims(self) -> int:
        """The size of the model's sentence vectors, as the model reports it."""
        model = self.model
        return int(model.get_embedding_dimension() or self.encode_queries(["dims"]).shape[1])

    def encode_queries(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        model = self.model
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        with self._lock:
            vectors = model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=progress,
                                   convert_to_numpy=True)
        return normalise(vectors)

    def encode_query(self, text: str) -> QueryEncoding:
        """The question's vector plus its token vectors (the transformer's output), when those live in the same
        space as the sentence vectors; a model whose modules change the size gives no token vectors."""
        model = self.model
        with self._lock:
            out = model.encode([text], output_value=None, batch_size=1)[0]
            offsets = model.tokenizer(text, return_offsets_mapping=True, truncation=True,
                                      max_length=model.max_seq_length)["offset_mapping"]
        vector = normalise(out["sentence_embedding"].float().numpy()[None, :])[0]
        tokens = out["token_embeddings"].float().numpy()[: len(offsets)]
        if tokens.shape[-1] != vector.shape[0] or len(tokens) != len(offsets):
            return QueryEncoding(vector, np.zeros((0, vector.shape[0]), np.float32), ())
        return QueryEncoding(vector, tokens.astype(np.float32), tuple((int(a), int(b)) for a, b in offsets))

    def encode_chunks(self, chunks: Sequence[Chunk], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        passages = self.encode_queries([c.text for c in chunks], progress)
        texts = [text for c in chunks for text in c.sentence_texts]
        return passages, self.encode_queries(texts, progress)


def model_folder(name: str) -> Path | None:
    """The folder `Settings.model_name` names: None for the bundled model, else a local folder."""
    if name == MODEL_NAME:
        return None
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ModelError(f"model folder not found: {name}; Settings.model_name is {MODEL_NAME!r} (the bundled "
                         "model) or a local sentence-transformers folder (nothing is downloaded)")
    return path


def load_embedder(name: str, batch_size: int = 32) -> Embedder:
    """A new embedder for `name`: the bundled model, or a folder the user chose, run by docqa's encoder when
    it is a mean-pooled BERT, else by sentence-transformers. Nothing is loaded yet."""
    path = model_folder(name)
    if path is None:
        return SentenceEmbedder(name, batch_size=batch_size)
    from .encoder import refusal

    if refusal(path) is None:
        return SentenceEmbedder(name, path, batch_size, check=check_chosen_folder)
    return SentenceTransformersEmbedder(name, path, batch_size)


_SHARED: dict[tuple[str, str], Embedder] = {}
_SHARED_LOCK = threading.Lock()


def get_embedder(name: str, batch_size: int = 32) -> Embedder:
    """The process-wide embedder for `name` (see `load_embedder`), created once."""
    key = (name, str(batch_size))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = load_embedder(name, batch_size)
        return _SHARED[key]
