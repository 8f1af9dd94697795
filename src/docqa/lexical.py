"""Lexical: BM25 (bm25s) over the same passage ids, and how much of a question's wording a passage shares."""
from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# One-character tokens are kept: the "5" of "Article 5" matters.
TOKEN_PATTERN = r"(?u)\b\w+\b"
# The tokeniser's name, recorded in every index's manifest: change it whenever `tokenize` would cut a text into
# other terms (stop words, stemmer, pattern), so an index built by the old one is re-tokenised, not mismatched.
TOKENISER = "bm25s-en-stem/2"
# Words that carry a question's form, not its topic. Dropped from questions only: in a passage they are words
# like any other ("said", "one").
QUESTION_WORDS = frozenset(
    "say says said tell tells told mention mentioned mentions describe described explain explained "
    "according also anything something thing things please could would think thinks thought "
    "regarding happen happened happens make made makes get got want wants one".split()
)
_WORD = re.compile(TOKEN_PATTERN)
# "the article", "this document", "the author": the question's form, unless a number follows ("Article 5" stays a
# term). Anywhere else the noun is a term ("How do I read a text file?").
_FORM_NOUN = re.compile(r"\b(?:the|this|that|these|your|my)\s+((?:article|document|text|story|page|passage|report|"
                        r"piece|file|source|author|writer)s?)\b(?!\s*\d)", re.IGNORECASE)
# "what kind of", "all sorts of", "is there a way to", "in what way": the question's form. Elsewhere these are
# terms ("How do I sort …?", "a sort key", "the Milky Way").
_FORM_PHRASE = re.compile(r"\b(kinds?|sorts?)\s+of\b|\b(?:what|which|any|a|an|another|other|some|best|"
                          r"easiest|simplest|right|proper|better|fastest|quickest|recommended|preferred)\s+(ways?)"
                          r"\b|\b(ways?)\s+(?:to|of)\b", re.IGNORECASE)


# What a question asks the sources to say something about: "What did Hegseth say about the navy?", "Did he
# mention drones?", "What was his view on arms control?", "What about the navy?". The topic runs to the end of the
# question.
TOPIC = re.compile(r"\b(?:about|mentions?|mentioned|mentioning|regarding|concerning"
                    r"|discuss(?:es|ed)?|(?:view|views|position|stance|opinion|thoughts|comments?|remarks?|says?|said)"
                    r" on)\s+(?=\w)", re.IGNORECASE)


def last_topic(text: str) -> re.Match[str] | None:
    """The last "about" (or "mention", "view on", ...) of `text`: its topic starts where the match ends."""
    found = None
    for found in TOPIC.finditer(text):
        pass
    return found


