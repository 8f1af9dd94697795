"""Conversation: checks a question and its history, spots small talk, and rewrites follow-ups."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from .errors import HistoryError, QuestionError
from .lexical import last_topic
from .settings import RetrievalSettings
from .wording import PLACE_PREPOSITIONS, is_country, zipf

ENGLISH_WORD_ZIPF = RetrievalSettings().english_word_zipf  # the default bar: a rarer word is a name or a term

MAX_HISTORY_CHARS = 200_000
_MARKER = re.compile(r"\s*\[\d+\]\s*$")  # the [n] citation after a quoted sentence
_ESCAPED = re.compile(r"\\(.)")  # answer.escape's backslashes

_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format (zero-width), surrogate, private, unassigned
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_FOLLOW_UP = re.compile(
    r"^(and|but|also|so|then|what about|how about|what else|why|why not|how so|anything else|"
    r"and what|what of|compared)\b|\b(it|its|that|this|those|these|they|them|their|he|him|his|she|her|"
    r"the same|one|ones|there|then)\b",
    re.IGNORECASE,
)
_SMALL_TALK = re.compile(
    r"^(hi|hello|hey|hiya|howdy|yo|good (morning|afternoon|evening)|thanks|thank you|thx|cheers|"
    r"ok|okay|great|cool|nice|bye|goodbye|see you|how are you)[\s!.,?]*(there|again|a lot|so much|"
    r"very much|docqa)?[\s!.,?]*$",
    re.IGNORECASE,
)


def clean_question(question: Any, max_chars: int) -> str:
    """The question as plain text, or QuestionError saying what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    if len(question) > max_chars:  # checked before any other work: tokenisers read the whole string
        raise QuestionError(f"the question is {len(question):,} characters; the limit is {max_chars:,}")
    text = _ANSI.sub(" ", question)
    text = "".join(" " if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if not text:
        raise QuestionError("the question is empty")
    return text


def clean_history(history: Any, max_messages: int) -> list[dict[str, str]]:
    """The history as {"role", "content"} messages (Gradio's format); HistoryError otherwise."""
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise HistoryError(f"history must be a list of messages, not {type(history).__name__}")
    if sum(_chars(m) for m in history) > MAX_HISTORY_CHARS:  # every message, before any other work on them
        raise HistoryError(f"history is over {MAX_HISTORY_CHARS:,} characters; start a new conversation")
    total = 0
    messages = []
    window = history[-max_messages:] if max_messages > 0 else []
    for i, message in enumerate(window, len(history) - len(window)):
        if not isinstance(message, dict):
            raise HistoryError(f"history[{i}] must be a dict with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant", "system"):
            raise HistoryError(f"history[{i}]['role'] must be 'user', 'assistant' or 'system', not {role!r}")
        if isinstance(content, dict):  # one structured part, e.g. a file
            content = [content]
        if isinstance(content, (list, tuple)):  # Gradio may send structured content; keep its text parts
            content = " ".join(part["text"] for part in content
                               if isinstance(part, dict) and isinstance(part.get("text"), str))
        if not isinstance(content, str):
            raise HistoryError(f"history[{i}]['content'] must be text, not {type(content).__name__}")
        total += len(content)
        if total > MAX_HISTORY_CHARS:
            raise HistoryError(f"history is over {MAX_HISTORY_CHARS:,} characters; start a new conversation")
        messages.append({"role": role, "content": content})
    return messages


def _chars(message: Any) -> int:
    """The characters of a message's text content (its text parts when structured); 0 for anything else."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return len(content)
    parts = [content] if isinstance(content, dict) else content if isinstance(content, (list, tuple)) else ()
    return sum(len(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def is_small_talk(question: str) -> bool:
    """Greetings and thanks, which deserve a reply but no sources."""
    return bool(_SMALL_TALK.match(question))


# Words that point at something the question does not name. Personal pronouns are left out: in a document
# they mostly mean its main subject, which the search needs no help to find.
_REFERS = re.compile(r"\b(it|its|that|this|those|these|the same|there|one|ones|compared?)\b", re.IGNORECASE)
# "instead", "else": other than what was said. They point back only in a question with no words of its own ("What
# else?", "And instead?"); "Who should send troops instead?" names what it asks, and is searched alone first.
_OTHER_THAN = re.compile(r"\b(instead|else)\b", re.IGNORECASE)
# "Why?", "Why would that help?", "How come?": a why-question whose other words only point back (it, that, he)
# or are generic (help, matter, important): it asks for the reason behind the previous answer.
_WHY_OPENING = re.compile(r"^(?:(?:and|but|so|ok|okay)[\s,]+)?(why|how come|for what reason)\b(.*)$", re.IGNORECASE)
_WHY_FILLER = frozenset(
    "is was are were be been does did do would will should could can might must has have had that it this he she they "
    "so not the case matter matters help helps helped work works happen happened happens important necessary needed "
    "need needs make makes sense say said says think thinks want wants ask asked them him her there then though "
    "exactly again it's that's useful good bad better worse relevant true right wrong possible".split())


# An overview request is made of overview cues, words naming the documents and form words, and nothing else:
# "What is this about?", "Give me a quick overview of each guide", "Summarize the docs". Any other word
# ("Article 5", "troops", "tramway") makes it a question about something in the documents.
_OVERVIEW_CUES = frozenset("about summary summarize summarise summarized summarised sum overview gist tldr tl;dr "
                           "recap synopsis outline topics topic cover covers covered themes theme".split())
_DOCUMENT_WORDS = frozenset(
    "article articles document documents doc docs text texts story stories page pages file files report reports "
    "source sources paper papers guide guides howto howtos note notes book books chapter chapters manual manuals "
    "essay essays post posts material materials content contents collection library corpus here everything "
    "uploaded upload uploads news newsletter newsletters minutes memo memos letter letters email emails transcript "
    "transcripts pdf pdfs slides entries entry log logs diary journal readme wiki section sections paragraph "
    "paragraphs".split())
_FORM_WORDS = frozenset(
    "what what's whats is are was were it it's its this that these those they them all each every any of the a an "
    "in on me us please can could would will you your my our give tell write make provide show do does did say "
    "says said for quick short brief main key general overall high level high-level one line big picture "
    "i we have got so far up just there there's and or to be".split())
_OVERVIEW_WORD = re.compile(r"[a-z0-9][a-z0-9;'’-]*", re.IGNORECASE)


def _words(text: str) -> list[str]:
    """The words of `text`, lower-cased, with typographic apostrophes made plain."""
    return [w.replace("’", "'").lower() for w in _OVERVIEW_WORD.findall(text)]


def is_overview_request(question: str) -> bool:
    """ "What is this about?", "Summarize the article": a request for what the documents are, not a search."""
    words = _words(question)
    if not words or words[:2] in (["what", "about"], ["how", "about"], ["and", "what"]):  # follow-ups
        return False
    cue = any(w in _OVERVIEW_CUES for w in words) or words[:2] in (["what's", "in"], ["whats", "in"]) \
        or words[:3] == ["what", "is", "in"]
    return cue and all(w in _OVERVIEW_CUES or w in _DOCUMENT_WORDS or w in _FORM_WORDS for w in words)


def is_bare_why(question: str) -> bool:
    """ "Why?", "Why would that help?": asks for the reason behind the previous answer and names nothing itself."""
    match = _WHY_OPENING.match(question.strip())
    return match is not None and all(w in _WHY_FILLER for w in _words(match.group(2)))


def looks_like_follow_up(question: str) -> bool:
    """Whether the question leans on an earlier one ("And what about ...?", "How does that compare ...?")."""
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 3


def refers_back(question: str, history: Sequence[dict[str, str]] = (), max_chars: int = MAX_HISTORY_CHARS, *,
                name_zipf: float = ENGLISH_WORD_ZIPF) -> bool:
    """Whether the question points at something it does not name ("How does that compare?", "Why?"), so it
    cannot be searched alone; "What about the spending target?" names its subject and can. With the `history`,
    also a question that names a person or animal only by "he"/"she" when the last questions name one, and
    a bare phrase ("And Biscuit?") that stands in for a phrase of its kind in the last question: the search
    needs that question."""
    if _REFERS.search(_EXISTENTIAL.sub(" ", question)) or is_bare_why(question) or _PAST_THEN.search(question):
        return True
    if _OTHER_THAN.search(question) and not [w for w in _own_words(question) if not _OTHER_THAN.fullmatch(w)]:
        return True
    turns = _user_turns(history, max_chars) if history and looks_like_follow_up(question) else []
    return bool(turns) and (_ellipsis(question, history, turns, max_chars, 2, name_zipf) is not None
                            or _named_person(question, history, turns, max_chars, 2, name_zipf) is not None)


def resolve_query(question: str, history: Sequence[dict[str, str]], max_chars: int, depth: int = 2, *,
                  name_zipf: float = ENGLISH_WORD_ZIPF) -> str:
    """The text to search: the question itself, or, for a follow-up, what it needs from the conversation and no
    more. A question that points back with "it", "that", "there"… gets the subject of the conversation in place
    of that word ("And where does it end?" after "Where does the Rhine start?" is "And where does the Rhine
    end?": the subject, not the previous question's predicate). "And Biscuit?" is the previous question asked of
    Biscuit; "he", "she", "his" are the name the last questions had as their subject ("When is his booster?"
    after "And Biscuit?" is "When is Biscuit's booster?"). A question with no words of its own ("Where?",
    "How come?") is read after the previous question; so is one that names its own subject ("What about the
    spending target?"), which the assistant searches alone first. Only as much history as needed: earlier turns
    (up to `depth` back) only when the later ones name nothing. A word rarer in English than `name_zipf`
    (`RetrievalSettings.english_word_zipf`) counts as a name."""
    if not looks_like_follow_up(question):
        return question
    turns = _user_turns(history, max_chars)
    if not turns:
        return question
    stood_in = _ellipsis(question, history, turns, max_chars, depth, name_zipf)
    if stood_in is not None:  # "And Biscuit?" after "What medicine does Tilly take?"
        return stood_in[-max_chars:]
    named = _named_person(question, history, turns, max_chars, depth, name_zipf)
    if named is not None:  # "Who looks after him?" after "Does Biscuit need a rabies jab?"
        if _pointer(named) is None:
            return named[-max_chars:]
        question = named
    pointer = _pointer(question)
    fronted = _FRONTED.match(question)
    if pointer is not None and fronted is not None and pointer.start() >= fronted.end() and _own_words(
            fronted.group(1)):  # "What about __slots__, how much memory does it save?": "it" is __slots__
        return question
    if pointer is not None and _own_words(question):
        kind = _kind_named(question, pointer, turns[-1][1], previous_quote(history), name_zipf)
        if kind is not None:  # "Who rebuilt that harbour?" after "... the old harbour?": "the old harbour"
            phrase, end = kind
            return f"{question[:pointer.start()]}{phrase}{question[end:]}"[-max_chars:]
        # "it", "there", "one" and "that age" keep to the topic; a bare "that" may mean anything said
        topic = not _says_what(question, pointer)
        subject = " ".join(_agreeing(_subject(history, turns, depth, name_zipf, topic), pointer.group(1)))
        called = _called(subject, history) if topic else None
        if called is not None:  # "This idiom is called X": the document goes on to say "this idiom"
            subject = called + ("'s" if pointer.group(1).lower() in ("its", "their") else "")
        elif topic:
            subject = _proper(subject, turns) or subject
        if subject:
            compared = _compared(question, pointer)
            if compared is not None:  # "do the same job" keeps its noun: "do the same job as argparse"
                return f"{question[:compared]} as {subject}{question[compared:]}"[-max_chars:]
            return f"{question[:pointer.start()]}{subject}{question[pointer.end():]}"[-max_chars:]
    index, previous = turns[-1]
    if depth > 0 and (_pointer(previous) is not None or refers_back(previous) or not _own_words(previous)):
        previous = resolve_query(previous, history[:index], max_chars, depth - 1, name_zipf=name_zipf)
    return f"{previous} {question}"[-max_chars:]


# "What about __slots__, how much memory does it save?", "As for the pears, where are they kept?": the question
# names its topic first, and its pointers mean that topic.
_FRONTED = re.compile(r"^(?:(?:and|but|so|ok|okay)[\s,]+)?(?:what about|how about|as for|as to|regarding|concerning)"
                      r"\s+([^,;:?]+)[,;:]", re.IGNORECASE)
# "What was Cologne called then?": "then" in the past tense is "at that time", a time the question does not name
# (unlike "What can I add then?", "in that case", or an opening "Then what …?").
_PAST_THEN = re.compile(r"^(?=.*\b(?:was|were|did|had|wasn't|weren't|didn't|hadn't)\b).*\S\s+then\b", re.IGNORECASE)
# "And Biscuit?", "and the pears?": a conjunction, then only a noun phrase. Not "What about X?", which as often
# opens a topic of its own ("What about the spending target?" is searched alone first, see resolve_query).
_ELLIPSIS = re.compile(r"^(?:and|but|or)[\s,]+(.+?)[\s?.!]*$", re.IGNORECASE)
# A person or an animal named only by a pronoun ("What medicine does she take?"). Not in _REFERS: with no name in
# the last questions ("What did he say about Crimea?" over one speaker's speech) the question is searched alone.
_PERSON = re.compile(r"\b(he|him|his|she|her|hers)\b", re.IGNORECASE)


def _ellipsis(question: str, history: Sequence[dict[str, str]], turns: list[tuple[int, str]], max_chars: int,
              depth: int, name_zipf: float) -> str | None:
    """ "And Biscuit?" after "What medicine does Tilly take?": the last question (its own pointers resolved)
    asked again with the new phrase in place of the last phrase of its kind, a name for a name ("Tilly", or an
    unresolved "she"), a common noun for a common noun ("the apples" for "the pears"); None when the turn is
    not a bare phrase or the last question has no phrase of its kind (then it is read as before)."""
    match = _ELLIPSIS.match(question.strip())
    if match is None or depth <= 0:
        return None
    words = _TOKEN.findall(match.group(1))
    if not 1 <= len(words) <= 4 or not _content(words[-1]) or not all(
            _content(w) or w.lower() in _DETERMINERS for w in words[:-1]):
        return None
    asked = [(i, p) for i, p in reversed(turns) if _own_words(p)][:1]
    if not asked:
        return None
    index, previous = asked[0]
    previous = resolve_query(previous, history[:index], max_chars, depth - 1, name_zipf=name_zipf)
    if _stems(match.group(1)) <= _stems(previous):  # "And Tilly?" after a question about Tilly
        return None
    topic = last_topic(previous)
    name = _named(words[-1], False, name_zipf)
    tokens = _TOKEN.findall(previous)
    spots = [(start, phrase) for start, phrase in _phrases(previous, None, name_zipf)
             if _named(phrase[-1], start == 0, name_zipf) == name]
    if name:
        spots += [(i, [t]) for i, t in enumerate(tokens) if _PERSON.fullmatch(t) and t.lower() not in ("his", "hers")]
    where = None
    if spots:
        _, phrase = max(spots, key=lambda spot: spot[0])  # the last: what the question asked about, after its subject
        found = list(re.finditer(r"(?<!\w)" + r"\W+".join(map(re.escape, phrase)) + r"(?!\w)", previous))
        where = found[-1] if found else None
    if topic is not None and (where is None or where.start() >= topic.end()):
        # the last question's topic ("about …"), when no phrase of the kind stands outside it: "and nuclear
        # weapons?" after "What did he say about the F-35?"; "And Ben?" after "What did Ada say about school?"
        # is still Ben's
        return f"{previous[:topic.end()]}{' '.join(words)}?"
    if where is None:
        return None
    return f"{previous[:where.start()]}{' '.join(words)}{previous[where.end():]}"


def _named_person(question: str, history: Sequence[dict[str, str]], turns: list[tuple[int, str]],
                  max_chars: int, depth: int, name_zipf: float) -> str | None:
    """ "When is his next booster?" after "And Biscuit?" (read "What medicine does Biscuit take?"): the question
    with its first "he", "him", "his", "she", "her" as the name the last questions had as their grammatical
    subject, read with their own pointers resolved; turns with no words of their own ("Why?") are passed over,
    at most `depth` others are read. None when the question has no such pronoun or no name is found."""
    pronoun = _PERSON.search(question)
    if pronoun is None:
        return None
    read = 0
    for k in range(len(turns) - 1, -1, -1):
        index, previous = turns[k]
        if not _own_words(previous):
            continue
        if read >= max(depth, 1):
            break
        read += 1
        if _PERSON.search(previous):  # "Does he need …?" after "When is his booster?": the same name, at no depth
            resolved = _named_person(previous, history[:index], turns[:k], max_chars, depth, name_zipf)
            if resolved is None:
                return None
        else:
            resolved = resolve_query(previous, history[:index], max_chars, max(depth - 1, 0), name_zipf=name_zipf)
        if resolved.endswith(previous) and resolved != previous:  # read after the question before: not its own
            resolved = previous
        name = _subject_name(resolved)
        if name is not None and not _may_be_person(name):  # "When did Russia invade?": not whom "he" means
            continue
        if name is None and _ASKS_WHO.search(resolved):  # "Who was elected treasurer?": the person the answer named
            name = _person_in(resolved, previous_quote(history[:index + 2]), name_zipf)
            if name is None:  # it asked for a person and the answer named none: not an earlier question's subject
                return None
        if name is not None:
            rest = question[pronoun.end():]
            word = pronoun.group(1).lower()
            after = _TOKEN.findall(rest)[:1]
            owner = word in ("his", "hers") or (word == "her" and bool(after) and _content(after[0]))
            return question[:pronoun.start()] + name + ("'s" if owner else "") + rest
    return None


# A question asking for a person: "Who was elected treasurer?", "And who got him out?".
# "Who …?" also after a dash or comma ("And the next Test - who is injured?"), not as a relative ("the man who").
_ASKS_WHO = re.compile(r"(?:^\W*|[-–—:;,]\s*)(?:(?:and|but|so|then)[\s,]+)?who\b"
                       r"(?!['’]s\s+(?-i:[A-Z])|\s+(?:is|was|are|were)\s+(?-i:[A-Z]))", re.IGNORECASE)
# A name after a preposition of place ("in South Africa", "at the Adelaide Oval") is not the person.
_PLACE_BEFORE = frozenset(PLACE_PREPOSITIONS)


# A run of capitalised words is a person's name when one of its words is rarer than this in English: "Hayden"
# (3.5), "Lopez" (3.8), not "Test" (5.2), "Winter" (4.9) or "North Atlantic Treaty" (4.3 at the rarest) ...
_NAME_WORD_ZIPF = 4.0
# ... or when it opens with a title.
_TITLES = frozenset("Mr Mrs Ms Miss Mx Dr Sir Dame Lord Lady President Senator Secretary Minister Premier Chancellor "
                    "Governor Mayor Judge Justice Chief Captain Coach Professor Prof Rev Reverend Father Sister King "
                    "Queen Prince Princess General Colonel Major Sergeant Inspector Detective Deputy Commissioner "
                    "Councillor Chair Chairman Chairwoman Director Spokesman Spokeswoman".split())


def _may_be_person(name: str) -> bool:
    """Whether "he" or "she" may stand for `name`: not a country or region ("Russia", "South Africa") nor
    initials ("U.S.", "NATO")."""
    return not is_country(name) and not name.replace(".", "").isupper()


def _person_in(question: str, quote: str | None, name_zipf: float) -> str | None:
    """The person a "who …?" question's answer named: the first run of capitalised words in the quoted sentence
    that reads as a person's name (a title first, or a word rarer than `_NAME_WORD_ZIPF`), is no country, shares
    no word with the question and follows no "in", "at" or "from" ("Maria Lopez was elected treasurer." →
    "Maria Lopez"); None when it names none."""
    if not quote:
        return None
    tokens = _TOKEN.findall(quote)
    named = _names_in(question, tokens, name_zipf)
    asked = _stems(question)
    capital = [t[0].isupper() and _content(t) for t in tokens]
    j = 0
    while j < len(tokens):
        if not capital[j]:
            j += 1
            continue
        k = j + 1
        while k < len(tokens) and capital[k] and not tokens[k - 1].endswith(("'s", "’s")):
            k += 1
        run = tokens[j:k]
        before = [t.lower() for t in tokens[max(0, j - 2):j]]
        placed = bool(before) and (before[-1] in _PLACE_BEFORE or before[-1] in ("the", "a", "an")
                                   and len(before) == 2 and before[0] in _PLACE_BEFORE)
        name = re.sub(r"['’]s$", "", " ".join(run))
        # a person's name: a title first ("Mr Winter", "President Trump") or an uncommon word in it ("Maria Lopez",
        # "Hayden"); common capitalised words are a thing ("the Test", "the North Atlantic Treaty")
        looks_named = run[0].rstrip(".") in _TITLES or min(zipf(t.lower()) for t in run) < _NAME_WORD_ZIPF
        if (any(named[j:k]) and looks_named and not placed and not any(_stem(t) in asked for t in run)
                and _may_be_person(name)):
            return name
        j = k
    return None


def _subject_name(question: str) -> str | None:
    """The name standing as the question's grammatical subject ("What does **Tilly** eat?", "Who is **Pete
    Hegseth**?", "When is **Biscuit**'s booster?"); None when its subject is not a capitalised name."""
    tokens = _TOKEN.findall(question)
    slot = _subject_slot(tokens)
    start = _opening(tokens)
    if slot is None and tokens[start:] and tokens[start].lower() in _WH:  # "What medicine does Tilly take?"
        slot = next((k + 1 for k in range(start + 1, min(len(tokens) - 1, start + 5)) if _is_auxiliary(tokens[k])),
                    None)
    if slot is None or slot == 0:
        return None
    name = []
    for token in tokens[slot:]:
        if not token[0].isupper() or not token.replace("’", "'").split("'")[0].isalpha():
            break
        name.append(re.sub(r"['’]s$", "", token))
        if token.endswith(("'s", "’s")):
            break
    return " ".join(name) or None


_DEFINITE = re.compile(r"^(?:the|this|that)\s+([a-z]+)$")
_PROPER_RUN = re.compile(r"(?<!^)\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")


def _proper(subject: str, turns: list[tuple[int, str]]) -> str | None:
    """ "Lake Constance" for "the lake" when a question of the conversation named it so (the latest one that did):
    the name finds what the documents say of it, "the lake" any lake. None when the subject is not "the <noun>" or
    no question named one."""
    match = _DEFINITE.match(subject)
    if match is None:
        return None
    noun = match.group(1)
    for _, text in reversed(turns):
        for run in _PROPER_RUN.finditer(text):
            words = run.group().split()
            if len(words) > 1 and noun in (w.lower() for w in words):
                return ("the " if words[-1].lower() == noun else "") + run.group()
    return None


def _called(name: str, history: Sequence[dict[str, str]]) -> str | None:
    """ "this idiom" when an answer quoted "This idiom is called Decorate-Sort-Undecorate" and the subject is that
    name: the document introduced the name for a thing it goes on to call "this idiom" ("Another name for this
    idiom is …"), so the search uses the document's own words; None when no quoted answer names it so."""
    if not name:
        return None
    naming = re.compile(r"\b(this|that|the)\s+([a-z]+)\s+(?:is|was)\s+(?:called|known as|named)\s+(?:the\s+)?"
                        + re.escape(name.removeprefix("the ")) + r"(?!\w)", re.IGNORECASE)
    for k in range(len(history), 0, -1):
        if history[k - 1]["role"] != "assistant":
            continue
        match = naming.search(previous_quote(history[:k]) or "")
        if match is not None and _content(match.group(2)):
            return f"{match.group(1).lower()} {match.group(2)}"
    return None


def _compared(question: str, pointer: re.Match[str]) -> int | None:
    """Where "the same <noun>" ends, when the pointer is "the same" before a noun ("Which modules do the same
    job?"): the subject is what it is the same as, so it goes after the noun, not in its place; None otherwise."""
    if pointer.group(1).lower() != "the same":
        return None
    end = None
    for word in _TOKEN.finditer(question, pointer.end()):
        if not _content(word.group()) or question[end or pointer.end():word.start()].strip():
            break
        end = word.end()
    return end


def _subject(history: Sequence[dict[str, str]], turns: list[tuple[int, str]], depth: int,
             name_zipf: float, topic: bool = True) -> list[str]:
    """What the conversation is about now: the noun phrases of the last question (and, when it asked "which …",
    the names its answer gave), or its content words when it names its subject with a bare noun ("and
    energy?"); when it only pointed back ("How long is it?", "Why?"), the subject of the question before, up to
    `depth` turns back. With `topic`, only the phrase the last question was about (see `subject_of`)."""
    index, previous = turns[-1]
    quote = previous_quote(history)
    named = _answer_name(previous, quote, name_zipf) if topic and _asks_which(previous) else None
    if named is not None:  # "What algorithm does it use?" "The Timsort algorithm …" "Who invented it?"
        words = [named]
    else:
        words = subject_of(previous, quote, name_zipf, topic=topic) + (
            _answer_names(previous, quote, name_zipf) if _asks_which(previous) else [])
    own = _own_words(previous)
    quoted = _stems(quote or "")
    if words or (own and _pointer(previous) is None):  # "and energy?" names its subject with a bare noun
        return words or [w for w in own if _stem(w) in quoted] or own
    if depth > 0 and len(turns) > 1:  # a turn with no words of its own ("Why?", "Where?") costs no depth
        earlier = _subject(history[:index], turns[:-1], depth - (1 if own else 0), name_zipf, topic)
        if earlier:
            return earlier
    return [w for w in own if _stem(w) in quoted] or own


def _says_what(question: str, pointer: re.Match[str]) -> bool:
    """Whether the pointer is a bare "that" or "this" ("Why would that matter?", "Is that true?"): it may point at
    anything the last answer said, not only at what the question was about; "that age", "this one", "it" and
    "there" do. After an auxiliary, "that" is the subject and the word after it a verb or adjective."""
    if pointer.group(1).lower() not in ("that", "this"):
        return False
    before = _TOKEN.findall(question[:pointer.start()])[-1:]
    after = _TOKEN.findall(question[pointer.end():])[:1]
    if not after or (before and _is_auxiliary(before[0])):
        return True
    return not _content(after[0]) and after[0].lower() not in ("one", "ones")


def _kind_named(question: str, pointer: re.Match[str], previous: str, quote: str | None,
                name_zipf: float) -> tuple[str, int] | None:
    """ "that harbour" when the last question named "the old harbour": that phrase, to stand for the pointer and
    its noun together, and where the noun ends; None when the pointer is not a determiner before a noun, or no
    phrase of the last question ends in that noun."""
    if pointer.group(1).lower() not in ("that", "this", "these", "those"):
        return None
    after = _TOKEN.search(question, pointer.end())
    if after is None or not _content(after.group()) or question[pointer.end():after.start()].strip():
        return None
    noun = _stem(after.group())
    for _, words in reversed(_phrases(previous, quote, name_zipf)):
        if len(words) > 1 and _stem(words[-1]) == noun:
            return " ".join(words), after.end()
    return None


def _agreeing(phrases: list[str], pointer: str) -> list[str]:
    """The phrases whose number agrees with the pointing word: "it" is not "handlers", "they" is not "the sort"
    (names and terms agree with either); all of them when none agrees."""
    plural = pointer.lower() in _PLURAL_POINTERS
    if pointer.lower() not in _SINGULAR_POINTERS and not plural:
        return phrases
    agreeing = [p for p in phrases if _plural(p.split()[-1]) in (None, plural)]
    return agreeing or phrases


_SINGULAR_POINTERS = frozenset("it its".split())  # "that" may point at what was said
_PLURAL_POINTERS = frozenset("they them their".split())


def _plural(word: str) -> bool | None:
    """Whether a common noun is plural by its ending ("handlers", not "class" or "status"); None for a name or
    term, whose number its spelling doesn't tell."""
    if not word.isalpha() or not word.islower():
        return None
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))


def _user_turns(history: Sequence[dict[str, str]], max_chars: int) -> list[tuple[int, str]]:
    """(position in history, cleaned text) of the user's questions, leaving out small talk and overviews."""
    turns = []
    for i, message in enumerate(history):
        if message["role"] != "user":
            continue
        clean = _quiet_clean(message["content"], max_chars)
        if clean and not is_small_talk(clean) and not is_overview_request(clean):
            turns.append((i, clean))
    return turns


# The word a follow-up points back with, which the previous turn's subject replaces. Personal pronouns are left
# out (see _REFERS), and so are "else", "instead", "compared": they ask for something besides the subject.
_POINTER = re.compile(r"\b(it|its|that|this|those|these|they|them|their|the same|there|one|ones)\b", re.IGNORECASE)
_EXISTENTIAL = re.compile(r"(?:\b(?:is|are|was|were)\s+there\b|\bthere\s+(?:is|are|was|were|'s|’s)\b)", re.IGNORECASE)


def _pointer(question: str) -> re.Match[str] | None:
    """The first word of `question` that points back, leaving out the "there" of "is there" and "there are"."""
    existential = [m.span() for m in _EXISTENTIAL.finditer(question)]
    return next((m for m in _POINTER.finditer(question)
                 if not any(a <= m.start() < b for a, b in existential)), None)


# Words after which a noun phrase starts: articles, demonstratives, possessives and prepositions.
_LEADS = frozenset("the a an this that these those its their his her my your our of in on at for about from with "
                   "by into onto along after before between near over under through within without against across "
                   "behind beyond among around during".split())
_TOKEN = re.compile(r"[\w][\w.'’()-]*[\w)]|[\w]", re.UNICODE)
# Words of a question's form (asking, telling), not of what it is about.
_FORM = frozenset("what which who whom whose where when why how whats what's whos who's say says said tell tells told "
                  "mention mentions mentioned describe described explain explained please could would also anything "
                  "something thing things else exactly".split())


def _content(word: str) -> bool:
    from .lexical import is_stop_word

    low = word.lower().strip(".'’")
    return bool(low) and not is_stop_word(low) and low not in _FORM and not _POINTER.fullmatch(low)


def _own_words(question: str) -> list[str]:
    """The question's content words: not form words, question words or words pointing back."""
    return [w for w in _TOKEN.findall(question) if _content(w)]


def _named(word: str, first: bool, name_zipf: float) -> bool:
    """Whether `word` is a name or term by its spelling: capitalised (not as a question's first word), written
    like code (list.sort(), --help, Decorate-Sort-Undecorate), or rarer in English than `name_zipf`."""
    word = re.sub(r"['’]s?$", "", word)
    if not word:
        return False
    if (word[0].isupper() and not first) or any(not ch.isalpha() for ch in word):
        return True
    return zipf(word.lower()) < name_zipf


def subject_of(question: str, quote: str | None, name_zipf: float = ENGLISH_WORD_ZIPF, *, topic: bool = True
               ) -> list[str]:
    """The noun phrases of `question`: what it is about (its subject), not what it asks of it. A phrase starts
    at a content word after an article, a possessive, a preposition or an opening "which", or at a name, and
    goes on over names and over words the answer's quoted sentence has next to the one before ("the Rhine
    knee", but not "the Rhine start", nor "the harbour rebuilt" after "the harbour was rebuilt"). Empty when
    it names nothing ("How long is it?")."""
    phrases = _phrases(question, quote, name_zipf)
    tokens = _TOKEN.findall(question)
    slot = None if _asks_which(question) or not topic else _subject_slot(tokens)
    if slot is not None:
        about = [words for start, words in phrases if start == slot]
        if about:  # the phrase the question is about, not its objects and adverbials ("the old", "at first")
            words, rest = about[0], tokens[slot + 1:]
            if _asks_what_is(tokens) and len(rest) >= len(words) - (words[0] == "the") and all(
                    _content(t) for t in rest):  # "What's the default logging level?": all of it
                words = (["the"] if words[0] == "the" else []) + [tokens[slot], *rest]
            return [" ".join(words)]
        if _pointer(tokens[slot]) is not None:  # "What did it separate at that time?"
            return []
    return list(dict.fromkeys(" ".join(words) for _, words in phrases))


def _phrases(question: str, quote: str | None, name_zipf: float) -> list[tuple[int, list[str]]]:
    """The noun phrases of `question`, each with the position of its first content word among the tokens."""
    tokens = _TOKEN.findall(question)
    pairs = _pairs(quote or "")
    phrases: list[tuple[int, list[str]]] = []
    bare: set[str] = set()
    asked = _ASKED_PHRASE.match(question)
    if asked and all(_content(w) for w in asked.group(1).split()):  # "What defense spending target did he …?"
        phrases.append((-1, asked.group(1).split()))
    for i, token in enumerate(tokens):
        if not _content(token) or (asked and i < len(asked.group(0).split())) or _verb_after_who(tokens, i):
            continue
        previous = tokens[i - 1] if i else ""
        low = previous.lower()
        opening_which = low == "which" and (i == 1 or (i == 2 and tokens[0].lower() in ("and", "but", "so")))
        going_on = bool(phrases) and phrases[-1][1][-1] == previous and (
            _named(token, i == 0, name_zipf) or (previous not in bare and (_stem(previous), token.lower()) in pairs))
        if going_on:
            phrases[-1][1].append(token)
        elif low in _LEADS or opening_which or _named(token, i == 0, name_zipf):
            words = ["the", token] if low == "the" else [token]
            of = i - (2 if low == "the" else 1)  # "the Confederation of the Rhine" is one phrase
            if phrases and of >= 1 and tokens[of].lower() == "of" and phrases[-1][1][-1] == tokens[of - 1]:
                phrases[-1][1].extend(["of", *words])
            else:
                phrases.append((i, words))
        elif low in _AUXILIARIES and i <= 2 and tokens[0].lower() in _FORM:  # "What do tomatoes need …?"
            phrases.append((i, [token]))
            bare.add(token)  # a bare noun goes on only over names: the next word is most likely the verb
    return phrases


def _opening(tokens: list[str]) -> int:
    """Where the question proper starts: after an opening "and", "but", "so" …"""
    return 1 if tokens and tokens[0].lower() in _CONJUNCTIONS else 0


def _asks_what_is(tokens: list[str]) -> bool:
    """ "What is X?", "What's X?", "Who are X?": the question's words after its verb all name X."""
    start = _opening(tokens)
    head = [t.lower().replace("’", "'") for t in tokens[start:start + 2]]
    return bool(head) and (head[0] in ("what's", "whats", "who's") or (
        head[0] in ("what", "who") and head[1:] in (["is"], ["are"], ["was"], ["were"])))


def _verb_after_who(tokens: list[str], i: int) -> bool:
    """ "Who popularized it?", "How do I ripen them?": the word after an opening "who", or after an auxiliary and
    a personal pronoun as its subject, is a verb, however rare."""
    start = _opening(tokens)
    return (i == start + 1 and tokens[start].lower() == "who") or (
        i >= 2 and tokens[i - 1].lower() in _SUBJECT_PRONOUNS and _is_auxiliary(tokens[i - 2]))


_SUBJECT_PRONOUNS = frozenset("i you we they he she it".split())


def _is_auxiliary(word: str) -> bool:
    low = word.lower().replace("’", "'")
    return low in _AUXILIARIES or (low.endswith("n't") and low[:-3] in _AUXILIARIES | {"ca", "wo", "do"})


def _subject_slot(tokens: list[str]) -> int | None:
    """Where the question's grammatical subject starts: after its auxiliary ("Why does logging use …", "Is the
    sort stable?", "How long is the plain …", "What's the default level?"), skipping an article or possessive;
    None when the question has no such shape ("What happens to …", "Who founded …")."""
    start = _opening(tokens)
    head = [t.lower().replace("’", "'") for t in tokens[start:start + 4]]
    if not head:
        return None
    if _is_auxiliary(head[0]):
        slot = start + 1
    elif head[0] in _WH_IS:
        slot = start + 1
    elif head[0] in _WH:
        aux = next((k for k in range(1, len(head)) if _is_auxiliary(head[k])), None)
        if aux is None or (aux > 1 and head[0] != "how"):
            return None
        slot = start + aux + 1
    else:
        return None
    if slot < len(tokens) - 1 and tokens[slot].lower() in _DETERMINERS and _content(tokens[slot + 1]):
        slot += 1
    return slot if slot < len(tokens) else None


_CONJUNCTIONS = frozenset("and but so then ok okay".split())
_WH = frozenset("what who whom where when why how".split())
_WH_IS = frozenset("what's who's where's when's why's how's whats".split())
_DETERMINERS = frozenset("the a an this that these those its their his her my your our".split())


_AUXILIARIES = frozenset("do does did is are was were can could should would will has have had must may might".split())
# "Which kingdoms did …", "What defense spending target did …": the phrase a question opens with, up to its verb.
_ASKED_PHRASE = re.compile(r"^(?:(?:and|but|so)\s+)?(?:which|what)\s+((?:[\w-]+\s+){1,4}?)(?:did|does|do|is|are|was|"
                           r"were|can|could|should|would|will|has|have|had|must|may|might)\b", re.IGNORECASE)
_WHICH = re.compile(r"^(?:(?:and|but|so|then|ok|okay)[\s,]+)?(?:which|what)\s+(\w+)", re.IGNORECASE)


def _asks_which(question: str) -> bool:
    """Whether `question` asks which thing ("Which legend…?", "What algorithm…?"): then a later "it" most likely
    means the thing the answer named, not the question's subject."""
    match = _WHICH.match(question)
    return match is not None and _content(match.group(1))


def _answer_names(question: str, quote: str | None, name_zipf: float, most: int = 2) -> list[str]:
    """The first few names and terms of the answer's quoted sentence that the question does not use: what the
    answer named ("the Nibelungenlied", "NullHandler", "Timsort")."""
    if not quote:
        return []
    tokens = _TOKEN.findall(quote)
    named = _names_in(question, tokens, name_zipf)
    return list(dict.fromkeys(t for t, is_name in zip(tokens, named) if is_name))[:most]


def _answer_name(question: str, quote: str | None, name_zipf: float) -> str | None:
    """The name the answer gave the thing a "which …?" question asked about: the name next to that noun in the
    quoted sentence ("the Timsort algorithm", "the Kamen Dam", "the Central Bridge"); None if no name is."""
    which = _WHICH.match(question)
    if not quote or which is None:
        return None
    tokens = _TOKEN.findall(quote)
    named = _names_in(question, tokens, name_zipf)
    noun = _stem(which.group(1))
    for j, token in enumerate(tokens):
        if _stem(token) != noun:
            continue
        k = j
        while k > 0 and named[k - 1]:
            k -= 1
        if k < j:  # with the noun when it is part of the name ("Kamen Dam")
            return " ".join(tokens[k:j + 1] if token[0].isupper() else tokens[k:j])
        if j + 1 < len(tokens) and named[j + 1]:
            return tokens[j + 1]
    return None


def _names_in(question: str, tokens: list[str], name_zipf: float) -> list[bool]:
    """Which of the quoted sentence's tokens are names or terms the question does not use."""
    asked = _stems(question)
    return [_content(t) and _stem(t) not in asked and _named(t, i == 0, name_zipf) and not t[0].isdigit()
            for i, t in enumerate(tokens)]


def _stem(word: str) -> str:
    from .lexical import stem

    return stem(word)


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in _TOKEN.findall(text)}


