"""Lexical: BM25 (bm25s) over the same passage ids, and how much of a question's wording a passage shares."""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

# One-character tokens are kept: the "5" of "Article 5" matters.
TOKEN_PATTERN = r"(?u)\b\w+\b"
# Words that carry the question's form, not its topic.
QUESTION_WORDS = frozenset(
    "say says said tell tells told mention mentioned mentions describe described explain explained "
    "according article's also anything something thing things please could would think thinks thought "
    "kind sort way ways regarding happen happened happens make made makes get got want wants one "
    "document documents text texts story report passage passages author writer piece".split()
)
_WORD = re.compile(TOKEN_PATTERN)


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | QUESTION_WORDS


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-worded, stemmed tokens of each text."""
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords=list(_stopwords()), stemmer=_stemmer().stemWords, token_pattern=TOKEN_PATTERN,
        return_ids=False, show_progress=False,
    )


class LexicalIndex:
    """BM25 over passages, plus inverse document frequencies for term coverage.

    Built from each passage's sentences, tokenised once: a passage's tokens are its sentences' tokens in order
    (sentences are separated by whitespace only), and each sentence's term set serves the highlight."""

    def __init__(self, passages: Sequence[Sequence[str]]) -> None:
        import bm25s

        self.size = len(passages)
        flat = tokenize([sentence for sentences in passages for sentence in sentences])
        self._sentence_terms: list[list[set[str]]] = []
        corpus: list[list[str]] = []
        at = 0
        for sentences in passages:
            tokens = flat[at : at + len(sentences)]
            at += len(sentences)
            self._sentence_terms.append([set(t) for t in tokens])
            corpus.append([term for t in tokens for term in t])
        self._tokens = [set(terms) for terms in corpus]
        df = Counter(term for terms in self._tokens for term in terms)
        # Unseen terms weigh as much as the rarest possible term.
        self._unseen_idf = math.log(1 + (self.size + 0.5) / 0.5)
        self._idf = {t: math.log(1 + (self.size - n + 0.5) / (n + 0.5)) for t, n in df.items()}
        self._bm25 = None
        if self.size and df:
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    @staticmethod
    def query_words(query: str) -> list[tuple[int, int, str]]:
        """(start, end, term) of each content word of the query, tokenised exactly as the passages are."""
        stop = _stopwords()
        words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(query)]
        words = [w for w in words if w[2] not in stop]
        stems = _stemmer().stemWords([w for _, _, w in words])
        return [(s, e, t) for (s, e, _), t in zip(words, stems)]

    def query_terms(self, query: str) -> list[str]:
        """The query's content terms, each once."""
        return list(dict.fromkeys(t for _, _, t in self.query_words(query)))

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage."""
        known = [t for t in terms if t in self._idf]
        if self._bm25 is None or not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def coverage(self, terms: Sequence[str], passage: int) -> float:
        """The idf-weighted share of the query's terms that occur in a passage (0..1)."""
        return self.text_coverage(terms, self._tokens[passage])

    def text_coverage(self, terms: Sequence[str], present: set[str]) -> float:
        """The idf-weighted share of `terms` found in `present`."""
        if not terms:
            return 0.0
        weights = [self._idf.get(t, self._unseen_idf) for t in terms]
        hit = sum(w for t, w in zip(terms, weights) if t in present)
        return hit / sum(weights)

    def passage_terms(self, passage: int) -> set[str]:
        """The set of terms of one passage."""
        return self._tokens[passage]

    def sentence_terms(self, passage: int) -> list[set[str]]:
        """The set of terms of each sentence of one passage."""
        return self._sentence_terms[passage]
