"""Wording: how common an English word is, which words a corpus spells differently, which questions are not in
English, and which names are countries. Word frequencies come from `wordfreq`, fuzzy matching from `rapidfuzz`,
country names from the Unicode CLDR (data/countries.json, written by bench/countries.py with `babel`); all work
offline."""
from __future__ import annotations

import functools
import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from importlib import resources

# Languages a non-English question is most likely in; a word is foreign when one of them uses it far more.
OTHER_LANGUAGES = ("de", "fr", "es", "it", "nl", "pt", "pl", "sv", "tr")


@functools.lru_cache(maxsize=65536)
def zipf(word: str, language: str = "en") -> float:
    """How common `word` is in general `language` text: log10 of its count per billion words (0 = unseen)."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, language))


def is_latin(word: str) -> bool:
    """Whether every letter of `word` is Latin script (English spelling)."""
    return all(not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in word)


def is_foreign(word: str, margin: float) -> bool:
    """Whether `word` reads as another language's: non-Latin letters, or `margin` more common elsewhere."""
    if not is_latin(word):
        return True
    if any(ch.isdigit() for ch in word):
        return False
    english = zipf(word)
    return max(zipf(word, lang) for lang in OTHER_LANGUAGES) >= english + margin


# Prepositions before a place's name: "in South Africa", "at the Adelaide Oval", "on north Queensland's Herberton
# Range", "from Lake Constance".
PLACE_PREPOSITIONS = ("in", "at", "on", "off", "near", "into", "onto", "across", "around", "through", "throughout",
                      "toward", "towards", "inside", "outside", "from")


@functools.lru_cache(maxsize=1)
def _territories() -> frozenset[str]:
    raw = resources.files("docqa").joinpath("data/countries.json").read_text(encoding="utf-8")
    return frozenset(name.lower() for name in json.loads(raw)["names"])


def is_country(name: str) -> bool:
    """Whether `name` is a country or a region of the world in English ("Russia", "South Africa", "Europe"):
    "he" or "she" never stands for one."""
    return name.strip().lower() in _territories()


class Speller:
    """Corrects a word to the closest word of a vocabulary (the corpus's own spelling), within one edit
    (insertion, deletion, substitution or swap of neighbours) per `letters_per_edit` letters.

    Candidates are bucketed by first letter at build time (a typo rarely hits the first letter), so a look-up
    compares against a slice of the vocabulary, not all of it."""

    def __init__(self, vocabulary: Iterable[str], letters_per_edit: int) -> None:
        self.letters_per_edit = letters_per_edit
        buckets: dict[str, list[str]] = defaultdict(list)
        for word in sorted(set(vocabulary)):
            if len(word) >= 3 and word.isalpha():
                buckets[word[0]].append(word)
        self._buckets = dict(buckets)
        self.correct = functools.lru_cache(maxsize=4096)(self._correct)  # per speller: questions repeat words

    def _correct(self, word: str) -> str | None:
        """The vocabulary word `word` most likely misspells, or None when none is close enough."""
        edits = len(word) // self.letters_per_edit
        if not edits or not word.isalpha():
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        found = process.extractOne(word, self._buckets.get(word[0], ()), scorer=OSA.distance, score_cutoff=edits)
        return found[0] if found else None
