"""Highlight: the sentence (or two adjacent sentences) of a found passage that answers the question.

The answering sentence is the one whose vector is closest to the question's, plus `coverage_weight` times the
idf-weighted share of the question's terms it holds (sentence vectors are precomputed: nothing is encoded here).
A neighbouring sentence joins it when

- it scores within `highlight_margin` of the best (the two say it together);
- it is closer in meaning to the question (a higher cosine) and scores within `highlight_meaning_margin` of the
  best: the best sentence won on the question's words, the neighbour says what was meant ("... only defined for
  lists." + "In contrast, the sorted() function accepts any iterable.");
- the best sentence opens by pointing back ("It ...", "This ...", "These ...", also after one linking word:
  "Usually it ...", "However, this ..."): alone it does not say what it is about, and the sentence it points to
  often names the very thing asked for. Personal pronouns ("He said ...") are left out: they mostly mean the
  document's main subject (the suite's tune highlight@1 is the same without them, and "He stated that ... Article
  5 ..." stays one sentence);
- the best sentence ends in ":" or "?": it announces what the next one says ("What can you do if ...?");
- the best sentence is a label line: at most `highlight_label_words` words that do not end as a sentence does
  ("Farmers' market" above "First Saturday of every month ..."): it names what the next line says;
- the best sentence restates the question (it holds at most `highlight_restating_terms` terms the question lacks)
  and the next one points back to it: the next one says what the question asks of it ("The pears are not kept in
  the cellar." + "They go in the old fridge ...", "... a set of convenience functions" + "These are debug(), ...");
- it holds at least `highlight_gain` of the question's idf-weighted terms that the best sentence lacks: the best
  one sets the scene ("... changed by a straightening program") and the neighbour says what happened to the rest
  of what was asked ("The rate of flow was increased");
- the question asks where (or "what island", "which lake", ...), the chosen sentence names no place nor anything
  else the question does not name (no capitalised word after its first), and the neighbour does: "Where did the
  discharge from glaciers go …?" is answered by the sentence after the one that restates it ("… the Rhine").

A where-question whose chosen sentences name no place (a name after "in", "at", "on", "from", … that the question
does not give) is answered instead by the best sentence that does, if it scores within `highlight_meaning_margin`
of the best: "Where in Queensland did the illegal logging happen?" chose "… help protect Queensland's world heritage
rainforests" over "… destroying 23 rainforest trees … on north Queensland's Herberton Range".

At most two sentences are highlighted."""
from __future__ import annotations

import re

import numpy as np

from .lexical import LexicalIndex
from .settings import RetrievalSettings
from .store import StoredIndex
from .wording import PLACE_PREPOSITIONS

# A sentence that opens with a pronoun or demonstrative leans on the sentence before it, also after one linking
# word: an adverb in -ly or a connective ("Usually it ...", "However, this ...", "So, it ...").
_POINTS_BACK = re.compile(r"^\W*(?:(?:\w+ly|however|but|and|so|then|also|still|yet|thus|instead|therefore|otherwise"
                          r"|in contrast|in practice|in fact|for example),?\s+)?"
                          r"(?:it|its|this|these|those|that|they|their|such|here)\b", re.IGNORECASE)


# A question asking for a place: "Where …?", "What island …?", "… to which other lake?".
_ASKS_PLACE = re.compile(r"^\W*(?:and\s+)?where\b|\b(?:what|which)\s+(?:other\s+)?(?:island|lake|river|city|town|"
                         r"village|country|countries|sea|ocean|place|region|state|mountain|valley|estuary|port|"
                         r"harbou?r)s?\b", re.IGNORECASE)
# A capitalised word after a sentence's first word: a name ("the Rhine", "North Sea", "Lindau").
_NAME_INSIDE = re.compile(r"(?<=\s)[A-Z][\w'’-]*")


def asks_place(question: str) -> bool:
    """Whether a question asks where something is or goes ("Where …?", "What island …?")."""
    return _ASKS_PLACE.search(question) is not None


def _names_new(sentence: str, question: str) -> bool:
    """Whether a sentence names something (a capitalised word after its first) that the question does not."""
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    return any(m.group().lower().strip("'’-") not in asked for m in _NAME_INSIDE.finditer(sentence))


# A name after a preposition of place, a few lower-case words allowed between: "in the north-eastern township of
# Bayt Hanum", "on north Queensland's Herberton Range", "from Lake Constance".
_PLACE_NAMED = re.compile(rf"\b(?:{'|'.join(PLACE_PREPOSITIONS)})\s+(?:the\s+)?(?:[a-z][\w-]*\s+){{0,3}}"
                          r"([A-Z][\w-]*(?:['’]s)?)")


