"""Highlight: the sentence (or two adjacent sentences) of a found passage that answers the question."""
from __future__ import annotations

import numpy as np

from .lexical import LexicalIndex
from .settings import RetrievalSettings
from .store import StoredIndex


def answering_span(stored: StoredIndex, lexical: LexicalIndex, i: int, vector: np.ndarray, terms: list[str],
                   knobs: RetrievalSettings) -> tuple[int, int]:
    """The span of the sentence (or two adjacent sentences) of passage `i` that best answers the query."""
    spans = stored.chunks[i].sentences
    if len(spans) == 1:
        return spans[0]
    cosines = stored.chunk_sentence_vectors(i) @ vector
    scores = [float(c) + knobs.coverage_weight * lexical.text_coverage(terms, words)
              for c, words in zip(cosines, lexical.sentence_terms(i))]
    best = int(np.argmax(scores))
    first = last = best
    margin = knobs.highlight_margin
    if best > 0 and scores[best - 1] >= scores[best] - margin:
        first = best - 1
    elif best + 1 < len(spans) and scores[best + 1] >= scores[best] - margin:
        last = best + 1
    return spans[first][0], spans[last][1]
