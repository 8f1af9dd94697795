"""A hashed bag-of-words embedder: instant and deterministic, for plumbing tests and `python -m bench --smoke`.

It checks plumbing, not quality; it lives in the package so that tests and the bench share it without either
importing the other."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from .embedding import QueryEncoding
from .types import Chunk
from .vectors import normalise


class HashEmbedder:
    """Each word hashed into one of `dims` buckets; vectors are normalised counts (one token per word)."""

    name = "hash"

    def __init__(self, dims: int = 64) -> None:
        self.dims = dims

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros((1, self.dims), np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[0, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dims] += 1.0
        return normalise(v)[0]

    def _rows(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dims), np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row per text."""
        return self._rows(texts)

    def encode_query(self, text: str) -> QueryEncoding:
        """The question's vector and one token vector per word."""
        words = [(m.start(), m.end()) for m in re.finditer(r"\w+", text)]
        return QueryEncoding(self._vector(text), self._rows([text[s:e] for s, e in words]), tuple(words))

    def encode_chunks(self, chunks: Sequence[Chunk], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """A row per chunk and a row per sentence."""
        sentences = [text for c in chunks for text in c.sentence_texts]
        return self._rows([c.text for c in chunks]), self._rows(sentences)