def names_place(sentence: str, question: str) -> bool:
    """Whether a sentence names a place the question does not: a run of capitalised words after "in", "at", "on",
    "from", … ("… in the north-eastern township of Bayt Hanum", "into Lake Überlingen" for "What lake …?") with a
    word the question lacks."""
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    for m in _PLACE_NAMED.finditer(sentence):
        run = [m.group(1)]
        for word in sentence[m.end():].split():
            if not word[:1].isupper():
                break
            run.append(word.rstrip(".,;:!?)\"'’"))
        if any(re.sub(r"['’]s$", "", w).lower() not in asked for w in run if w):
            return True
    return False


def points_back(sentence: str) -> bool:
    """Whether a sentence opens by pointing back to the one before ("It ...", "These ...", "Usually it ...")."""
    return _POINTS_BACK.match(sentence) is not None


def announces(sentence: str) -> bool:
    """Whether a sentence hands over to the next: it ends in a colon or asks a question."""
    return sentence.rstrip().endswith((":", "?"))


def is_label(sentence: str, words: int) -> bool:
    """Whether a "sentence" is a label line: at most `words` words, not ending in . ! ? or ; (closing quotes and
    brackets aside), as "Farmers' market" or "Opening hours"."""
    text = sentence.strip().rstrip("\"'”’)]")
    return 0 < len(text.split()) <= words and not text.endswith((".", "!", "?", ";", "…"))


def answering_span(stored: StoredIndex, lexical: LexicalIndex, i: int, vector: np.ndarray, terms: list[str],
                   knobs: RetrievalSettings, question: str = "") -> tuple[int, int]:
    """The span of the sentence (or two adjacent sentences) of passage `i` that best answers `question` (its
    vector and terms)."""
    chunk = stored.chunks[i]
    spans = chunk.sentences
    if len(spans) == 1:
        return spans[0]
    words = lexical.sentence_terms(i)
    cosines = stored.chunk_sentence_vectors(i) @ vector
    scores = [float(c) + knobs.coverage_weight * lexical.text_coverage(terms, w) for c, w in zip(cosines, words)]
    best = int(np.argmax(scores))
    texts = chunk.sentence_texts
    first, last = _neighbour(best, scores, [float(c) for c in cosines], texts, words, set(terms),
                             lambda present: lexical.text_coverage(terms, present), knobs)
    if asks_place(question) and not any(names_place(texts[j], question) for j in range(first, last + 1)):
        placed = [j for j in range(len(spans))
                  if scores[j] >= scores[best] - knobs.highlight_meaning_margin and names_place(texts[j], question)]
        if placed:
            j = max(placed, key=lambda k: scores[k])
            if first == last and j in (first - 1, first + 1):  # beside the chosen one: both
                return spans[min(first, j)][0], spans[max(first, j)][1]
            return spans[j]
    if first == last and asks_place(question) and not _names_new(texts[best], question):
        place = next((j for j in (best + 1, best - 1) if 0 <= j < len(spans) and _names_new(texts[j], question)), None)
        if place is not None:
            first, last = min(best, place), max(best, place)
    return spans[first][0], spans[last][1]


def _neighbour(best: int, scores: list[float], cosines: list[float], texts: list[str], words: list[set[str]],
               asked: set[str], coverage, knobs: RetrievalSettings) -> tuple[int, int]:
    """The first and last sentence of the highlight around the best sentence (see the module's docstring)."""
    before, after = best - 1, best + 1
    has_before, has_after = before >= 0, after < len(scores)
    margin = knobs.highlight_margin
    if has_before and scores[before] >= scores[best] - margin:
        return before, best
    if has_after and scores[after] >= scores[best] - margin:
        return best, after
    closer = [(cosines[j], j) for j in (before, after) if 0 <= j < len(scores)
              and cosines[j] > cosines[best] and scores[j] >= scores[best] - knobs.highlight_meaning_margin]
    if closer:
        j = max(closer)[1]
        return min(best, j), max(best, j)
    if has_before and points_back(texts[best]):
        return before, best
    if has_after and (announces(texts[best]) or is_label(texts[best], knobs.highlight_label_words)):
        return best, after
    if (has_after and points_back(texts[after])
            and len(words[best] - asked) <= knobs.highlight_restating_terms):
        return best, after
    held = coverage(words[best])
    gains = [(coverage(words[best] | words[j]) - held, scores[j], j) for j in (before, after) if 0 <= j < len(scores)]
    gain, _, j = max(gains)
    if gain >= knobs.highlight_gain:
        return min(best, j), max(best, j)
    return best, best