def _pairs(text: str) -> set[tuple[str, str]]:
    """Each two neighbouring words of `text`: the first as its stem, the second as written (lower-cased), so that
    "did the ferry stop" does not go on over "the ferry stopped": a verb after "did" is not written as in the
    answer, the second word of a name or compound is ("the Rhine knee")."""
    pairs: set[tuple[str, str]] = set()
    for part in _PAUSE.split(text):  # "a generator function, return value ...": no pair across the comma
        tokens = _TOKEN.findall(part)
        pairs.update(zip((_stem(w) for w in tokens), (w.lower() for w in tokens[1:])))
    return pairs


# Punctuation that ends a phrase: a comma, semicolon, colon or dash, or a full stop, ? or ! before a space.
_PAUSE = re.compile(r"[,;:—–]|[.?!](?=\s)|\s-\s")


def previous_quote(history: Sequence[dict[str, str]]) -> str | None:
    """The sentence(s) the last answer quoted, as plain text; None when it quoted nothing (it abstained)."""
    replies = [m["content"] for m in history if m["role"] == "assistant"]
    if not replies:
        return None
    quotes = [line[2:] for line in replies[-1].splitlines() if line.startswith("> ")]
    text = " ".join(_MARKER.sub("", q) for q in quotes)
    text = html.unescape(_ESCAPED.sub(r"\1", text)).strip()
    return text or None


_SOURCE_LINE = re.compile(r"^\*\*\[1\]\*\* \*(.+?)\*, (?:p\. \d+, )?¶\d+ — ", re.MULTILINE)


def previous_title(history: Sequence[dict[str, str]]) -> str | None:
    """The title of the document the last answer quoted first; None when it quoted nothing (it abstained)."""
    replies = [m["content"] for m in history if m["role"] == "assistant"]
    if not replies or previous_quote(history) is None:
        return None
    match = _SOURCE_LINE.search(replies[-1])
    return html.unescape(_ESCAPED.sub(r"\1", match.group(1))) if match else None


def _quiet_clean(text: str, max_chars: int) -> str:
    try:
        return clean_question(text[:max_chars], max_chars)
    except QuestionError:
        return ""
