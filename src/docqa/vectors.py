"""Vectors: the one L2 normalisation every embedder and index uses."""
from __future__ import annotations

import numpy as np


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (a zero row stays zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
