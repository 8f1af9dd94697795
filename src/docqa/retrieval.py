"""Retrieval: dense (FAISS) and BM25 search fused by reciprocal rank, ranking by relevance, and abstention.

Candidates come from dense and BM25 search fused by reciprocal rank; they are then ordered by relevance: the mean
of the passage's cosine and its best sentence's cosine, plus the share of the question's distinctive wording
(idf-weighted) that the passage holds (its section heading's words counting as its own, the passage before's at
half weight), plus the share found in two adjacent sentences and a little of the heading's cosine. Whether the
best passage answers at all is decided by `abstention` from signals that mean the same in any corpus (see there);
it never depends on how many passages are shown. Candidates about something else than the question names do not
answer: a document that never gives one of its names (nor says it otherwise: "Moscow" for Russia), a section about
another owner ("Tilly's microchip number" under Biscuit's heading), a question about a topic no passage mentions
or says in other words ("What did Hegseth say about the navy?"), a passage that gives no measure of what the
question asks to measure ("How deep …?" with no length in it), a passage that leaves two of the question's less
common words unsaid, nothing in it close to either ("What did the defense ministers decide about drone
production?" against the article's passages on Hegseth). The answering sentence is chosen by `highlight`."""
from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np

from . import abstention
from .chunking import is_field
from .embedding import Embedder, QueryEncoding
from .errors import IndexMismatchError
from .highlight import answering_span
from .lexical import LexicalIndex, QueryWord, is_stop_word, last_topic, stem, word_pattern
from .settings import Settings
from .store import StoredIndex
from .types import Chunk, Hit
from .wording import Speller, is_country, is_foreign, zipf


# Days and months are capitalised, yet they are not names the sources must hold: "Is the shop open on Sunday?" is
# answered by "open Thursday to Saturday".
# (English names, spelt out: the calendar module's follow the process's locale.)
_CALENDAR = frozenset("monday tuesday wednesday thursday friday saturday sunday january february march april may "
                      "june july august september october november december".split())
# "today's", "this year's": a time, not whose thing is asked about.
_WHEN = _CALENDAR | frozenset("today yesterday tomorrow tonight day week month year decade century season "
                              "weekend morning evening night".split())
_POSSESSIVE = ("'s", "’s")
# "Who is Pete Hegseth?", "who was Napoleon": the question asks who a named person is, nothing more.
_WHO_IS = re.compile(r"^\W*(?:[Aa]nd\s+)?(?i:who)(?:'s|’s|\s+(?i:is|was|are|were))\s+"
                     r"((?:[A-Z][\w'’.-]*)(?:\s+[A-Z][\w'’.-]*)*)\s*[?.!]*\s*$")
_THE = re.compile(r"\bthe\s+$", re.IGNORECASE)
# Single words' and names' vectors kept for `_closest` (1.5 KB each with a 384-d model: at most ~30 MB).
_MAX_WORD_VECTORS = 20_000
_MAX_SHARED_DOCUMENTS = 256  # documents whose term shares `Retriever._shares` keeps at once
_ABBREVIATION = re.compile(r"\b(?:[A-Za-z]\.){2,}")  # "U.S.", "e.g."
# A run of capitalised words, with "of", "and", "for", "the" inside ("New South Wales", "Department of Defense").
# On one line: a heading and the sentence under it are not one name.
_NAME_RUN = re.compile(r"\b[A-Z][a-z][\w-]*(?:[ \t]+(?:(?:of|and|for|the)[ \t]+)?[A-Z][a-z][\w-]*)+")
_CAPITALISED = re.compile(r"\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")  # "United States", "European Union", "Moscow"
# ... with the small words that join a name's parts ("World Wide Fund for Nature", "Bay of Fundy").
_WHOLE_NAME = re.compile(r"\b[A-Z][\w-]*(?:\s+(?:(?:of|for|and|the|de|la|du|del|von|van)\s+)?[A-Z][\w-]*)*")
# A question asking for a measure ("How deep is …?", "How much did … cost?") is answered only by a passage that
# gives one in a unit of that measure ("12 m", "£560", "about 0 °C", "7.8 kg"), when the documents give that kind
# of measure anywhere: in documents that never do ("What does a function call cost?" over HOWTOs) it is asked in
# another sense. "How long" (a length or a time) and "How many" (any count) are not checked.
_MEASURES = (
    (re.compile(r"^how (?:deep|high|tall|wide|far|broad)\b", re.IGNORECASE),
     re.compile(r"\b\d[\d,.]*\s*(?:km|m|cm|mm|ft|feet|foot|metres?|meters?|kilomet(?:re|er)s?|miles?|inch(?:es)?|"
                r"yards?)\b", re.IGNORECASE)),
    (re.compile(r"^how (?:warm|cold|hot|cool)\b|^what(?:'s| is)? (?:\w+ )?temperature\b", re.IGNORECASE),
     re.compile(r"°|\bdegrees?\b|\b\d+\s*[CF]\b")),
    (re.compile(r"^how heavy\b|^how much (?:\w+ ){0,4}weigh", re.IGNORECASE),
     re.compile(r"\b\d[\d,.]*\s*(?:kg|g|lbs?|pounds?|tonnes?|tons?|grams?|kilos?|kilograms?|ounces?|oz)\b",
                re.IGNORECASE)),
    (re.compile(r"^how much\b(?!\s+of\b)(?:.*\b(?:cost|costs|charge|charges|pay|price|fee)\b|"
                r"\s+(?:is|are|was|were)\s+(?:the\s+)?\w+(?:\s+\w+)?\?*$)|"
                r"^what(?:'s|’s| is| was| are| were| will| would| does| did| do)\s+(?:\w+\s+){0,4}costs?\b|"
                r"^what(?:'s|’s| is| was| are| were)\s+the\s+(?:price|cost|fee)s?\b", re.IGNORECASE),
     re.compile(r"[£$€¥]|\b\d[\d,.]*\s*(?:p|pence|cents?)\b|\b(?:pounds?|dollars?|euros?|francs?|free|"
                r"nothing)\b", re.IGNORECASE)),
)