@dataclass(frozen=True)
class QueryWord:
    """One content word of a question: its span, its lower-cased spelling and its BM25 term."""

    start: int
    end: int
    word: str
    term: str


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """Stop words of passages and questions alike: bm25s's English list."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def stem(word: str) -> str:
    """The stem BM25 indexes `word` under (passages and questions alike)."""
    return _stemmer().stemWord(word.lower())


def is_stop_word(word: str) -> bool:
    """Whether BM25 leaves `word` out of passages (bm25s's English list)."""
    return word.lower() in _stopwords()


# "On which weekday …?", "In what year …?": the kind of answer asked for, which the answer gives by value
# ("on Wednesday", "in 1932"), not by the word. Not "century" or "decade": "the 1st century BC" holds the word (tune:
# dropping them cost a Rhine question; dropping these gained a seed one and moved nothing else). "Which variety",
# "what breed": answered by a name ("two Conference pears"), the word seldom written (tune: +1 notes chat turn).
# Not "type" or "model": in technical text they are topics ("What type does sorted() return?").
_ANSWER_KIND = re.compile(r"\b(?:which|what)\s+(years?|months?|days?|weekdays?|dates?|time|varieties|variety|"
                          r"brands?|breeds?|species)\b", re.IGNORECASE)


def _form_starts(query: str) -> set[int]:
    """Where the words that frame the question start ("the article", "what kind of", "a way to")."""
    form = {m.start(1) for m in _FORM_NOUN.finditer(query)}
    form.update(m.start(1) for m in _ANSWER_KIND.finditer(query))
    for m in _FORM_PHRASE.finditer(query):
        form.update(m.start(g) for g in (1, 2, 3) if m.group(g))
    return form


def word_pattern() -> re.Pattern[str]:
    """The pattern that splits text into words, as tokenisation does (before stop words and stemming)."""
    return _WORD


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
    def query_words(query: str) -> list[QueryWord]:
        """Each content word of the query, stemmed as the passages are; the words that frame the question
        (QUESTION_WORDS, "the article", "what kind of") are left out."""
        stop = _stopwords() | QUESTION_WORDS
        form = _form_starts(query)
        words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(query)]
        words = [w for w in words if w[2] not in stop and w[0] not in form]
        stems = _stemmer().stemWords([w for _, _, w in words])
        return [QueryWord(s, e, w, t) for (s, e, w), t in zip(words, stems)]

    def knows(self, term: str) -> bool:
        """Whether any passage holds `term`."""
        return term in self._idf

    def idf(self, term: str) -> float:
        """The term's inverse document frequency (the rarest possible for an unseen term)."""
        return self._idf.get(term, self._unseen_idf)

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

    # ------------------------------------------------------------ saved with the index (store.py)

    def save(self, folder: Path) -> None:
        """Write this index into `folder`: bm25s's own files (memory-mapped on load), the idf of every term and
        each sentence's term ids (JSON and .npy; never pickle)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)
        terms = sorted(self._idf)
        ids = {t: i for i, t in enumerate(terms)}
        sentence_rows = [0]
        term_rows = [0]
        flat: list[int] = []
        for sentences in (self._sentence_terms[i] for i in range(self.size)):
            for words in sentences:
                flat.extend(sorted(ids[t] for t in words))
                term_rows.append(len(flat))
            sentence_rows.append(len(term_rows) - 1)
        with (folder / LEXICAL_TERMS).open("w", encoding="utf-8") as f:  # one write, not one per JSON token
            f.write(json.dumps({"size": self.size, "terms": terms, "idf": [self._idf[t] for t in terms]},
                               ensure_ascii=False))
        np.save(folder / LEXICAL_IDS, np.asarray(flat, dtype=np.int32), allow_pickle=False)
        np.save(folder / LEXICAL_TERM_ROWS, np.asarray(term_rows, dtype=np.int64), allow_pickle=False)
        np.save(folder / LEXICAL_SENTENCE_ROWS, np.asarray(sentence_rows, dtype=np.int64), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """The index `save` wrote (bm25s memory-mapped; term sets built on first use). Raises ValueError or
        OSError when a file is unreadable or inconsistent."""
        import bm25s

        self = cls.__new__(cls)
        with (folder / LEXICAL_TERMS).open(encoding="utf-8") as f:
            data = json.load(f)
        terms, idf, self.size = list(data["terms"]), list(data["idf"]), int(data["size"])
        if len(terms) != len(idf) or not all(isinstance(t, str) for t in terms):
            raise ValueError(f"{folder / LEXICAL_TERMS}: terms and idf differ in length")
        self._idf = dict(zip(terms, (float(x) for x in idf)))
        self._unseen_idf = math.log(1 + (self.size + 0.5) / 0.5)
        ids = np.load(folder / LEXICAL_IDS, allow_pickle=False)
        term_rows = np.load(folder / LEXICAL_TERM_ROWS, allow_pickle=False)
        sentence_rows = np.load(folder / LEXICAL_SENTENCE_ROWS, allow_pickle=False)
        if (len(sentence_rows) != self.size + 1 or sentence_rows[-1] != len(term_rows) - 1
                or term_rows[-1] != len(ids) or (len(ids) and (ids.min() < 0 or ids.max() >= len(terms)))):
            raise ValueError(f"{folder}: term arrays do not agree with each other")
        self._sentence_terms = _SavedSentenceTerms(terms, ids, term_rows, sentence_rows)
        self._tokens = _SavedPassageTerms(self._sentence_terms)
        self._bm25 = None
        if (folder / "params.index.json").is_file():
            self._bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        return self


LEXICAL_TERMS = "terms.json"
LEXICAL_IDS = "sentence_terms.npy"
LEXICAL_TERM_ROWS = "sentence_term_rows.npy"
LEXICAL_SENTENCE_ROWS = "passage_sentence_rows.npy"


class _SavedSentenceTerms:
    """Each passage's sentence term sets, read from the saved arrays when first asked for."""

    def __init__(self, terms: list[str], ids: np.ndarray, term_rows: np.ndarray, sentence_rows: np.ndarray) -> None:
        self._terms, self._ids, self._term_rows, self._sentence_rows = terms, ids, term_rows, sentence_rows

    def __len__(self) -> int:
        return len(self._sentence_rows) - 1

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one per loaded index, kept as long as it is
    def __getitem__(self, passage: int) -> list[set[str]]:
        first, last = int(self._sentence_rows[passage]), int(self._sentence_rows[passage + 1])
        rows = self._term_rows
        return [{self._terms[i] for i in self._ids[rows[s] : rows[s + 1]]} for s in range(first, last)]


class _SavedPassageTerms:
    """Each passage's term set: the union of its sentences' sets."""

    def __init__(self, sentences: _SavedSentenceTerms) -> None:
        self._sentences = sentences

    def __len__(self) -> int:
        return len(self._sentences)

    def __getitem__(self, passage: int) -> set[str]:
        return set().union(*self._sentences[passage])
