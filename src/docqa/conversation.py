"""Conversation: checks a question and its history, spots small talk, and rewrites follow-ups."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from .errors import HistoryError, QuestionError

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
_REFERS = re.compile(r"\b(it|its|that|this|those|these|the same|there|one|ones|instead|else|compared?)\b",
                     re.IGNORECASE)
_BARE_WHY = re.compile(r"^(and |but |so )?(why|how come|for what reason)( (not|so|is that|was that|"
                       r"did (he|she|they)( do "
                       r"that| say that)?|is it|would (he|she|they|that|it)))?\s*\??$", re.IGNORECASE)
_DOC = r"(article|document|text|story|page|file|report|source|paper)s?"
_THEM = rf"(it|this|that|these|those|them|everything|all (this|of (this|it|them))|(the|this|that|these|those) {_DOC})"
_OVERVIEW = re.compile(
    rf"^(please |can you |could you )?(what('s| is| are)? {_THEM}( all)? about|summari[sz]e( {_THEM})?( for me)?|"
    rf"(give me |write )?(an? )?(short |brief |quick )?(summary|overview|gist|tl;? ?dr)( of {_THEM})?|"
    rf"what (do|does) {_THEM} (say|cover|contain))( please)?[\s.!?]*$",
    re.IGNORECASE,
)


def is_overview_request(question: str) -> bool:
    """ "What is this about?", "Summarize the article": a request for what the documents are, not a search."""
    return bool(_OVERVIEW.match(question.strip()))


def is_bare_why(question: str) -> bool:
    """ "Why?", "Why is that?": asks for the reason behind the previous answer and names nothing itself."""
    return bool(_BARE_WHY.match(question.strip()))


def looks_like_follow_up(question: str) -> bool:
    """Whether the question leans on an earlier one ("And what about ...?", "How does that compare ...?")."""
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 3


def refers_back(question: str) -> bool:
    """Whether the question points at something it does not name ("How does that compare?", "Why?"), so it
    cannot be searched alone; "What about the spending target?" names its subject and can."""
    return bool(_REFERS.search(question)) or is_bare_why(question)


def resolve_query(question: str, history: Sequence[dict[str, str]], max_chars: int, depth: int = 2) -> str:
    """The text to search: the question itself, or, for a follow-up, the question after the topic of the
    previous question. Only as much history as needed: the previous question is itself resolved (up to `depth`
    turns back) only when it too pointed back at something it did not name."""
    if not looks_like_follow_up(question):
        return question
    users = [clean for clean in (_quiet_clean(m["content"], max_chars) for m in history if m["role"] == "user")
             if clean and not is_small_talk(clean) and not is_overview_request(clean)]
    if not users:
        return question
    previous = users[-1]
    if depth > 0 and refers_back(previous):
        earlier = [m for m in history if m["role"] == "user"]
        cut = max(i for i, m in enumerate(earlier) if _quiet_clean(m["content"], max_chars) == previous)
        previous = resolve_query(previous, earlier[:cut], max_chars, depth - 1)
    return f"{previous} {question}"[-max_chars:]


def previous_quote(history: Sequence[dict[str, str]]) -> str | None:
    """The sentence(s) the last answer quoted, as plain text; None when it quoted nothing (it abstained)."""
    replies = [m["content"] for m in history if m["role"] == "assistant"]
    if not replies:
        return None
    quotes = [line[2:] for line in replies[-1].splitlines() if line.startswith("> ")]
    text = " ".join(_MARKER.sub("", q) for q in quotes)
    text = html.unescape(_ESCAPED.sub(r"\1", text)).strip()
    return text or None


def _quiet_clean(text: str, max_chars: int) -> str:
    try:
        return clean_question(text[:max_chars], max_chars)
    except QuestionError:
        return ""