def measures_asked(question: str) -> tuple[int, ...]:
    """Which of `_MEASURES` the question asks for (by position; usually none)."""
    asked = question.strip().lstrip("([\"'").removeprefix("And ").removeprefix("and ")
    return tuple(i for i, (ask, _) in enumerate(_MEASURES) if ask.search(asked))


def gives_measure(question: str, text: str, kinds: Collection[int] | None = None) -> bool:
    """Whether `text` gives a measure of the kind `question` asks for (True when it asks for none), counting only
    the kinds in `kinds` (default: all)."""
    return all(_MEASURES[i][1].search(text) for i in measures_asked(question) if kinds is None or i in kinds)


@dataclass(frozen=True)
class QueryReading:
    """A question as the corpus reads it: its words, their corpus spelling, and which of them no passage holds."""

    text: str  # the question with misspelt words in the corpus's spelling, names capitalised (what is searched)
    words: tuple[QueryWord, ...]
    missing: tuple[QueryWord, ...]  # content words that occur in no passage, even allowing for a typo
    foreign: bool  # the question reads as another language than English
    shown: str = ""  # `text` in the case the user typed (what "Searched for" shows); `text` when empty
    opens_with_name: bool = False  # its first word is a name ("Taiwan defence?"), not "What", "Summarize", ...

    @property
    def searched(self) -> str:
        """What was searched, as the user is shown it: a change of case alone is not theirs to read."""
        return self.shown or self.text

    @property
    def missing_names(self) -> tuple[str, ...]:
        """Names and numbers the question gives (a capitalised word after the first, or digits) that occur in no
        passage: "What rail system serves <a city no document mentions>?" cannot be answered from the sources,
        unless they give the name otherwise (`Retriever._unnamed`)."""
        names = self.names
        return tuple(self.text[w.start : w.end] for w in self.missing if any(ch.isdigit() for ch in w.word)
                     or w in names)

    @property
    def names(self) -> tuple[QueryWord, ...]:
        """The names the question gives: capitalised words after the first, and the first when it is one (days and
        months are not names)."""
        return tuple(w for w in self.words if (w.start > 0 or self.opens_with_name)
                     and self.text[w.start].isupper() and w.word.rstrip("s") not in _CALENDAR)

    def skip(self, start: int) -> int:
        """How many words of a run of capitalised words starting at `start` are not a name: the question's first
        word ("What", "And"), unless it is one ("Taiwan defence")."""
        return int(start == 0 and not self.opens_with_name)

    @property
    def unmentioned_topic(self) -> tuple[QueryWord, ...]:
        """The topic the question asks about ("What did Hegseth say about the navy?": navy) when none of its
        content words occurs in any passage, even allowing for a typo or another form; else empty."""
        start = self._topic_start()
        topic = () if start is None else tuple(w for w in self.words if w.start >= start)
        return topic if topic and all(w in self.missing for w in topic) else ()

    @property
    def topic_text(self) -> str:
        """The words after "about" (or "mention", "view on", ...), as the question gives them."""
        start = self._topic_start()
        return self.text[start:].strip(" ?.!") if start is not None else ""

    def _topic_start(self) -> int | None:
        """Where the topic begins: after the last "about" (or "mention", "view on", ...), if any."""
        found = last_topic(self.text)
        return found.end() if found is not None else None

    @property
    def possessors(self) -> tuple[QueryWord, ...]:
        """Whose thing the question asks about: a name ("Tilly's microchip") or a definite noun ("the choir's
        treasurer") before a possessive "'s". Times ("today's") and any owner ("a file's", "my language's") are
        not owners."""
        return tuple(w for w in self.words if self.text[w.end : w.end + 2] in _POSSESSIVE and w.word not in _WHEN
                     and (self.text[w.start].isupper() or _THE.search(self.text[: w.start]) is not None))


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits; `found` says whether the best of them addresses the question."""

    query: str
    hits: list[Hit]
    found: bool
    reading: QueryReading | None = None
    probability: float = 0.0  # the abstention model's belief that the best hit answers
    signals: abstention.Signals | None = None  # what that belief was formed from


def _initials(texts: Iterable[str]) -> dict[str, str]:
    """The documents' multi-word names by their initials ("NSW": "New South Wales"), a leading "The" left off.
    Initials two names share are left out: the short form does not say which is meant."""
    found: dict[str, set[str]] = {}
    for text in texts:
        for m in _NAME_RUN.finditer(text):
            words = m.group().split()
            while words and is_stop_word(words[0].lower()):
                words = words[1:]
            capitals = [w for w in words if w[0].isupper()]
            if len(capitals) >= 2:
                found.setdefault("".join(w[0] for w in capitals), set()).add(" ".join(words))
    return {short: next(iter(names)) for short, names in found.items() if len(names) == 1}


def _name_forms(chunks: Iterable[Chunk], word_zipf: float) -> dict[str, str]:
    """The names the documents write, by their lower case, when they never write them in lower case: a word or a
    run of capitalised words joined by "of", "for", ... (after a sentence's first word, or in capitals): "ponting"
    -> "Ponting", "nato" -> "NATO", "lake constance" -> "Lake Constance". A question typed in lower case names them
    all the same. A word of a longer name is one alone only when it is rarer in English than `word_zipf`
    ("Ponting" of "Ricky Ponting"; not "World" of "World War II": "world" alone stays a word). Headings are left
    out (their words are capitalised for the heading's sake)."""
    sentences = [sentence for chunk in chunks if not _is_headline(chunk) for sentence in chunk.sentence_texts]
    forms: dict[str, Counter[str]] = {}
    for sentence in sentences:
        first = word_pattern().search(sentence)
        for m in _WHOLE_NAME.finditer(sentence):
            words = m.group().split()
            if first is not None and m.start() == first.start() and not words[0].isupper():
                words = words[1:]  # capitalised as the sentence's first word
            while words and not words[0][0].isupper():
                words = words[1:]  # "of" left at the front
            if words and len(words) <= 5 and (len(words) > 1 or len(words[0]) > 1):
                forms.setdefault(" ".join(words).lower(), Counter())[" ".join(words)] += 1
            if len(words) > 1:
                for word in words:
                    if word[0].isupper() and zipf(word) < word_zipf:
                        forms.setdefault(word.lower(), Counter())[word] += 1
    # Which of them the documents also write in lower case (one pass; a longer name by its first word).
    longer: dict[str, list[list[str]]] = {}
    for key in forms:
        parts = key.split()
        if len(parts) > 1:
            longer.setdefault(parts[0], []).append(parts)
    written: set[str] = set()
    for sentence in sentences:
        tokens = word_pattern().findall(sentence)
        for i, token in enumerate(tokens):
            if not token.islower():
                continue
            if token in forms:
                written.add(token)
            for parts in longer.get(token, ()):
                if tokens[i : i + len(parts)] == parts:
                    written.add(" ".join(parts))
    return {key: counts.most_common(1)[0][0] for key, counts in forms.items() if key not in written}


@functools.lru_cache(maxsize=1)
def _null_questions() -> tuple[str, ...]:
    raw = resources.files("docqa").joinpath("data/null_questions.json").read_text(encoding="utf-8")
    return tuple(json.loads(raw)["questions"])


class Retriever:
    """Searches one loaded index with one embedder."""

    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings) -> None:
        self.stored = stored
        self.embedder = embedder
        self.settings = settings
        self.knobs = settings.retrieval
        self.lexical = stored.lexical if stored.lexical is not None else LexicalIndex(  # saved with the index
            [c.sentence_texts for c in stored.chunks])
        # The corpus's own spellings (lower-cased, unstemmed): what a misspelt question word is corrected to.
        self.vocabulary = frozenset(w.lower() for c in stored.chunks for w in word_pattern().findall(c.text))
        self.speller = Speller(self.vocabulary, self.knobs.letters_per_edit)
        # The corpus's dotted abbreviations by their letters ("US" -> "U.S."): "US troops" asks about "U.S. troops"
        # (the bare "US" would be a name no passage holds).
        self._dotted = {m.group().replace(".", ""): m.group() for c in stored.chunks
                        for m in _ABBREVIATION.finditer(c.text) if m.group().isupper()}
        # ... and the names the documents spell out by their initials ("NSW" -> "New South Wales", "RFS" -> "Rural
        # Fire Service"): people type the short form of a name the article writes in full. Found on first use.
        self._spelt_out: dict[str, str] | None = None
        # ... and the names they write capitalised, by their lower case: "what did ponting score" names Ponting.
        self._names: dict[str, str] | None = None
        self._null: tuple[float, float] | None = None
        self._context: list[tuple[int | None, int | None]] | None = None  # filled by _context_of on first use
        self._source_terms: dict[str, set[str]] = {}  # per document, filled by _terms_of
        self._word_vectors: dict[str, np.ndarray] = {}  # words' and names' vectors, filled by _closest
        self._measures: frozenset[int] | None = None  # filled by _measures_given on first use
        self._subject_terms: frozenset[str] | None = None  # filled by _subjects on first use
        self._term_shares: dict[str, dict[str, float]] = {}  # per document, filled by _shares
        self._by_source: dict[str, list[int]] | None = None  # filled by _passages_of on first use
        self._openings: dict[str, int] = {}  # each document's first body passage (its headline if it has no body)
        self._headlines: dict[str, int] = {}  # each document's headline passage (paragraph 1 = its title), if any
        for i, c in enumerate(stored.chunks):
            current = self._openings.get(c.source)
            if current is None or _is_headline(stored.chunks[current]) and not _is_headline(c):
                self._openings[c.source] = i
            if c.paragraph == 1 and c.source not in self._headlines and _is_headline(c):
                self._headlines[c.source] = i

    def openings(self, sources: Collection[str] | None = None) -> list[Hit]:
        """Each document's headline (its title, when it stands as paragraph 1) and opening passage (first body
        paragraph), the whole headline and the opening's first sentence highlighted."""
        out = []
        for source in sorted(self._openings):
            if sources is None or source in sources:
                for i in dict.fromkeys((self._headlines.get(source, self._openings[source]), self._openings[source])):
                    c = self.stored.chunks[i]
                    out.append(Hit(c, i, 0.0, 0.0, 0.0, 0.0, 0.0, highlight=c.sentences[0]))
        return out

    def null_cosine(self) -> tuple[float, float]:
        """Mean and spread of the best sentence cosine that unrelated questions reach in this index: the
        per-index reference that makes a cosine mean the same in a 10-passage and a 10,000-passage corpus."""
        if self._null is None:
            if not len(self.stored.sentence_vectors):
                self._null = (0.0, 1.0)
            else:
                bank = np.asarray(self.embedder.encode_queries(list(_null_questions())), dtype=np.float32)
                best = self.stored.best_sentence_cosines(bank)
                self._null = (float(best.mean()), max(float(best.std()), 0.02))
        return self._null

    def read(self, query: str) -> QueryReading:
        """The question's content words, corrected to the corpus's spelling where they are misspelt or give an
        abbreviation without its dots ("US" where the documents write "U.S.")."""
        words = self.lexical.query_words(query)
        text = query
        for w in reversed(words):  # right to left, so earlier offsets stay valid while rewriting
            typed = query[w.start : w.end]
            dotted = self._dotted.get(typed) or self._spelt(typed, query[: w.start])
            if dotted is not None:
                text = text[: w.start] + dotted + text[w.end :]
                continue
            fixed = None if w.word in self.vocabulary else self.speller.correct(w.word)
            if fixed is not None and self.lexical.knows(w.term) and stem(fixed) == w.term:
                fixed = None  # another form of a word the corpus holds ("annexing" for "annexed"): kept as typed
            if fixed is not None and zipf(w.word) < self.knobs.english_word_zipf:  # a typo, not an English word
                original = query[w.start : w.end]
                text = text[: w.start] + (fixed.capitalize() if original[:1].isupper() else fixed) + text[w.end :]
        if text != query:
            words = self.lexical.query_words(text)
        shown, text = text, self._named(text, words)
        missing = tuple(w for w in words if not self._known(w) and not self._near(w.word))
        first = words[0] if words and words[0].start == 0 else None
        named = first is not None and text[0].isupper() and (first.word in (self._names or {})
                                                             or is_country(first.word))
        return QueryReading(text, tuple(words), missing, self._foreign(query), shown, named)

    def _named(self, text: str, words: Sequence[QueryWord]) -> str:
        """`text` with the documents' names typed in lower case (`_name_forms`) written as the documents write
        them ("what did ponting score in perth" -> "what did Ponting score in perth"), the longest first, and the
        countries they never write capitalised too, so that the rules about names read them as names."""
        if self._names is None:
            self._names = _name_forms(self.stored.chunks, self.knobs.english_word_zipf)
        k = 0
        while k < len(words):
            for n in (4, 3, 2, 1):  # the longest first: "lake constance" is one name, "lake" alone a word
                run = words[k : k + n]
                typed = text[run[0].start : run[-1].end] if len(run) == n else ""
                if not typed.islower() or " ".join(typed.split()) != typed:
                    continue
                form = self._names.get(typed)
                if form is None and is_country(typed) and not any(w.word in self.vocabulary for w in run):
                    form = " ".join(part if part in ("and", "of", "the") else part.capitalize()
                                    for part in typed.split())  # a country the documents never write
                if form is not None:
                    text = text[: run[0].start] + form + text[run[-1].end :]
                    k += n - 1
                    break
            k += 1
        return text

    def _spelt(self, typed: str, before: str) -> str | None:
        """The name the documents spell out whose initials the question typed ("NSW"), if it typed initials that
        are no word of the documents and follow no number ("3 PM" is a time)."""
        if len(typed) < 2 or not typed.isupper() or typed.lower() in self.vocabulary or re.search(r"\d\s*$", before):
            return None
        if self._spelt_out is None:
            self._spelt_out = _initials(c.text for c in self.stored.chunks)
        return self._spelt_out.get(typed)

    def _near(self, word: str) -> bool:
        """Whether the corpus holds `word` allowing for a typo ("artcle") or another form of it ("America" for
        "American", "weigh" for "weight"). An English word one letter from a different corpus word is not near:
        "Slack" is not "stack", "Paris" is not "parts"."""
        fixed = self.speller.correct(word)
        if fixed is None:
            return False
        return zipf(word) < self.knobs.english_word_zipf or fixed.startswith(word) or word.startswith(fixed)

    def _grounded(self, signals: abstention.Signals) -> bool:
        """Whether a passage speaks to the question: it holds most of its distinctive wording, or its sentences
        match the part it lacks (the bars of docqa's first release, kept: RetrievalSettings.grounded_*)."""
        return signals.coverage > self.knobs.grounded_coverage or signals.aspect >= self.knobs.grounded_aspect

    def _terms_of(self, sources: Collection[str]) -> set[str]:
        """The terms of the passages of `sources` (each document's set made once, on first use)."""
        terms: set[str] = set()
        for source in sources:
            if source not in self._source_terms:
                self._source_terms[source] = set().union(*(self.lexical.passage_terms(i)
                                                          for i in self._passages_of(source)))
            terms |= self._source_terms[source]
        return terms

    def _known(self, word: QueryWord) -> bool:
        return self.lexical.knows(word.term) or word.word in self.vocabulary

    def _foreign(self, query: str) -> bool:
        words = [w.lower() for w in word_pattern().findall(query) if len(w) > 1 and not w.isdigit()]
        words = [w for w in words if w not in self.vocabulary]
        foreign = sum(is_foreign(w, self.knobs.foreign_margin) for w in words)
        return foreign >= 2 and foreign >= self.knobs.foreign_share * len(words)

    def judge(self, query: str, sources: Collection[str] | None = None) -> tuple[QueryReading, QueryEncoding,
                                                                                  list[tuple[abstention.Signals, Hit]]]:
        """The question as read, its encoding, and the most relevant candidates with their signals, most relevant
        first."""
        reading = self.read(query)
        if sources is not None:  # searching some documents: what the others hold does not count as known
            scope = self._terms_of(sources)
            reading = replace(reading, missing=tuple(w for w in reading.words
                                                     if w in reading.missing or w.term not in scope))
        encoding = self.embedder.encode_query(reading.text)
        vector = encoding.vector
        if vector.shape[0] != self.stored.dims:
            raise IndexMismatchError(f"the model gives {vector.shape[0]}-d vectors, the index holds "
                                     f"{self.stored.dims}-d; run `docqa index` to rebuild")
        allowed = self._allowed(sources)
        terms = list(dict.fromkeys(w.term for w in reading.words))
        dense = self._dense(vector, allowed)
        bm25 = self.lexical.scores(terms)
        fused = self._fuse(dense, bm25, allowed)
        weights = [self.lexical.idf(t) for t in terms]  # once per question, not per candidate
        focus = self._focus(reading, encoding)
        hits = [self._hit(i, s, vector, terms, weights, dense, focus) for i, s in fused]
        hits.sort(key=lambda h: (-h.relevance, -h.fused, h.position))
        judged = hits[: self.knobs.judged]
        top = max((float(bm25[h.position]) for h in judged), default=0.0)
        return reading, encoding, [(self.signals(h, reading, encoding, float(bm25[h.position]) / top if top else 0.0,
                                                 terms), h) for h in judged]

    def search(self, query: str, top_k: int, sources: Collection[str] | None = None,
               asked: str | None = None) -> SearchResult:
        """The best `top_k` passages for `query`, best first, optionally only from `sources`. `asked`: what the
        user typed, when `query` adds words from the conversation ("What's the difference between data and
        non-data ones?" searched with "descriptor"): only the user's own words must be said (`_unmatched`)."""
        if not self.stored.chunks:
            return SearchResult(query, [], False)
        reading, encoding, judged = self.judge(query, sources)
        terms = list(dict.fromkeys(w.term for w in reading.words))
        if not judged:
            return SearchResult(reading.searched, [], False, reading)
        # Whether to answer and which passage leads are decided apart. Whether: the question model, on the most
        # relevant candidate and every grounded one (answer when any reaches the threshold; bench/fit_abstention.py
        # fits exactly this). Which: the most relevant first (relevance is the score shown); or, with
        # order_by="model", by the passage model. So the threshold never reorders passages. A headline leads only
        # when no body passage is grounded or accepted.
        threshold = abstention.threshold()
        grounded = {hit.position: self._grounded(signals) for signals, hit in judged}
        owned = self._owned(judged, reading, terms)
        judged = owned or judged
        counted = {position: ok or position == judged[0][1].position for position, ok in grounded.items()}
        if self.knobs.order_by == "relevance":  # judged is already in relevance order
            ranked = [(signals, replace(hit, score=hit.relevance)) for signals, hit in judged]
        else:
            scored = [(signals, replace(hit, score=abstention.passage_probability(signals))) for signals, hit in judged]
            ranked = sorted(scored, key=lambda sh: (-sh[1].score, sh[1].position))
        beliefs = [(abstention.probability(signals), signals) for signals, hit in ranked if counted[hit.position]]
        probability, basis = max(beliefs, key=lambda b: b[0], default=(0.0, ranked[0][0]))
        lead = ranked[0]
        if _is_headline(lead[1].chunk):
            body = next((sh for sh in ranked if not _is_headline(sh[1].chunk)
                         and (grounded[sh[1].position] or abstention.probability(sh[0]) >= threshold)), None)
            if body is not None:
                ranked = [sh for sh in ranked if not _is_headline(sh[1].chunk)]
                lead = body
        introduced = self._introduction(reading, ranked, lead)
        if introduced is not None:
            ranked = [introduced] + [sh for sh in ranked if sh[1].position != introduced[1].position]
            lead = introduced
        if (probability < threshold or self.vetoed(reading, judged, owned) or not self._measured(reading, lead[1])
                or self._unmatched(reading, lead[1], asked) or self._unnamed_here(reading, lead[1], asked)):
            shown = [h for _, h in ranked[:top_k]]
            return SearchResult(reading.searched, self._highlighted(shown, encoding.vector, terms, reading.text),
                                False, reading, probability, basis)
        floor = self.knobs.follower_ratio * lead[1].relevance
        chosen = [lead[1]] + [h for _, h in ranked[1:] if h.relevance >= floor]
        return SearchResult(reading.searched, self._highlighted(chosen[:top_k], encoding.vector, terms, reading.text),
                            True, reading, probability, basis)

    def _introduction(self, reading: QueryReading, ranked: list[tuple[abstention.Signals, Hit]],
                      lead: tuple[abstention.Signals, Hit]) -> tuple[abstention.Signals, Hit] | None:
        """For "Who is <Name>?", the candidate of the lead's document that introduces the person: the first body
        passage there that names them, itself or in its section heading ("Defense Secretary Pete Hegseth addressed
        NATO allies …", the first line under "## Tilly (cat)"), with that sentence highlighted. News, encyclopedias
        and notes say who someone is where they first name them; later passages take it as known. None when the
        question is not of that form or no candidate of that document names them."""
        match = _WHO_IS.match(reading.text)
        if match is None:
            return None
        name = {w.term for w in self.lexical.query_words(match.group(1))}
        if not name:
            return None
        source = lead[1].chunk.source
        naming = [sh for sh in ranked if sh[1].chunk.source == source and not _is_headline(sh[1].chunk)
                  and (name <= self.lexical.passage_terms(sh[1].position) or self._under(sh[1].position, name))]
        first = min(naming, key=lambda sh: sh[1].chunk.start, default=None)
        if first is None:
            return None
        # Highlighted: the first sentence under a heading that names them, else the first sentence naming them.
        position = first[1].position
        k = 0 if self._under(position, name) else next(
            (k for k, words in enumerate(self.lexical.sentence_terms(position)) if name <= words), 0)
        return first[0], replace(first[1], highlight=first[1].chunk.sentences[k])

    def _under(self, i: int, terms: set[str]) -> bool:
        """Whether passage `i` stands under a section heading (not its document's headline) that holds `terms`."""
        section = self._section_of(i)
        return section is not None and terms <= self.lexical.passage_terms(section)

    def _section_of(self, i: int) -> int | None:
        """The section heading passage `i` stands under; None under no heading or only the document's headline."""
        heading, _ = self._context_of(i)
        return None if heading == self._headlines.get(self.stored.chunks[i].source) else heading

    def _unmatched(self, reading: QueryReading, lead: Hit, asked: str | None = None) -> bool:
        """Whether the lead passage leaves `unmatched_words` of the question's less common words (rarer than
        `unmatched_zipf`) unsaid: neither it nor its section heading holds them, and none of its words comes close
        in meaning (a cosine of `unmatched_cosine`, each word encoded alone). "What did the defense ministers
        decide about drone production?" against "Hegseth called for robust international oversight …": ministers
        0.58, drone 0.47. Paraphrases keep at least one of them close or are worded in commoner words ("How do I
        sort from largest to smallest?")."""
        knobs = self.knobs
        heading, _ = self._context_of(lead.position)
        present = self.lexical.passage_terms(lead.position)
        texts = [lead.chunk.text]
        if heading is not None:
            present = present | self.lexical.passage_terms(heading)
            texts.append(self.stored.chunks[heading].text)
        own = None if asked is None else {w.term for w in self.read(asked).words}
        rare = list(dict.fromkeys(w.word.lower() for w in reading.words
                                  if w.term not in present and zipf(w.word) < knobs.unmatched_zipf
                                  and (own is None or w.term in own)))
        if len(rare) < knobs.unmatched_words:
            return False
        words = sorted({w.lower() for text in texts for w in word_pattern().findall(text)
                        if len(w) > 2 and not w.isdigit()})
        best = self._closest_words(rare, words)
        return sum(b < knobs.unmatched_cosine for b in best) >= knobs.unmatched_words

    def _unnamed_here(self, reading: QueryReading, lead: Hit, asked: str | None = None) -> bool:
        """Whether the question names something its lead passage does not: a run of capitalised words (after the
        first word, unless it is a name) that the documents hold, that neither the passage, its section heading
        nor its document's title holds, that its document mentions only in passing (in under `incidental_share` of
        its passages) and that no term of the passage says otherwise (`synonym_cosine`). "What is the longest river
        in Germany?" is not answered by Albania's list of rivers (9 of the article's 278 passages name Germany);
        "Where does two thirds of the Rhine flow outside of Germany?" is, by a Rhine paragraph that never says
        "Germany" (18% of the article's do: it is part of what the article is about). Names no passage holds are
        `_unnamed`'s."""
        heading, _ = self._context_of(lead.position)
        texts = [lead.chunk.text, lead.chunk.title]
        present = self.lexical.passage_terms(lead.position) | {w.term for w in self.lexical.query_words(
            lead.chunk.title)}
        if heading is not None:
            texts.append(self.stored.chunks[heading].text)
            present = present | self.lexical.passage_terms(heading)
        said = " ".join(" ".join(t.split()) for t in texts).lower()
        own = None if asked is None else asked.lower()
        runs = []
        for m in _CAPITALISED.finditer(reading.text):
            words = m.group().split()[reading.skip(m.start()) :]  # the question's first word is capitalised anyway
            run = " ".join(words)
            terms = [w.term for w in self.lexical.query_words(run)]
            if (not terms or all(w.rstrip("s").lower() in _CALENDAR for w in words)
                    or own is not None and run.lower() not in own):  # the conversation's words, not the user's
                continue
            if (run.lower() in said if len(words) > 1 else terms[0] in present) or not all(
                    self.lexical.knows(t) for t in terms):
                continue
            shares = self._shares(lead.chunk.source)  # only for a name the passage lacks
            if min(shares.get(t, 0.0) for t in terms) < self.knobs.incidental_share:
                runs.append(run)
        return bool(runs) and any(best < self.knobs.synonym_cosine for best in self._closest(runs, [lead]))

    def _measured(self, reading: QueryReading, lead: Hit) -> bool:
        """Whether the lead passage gives the measure the question asks for ("How deep …?": a length), if it asks
        for one the documents give somewhere."""
        return not measures_asked(reading.text) or gives_measure(reading.text, lead.chunk.text, self._measures_given())

    def _measures_given(self) -> frozenset[int]:
        """The kinds of measure (`_MEASURES`) some passage gives in its unit: lengths, temperatures, weights,
        sums of money. Found once per index."""
        if self._measures is None:
            self._measures = frozenset(i for i, (_, unit) in enumerate(_MEASURES)
                                       if any(unit.search(c.text) for c in self.stored.chunks))
        return self._measures

    def signals(self, hit: Hit, reading: QueryReading, encoding: QueryEncoding, bm25_share: float,
                terms: list[str]) -> abstention.Signals:
        """What the abstention model weighs for one hit."""
        mean, spread = self.null_cosine()
        info = [max(0.0, 8.0 - zipf(w.word)) for w in reading.words]  # 8 - zipf ~ how surprising the word is
        lost = sum(max(0.0, 8.0 - zipf(w.word)) for w in reading.missing)
        return abstention.Signals(
            missing_share=lost / sum(info) if sum(info) else 0.0,
            missing_rarest=max((max(0.0, 8.0 - zipf(w.word)) for w in reading.missing), default=0.0),
            cosine_z=(hit.sentence_cosine - mean) / spread,
            relevance=hit.relevance,
            coverage=hit.coverage,
            aspect=self._aspect(hit, reading, encoding),
            bm25_share=bm25_share,
            sentence_coverage=max((self.lexical.text_coverage(terms, words)
                                   for words in self.lexical.sentence_terms(hit.position)), default=0.0),
        )

    def _aspect(self, hit: Hit, reading: QueryReading, encoding: QueryEncoding) -> float:
        """How well the passage's sentences match the part of the question it does not share word for word
        (1.0 when it shares every word)."""
        present = self.lexical.passage_terms(hit.position)
        missing = encoding.part([(w.start, w.end) for w in reading.words if w.term not in present])
        if missing is None:
            return 1.0
        return float((self.stored.chunk_sentence_vectors(hit.position) @ missing).max())

    def _owned(self, judged: list[tuple[abstention.Signals, Hit]], reading: QueryReading,
               terms: list[str]) -> list[tuple[abstention.Signals, Hit]]:
        """The candidates about what the question names.
        - Its names ("What did Hegseth say about the Rhine?") and its terms rare in English ("Can rsync compress
          with zstd?": rarer than `english_word_zipf`) that some passage holds: the candidate's document holds them
          all. A document that never names the Rhine does not say what Hegseth said about it.
        - Its owner ("Tilly's microchip number"): the candidate's section (or, in a document without sections, its
          document) names the owner, and the candidate holds the rest of the question's wording at least as well
          as every candidate about someone else. When "Microchip number …" stands under Biscuit's heading, "Mrs
          Dunn … number 7 … Tilly" does not answer for Tilly: the documents give the thing, but for someone else.
        All candidates when the question names nothing."""
        owners = {w.term for w in reading.possessors if w not in reading.missing}
        names = {w.term for w in reading.names if self.lexical.knows(w.term)} - owners
        names |= {w.term for w in reading.words if self.lexical.knows(w.term)  # jargon names a thing too
                  and zipf(w.word) < self.knobs.english_word_zipf} - owners
        if not owners and not names:
            return judged
        inside = [names <= self._terms_of([hit.chunk.source]) and self._in_scope(hit.position, owners)
                  for _, hit in judged]
        thing = [t for t in terms if t not in owners]
        if not owners or not thing:
            return [sh for sh, ok in zip(judged, inside) if ok]
        held = [self.lexical.coverage(thing, hit.position) for _, hit in judged]
        bar = max((h for h, ok in zip(held, inside) if not ok), default=0.0)
        return [sh for sh, h, ok in zip(judged, held, inside) if ok and h >= bar]

    def vetoed(self, reading: QueryReading, judged: list[tuple[abstention.Signals, Hit]],
               owned: list[tuple[abstention.Signals, Hit]]) -> bool:
        """Whether the candidates cannot be about what the question names, whatever the abstention model
        believes: none is about its names and owner (`_owned`), it gives a name or number no passage holds and no
        candidate says otherwise, or it asks about a topic no passage mentions (cheapest test first)."""
        return not owned or self._unnamed(reading, judged) or self._unmentioned(reading, judged)

    def _unnamed(self, reading: QueryReading, judged: list[tuple[abstention.Signals, Hit]]) -> bool:
        """Whether the question gives a name or number that no passage holds ("What rail system serves
        Grenoble?") and no candidate says otherwise: a name whose cosine to a word, abbreviation or name of a
        candidate (each encoded alone) reaches `synonym_cosine` is said otherwise ("Moscow" for Russia 0.83, "the
        United States" for "the U.S." 0.88; "Taiwan" for China is not: 0.73). A number is never said otherwise."""
        names = reading.missing_names
        if not names:
            return False
        if any(ch.isdigit() for name in names for ch in name):
            return True
        runs = [m.group().split()[reading.skip(m.start()) :] for m in _CAPITALISED.finditer(reading.text)]
        runs = list(dict.fromkeys(" ".join(self._trimmed(run, names)) for run in runs
                                  if any(name in run for name in names)))
        hits = [h for _, h in judged]
        return any(best < self.knobs.synonym_cosine for best in self._closest(runs or list(names), hits))

    def _trimmed(self, run: list[str], missing: Collection[str]) -> list[str]:
        """A run of capitalised words without the names the documents hold at its ends: "Finland NATO" (a search
        typed as keywords) is "Finland", which the documents' "NATO" does not say otherwise. "United States"
        stays whole: "States" is no name of the documents."""
        held = self._names or {}  # filled by `read`
        while len(run) > 1 and run[0] not in missing and run[0].lower() in held:
            run = run[1:]
        while len(run) > 1 and run[-1] not in missing and run[-1].lower() in held:
            run = run[:-1]
        return run

    def _unmentioned(self, reading: QueryReading, judged: list[tuple[abstention.Signals, Hit]]) -> bool:
        """Whether the question asks about a topic the sources never mention: none of its words occurs in any
        passage, no candidate's sentence says it in other words (the topic alone, encoded, reaches `topic_cosine`
        with none), and none of its words has a synonym among the candidates' words (a word cosine of at least
        `synonym_cosine`: "soldiers" for "troops" is one; "navy" for "military" is not)."""
        topic = reading.unmentioned_topic
        if not topic:
            return False
        said = np.asarray(self.embedder.encode_queries([reading.topic_text]), dtype=np.float32)[0]
        if any(float((self.stored.chunk_sentence_vectors(hit.position) @ said).max(initial=-1.0))
               >= self.knobs.topic_cosine for _, hit in judged):
            return False
        hits = [h for _, h in judged]
        return all(best < self.knobs.synonym_cosine for best in self._closest([t.word for t in topic], hits))

    def _closest(self, phrases: list[str], hits: Iterable[Hit]) -> list[float]:
        """Each phrase's best cosine with a term of the hits' passages: a word of three letters or more, an
        abbreviation ("EU", "U.S.") or a run of capitalised words ("European Union"), each encoded alone."""
        terms: set[str] = set()
        for hit in hits:
            text = hit.chunk.text
            terms.update(w for w in word_pattern().findall(text) if (len(w) > 2 or w.isupper()) and not w.isdigit())
            terms.update(m.group() for m in _ABBREVIATION.finditer(text))
            terms.update(m.group() for m in _CAPITALISED.finditer(text) if " " in m.group())
        return self._closest_words([p.lower() for p in phrases], sorted({t.lower() for t in terms}))

    def _closest_words(self, wanted: list[str], keys: list[str]) -> list[float]:
        """Each of `wanted`'s best cosine with one of `keys` (all lower-case, each encoded alone; cached)."""
        fresh = [k for k in dict.fromkeys(keys + wanted) if k not in self._word_vectors]
        if len(self._word_vectors) + len(fresh) > _MAX_WORD_VECTORS:  # a long-running server over a big corpus
            self._word_vectors.clear()
            fresh = list(dict.fromkeys(keys + wanted))
        if fresh:
            self._word_vectors.update(zip(fresh, np.asarray(self.embedder.encode_queries(fresh), dtype=np.float32)))
        if not keys:
            return [-1.0 for _ in wanted]
        matrix = np.vstack([self._word_vectors[k] for k in keys])
        return [float((matrix @ self._word_vectors[p]).max()) for p in wanted]

    def _in_scope(self, i: int, terms: set[str]) -> bool:
        """Whether passage `i`'s scope holds every one of `terms`: the passage and its section heading, or the whole
        document when the passage stands under no heading but the document's title."""
        section = self._section_of(i)
        if section is None:
            return terms <= self._terms_of([self.stored.chunks[i].source])
        return terms <= self.lexical.passage_terms(i) | self.lexical.passage_terms(section)

    def _allowed(self, sources: Collection[str] | None) -> np.ndarray | None:
        if sources is None:
            return None
        wanted = set(sources)
        return np.array([c.source in wanted for c in self.stored.chunks], dtype=bool)

    def _window_coverage(self, i: int, terms: list[str], weights: list[float]) -> float:
        """The idf-weighted share of the question's terms (`weights`: their idf) that the best two adjacent
        sentences of passage `i` hold (its one sentence, if it has one): the question's words close together, as an
        answer states them, not scattered over the passage."""
        total = sum(weights)
        sentences = self.lexical.sentence_terms(i)
        if not total or not sentences:
            return 0.0
        found = [{k for k, t in enumerate(terms) if t in words} for words in sentences]
        pairs = [a | b for a, b in zip(found, found[1:])] or found
        return max(sum(weights[k] for k in pair) for pair in pairs) / total

    def _context_of(self, i: int) -> tuple[int | None, int | None]:
        """The section heading (or headline) passage `i` stands under, the nearest heading before it in its
        document, and the passage just before it there (None for either when there is none). Found once per
        index."""
        context = self._context
        if context is None:
            chunks = self.stored.chunks
            context = [(None, None)] * len(chunks)
            heading: dict[str, int] = {}
            previous: dict[str, int] = {}
            for j in sorted(range(len(chunks)), key=lambda j: (chunks[j].source, chunks[j].start)):
                source = chunks[j].source
                context[j] = (heading.get(source), previous.get(source))
                previous[source] = j
                if _is_headline(chunks[j]):
                    heading[source] = j
            self._context = context
        return context[i] if i < len(context) else (None, None)

    def _dense(self, vector: np.ndarray, allowed: np.ndarray | None) -> dict[int, float]:
        index = self.stored.faiss_index
        query = vector[None, :].astype(np.float32)
        if allowed is None:
            scores, ids = index.search(query, min(index.ntotal, self.settings.candidates))
        else:  # only the chosen documents' passages, searched inside FAISS (no scan of the rest)
            from .ann import search_params

            wanted = int(allowed.sum())
            if not wanted:
                return {}
            k = min(wanted, self.settings.candidates)
            scores, ids = index.search(query, k, params=search_params(index, allowed))
        out = {}
        for i, s in zip(ids[0], scores[0]):
            if i >= 0 and np.isfinite(s):  # FAISS pads with -1
                out[int(i)] = float(s)
        return out

    def _fuse(self, dense: dict[int, float], lexical: np.ndarray,
              allowed: np.ndarray | None) -> list[tuple[int, float]]:
        k = self.settings.rrf_k
        fused: dict[int, float] = {}
        for rank, i in enumerate(sorted(dense, key=lambda i: -dense[i])):
            fused[i] = 1.0 / (k + rank + 1)
        order = np.argsort(-lexical, kind="stable")[: self.settings.candidates]
        rank = 0
        for i in order:
            if lexical[i] <= 0:
                break
            if allowed is not None and not allowed[i]:
                continue
            fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (k + rank + 1)
            rank += 1
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[: self.settings.candidates]

    def _focus(self, reading: QueryReading, encoding: QueryEncoding) -> np.ndarray | None:
        """The question's vector without the names of a whole document's subject (`subject_share`), when it gives
        one and other words: "Hegseth article 5" is mostly "Hegseth" to the model (cosine 0.10 with the Article 5
        passage), and so is every Rhine question "Rhine". None otherwise."""
        subjects = self._subjects()
        named = [w for w in reading.words if w.term in subjects and reading.text[w.start].isupper()]
        rest = [(w.start, w.end) for w in reading.words if w not in named]
        return encoding.part(rest) if named and rest else None

    def _subjects(self) -> frozenset[str]:
        """Terms in at least `subject_share` of the passages of some document: what that document is about.
        Found once per index."""
        if self._subject_terms is None:
            share = self.knobs.subject_share
            self._subject_terms = frozenset(t for source in {c.source for c in self.stored.chunks}
                                            for t, held in self._shares(source, keep=False).items()
                                            if held >= share)
        return self._subject_terms

    def _shares(self, source: str, keep: bool = True) -> dict[str, float]:
        """Each term of document `source` by the share of its passages that hold it; kept for the documents
        questions lead to (at most `_MAX_SHARED_DOCUMENTS` at a time), unless `keep` is false."""
        shares = self._term_shares.get(source)
        if shares is None:
            held = [self.lexical.passage_terms(i) for i in self._passages_of(source)]
            counts = Counter(t for terms in held for t in terms)
            shares = {t: n / len(held) for t, n in counts.items()}
            if keep:
                if len(self._term_shares) >= _MAX_SHARED_DOCUMENTS:  # a long-running server over many documents
                    self._term_shares.clear()
                self._term_shares[source] = shares
        return shares

    def _passages_of(self, source: str) -> list[int]:
        """The positions of document `source`'s passages (all documents indexed at once, on first use)."""
        if self._by_source is None:
            by_source: dict[str, list[int]] = {}
            for i, c in enumerate(self.stored.chunks):
                by_source.setdefault(c.source, []).append(i)
            self._by_source = by_source
        return self._by_source.get(source, [])

    def _hit(self, i: int, score: float, vector: np.ndarray, terms: list[str], weights: list[float],
             dense: dict[int, float], focus: np.ndarray | None = None) -> Hit:
        """One candidate with its relevance; with `focus` (`_focus`), the relevance's cosines are the mean of the
        question's and the focused question's (the signals keep the question's own)."""
        cosine = dense.get(i)
        passage = None
        if cosine is None or focus is not None:
            passage = self.stored.faiss_index.reconstruct(i)
            cosine = float(passage @ vector) if cosine is None else cosine
        sentences = self.stored.chunk_sentence_vectors(i)
        sentence_cosine = float((sentences @ vector).max())
        meaning = (cosine + sentence_cosine) / 2
        if focus is not None:
            meaning = (meaning + (float(passage @ focus) + float((sentences @ focus).max())) / 2) / 2
        coverage = self.lexical.coverage(terms, i)
        knobs = self.knobs
        # Coverage in context: the passage's own words, those of the section heading it stands under (which names
        # its topic), and at `previous_weight` those of the passage before it (whose subject it often goes on with).
        heading, previous = self._context_of(i)
        covered = coverage
        if sum(weights) and (heading is not None or previous is not None):
            own = self.lexical.passage_terms(i)
            above = self.lexical.passage_terms(heading) if heading is not None else set()
            before = self.lexical.passage_terms(previous) if previous is not None else set()
            inside = sum(w for t, w in zip(terms, weights) if t in own or t in above)
            beside = sum(w for t, w in zip(terms, weights) if t not in own and t not in above and t in before)
            covered = (inside + knobs.previous_weight * beside) / sum(weights)
        relevance = (meaning + knobs.coverage_weight * covered
                     + knobs.window_coverage_weight * self._window_coverage(i, terms, weights))
        if heading is not None and knobs.heading_weight:
            relevance += knobs.heading_weight * float(self.stored.faiss_index.reconstruct(heading) @ vector)
        return Hit(self.stored.chunks[i], i, score, cosine, sentence_cosine, coverage, relevance)

    def _highlighted(self, hits: list[Hit], vector: np.ndarray, terms: list[str], question: str) -> list[Hit]:
        return [h if h.highlight is not None else  # an introduction (`_introduction`) comes highlighted
                replace(h, highlight=answering_span(self.stored, self.lexical, h.position, vector, terms, self.knobs,
                                                    question)) for h in hits]


def _is_headline(chunk: Chunk) -> bool:
    """Whether a passage is a heading: its document's headline (the title standing as paragraph 1, maybe a
    Markdown heading), or a section heading (one short line that does not end as a sentence does; a "Label: value"
    line is a field, not a heading). A heading names a topic; it does not answer a question about it."""
    marked = chunk.text.lstrip().startswith("#")
    text = " ".join(chunk.text.lstrip("#").split())
    if chunk.paragraph == 1 and text == " ".join(chunk.title.split()):
        return True
    if not marked and is_field(text):  # "Owner: Anna Berg", "Closed: Mondays": a fact, not a topic
        return False
    return len(chunk.sentences) == 1 and len(text) <= 100 and not text.endswith((".", "?", "!", ":", "\"", "”"))
