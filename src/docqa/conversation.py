"""Conversation: checks a question and its history, spots small talk, and rewrites follow-ups."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from .errors import HistoryError, QuestionError

MAX_HISTORY_CHARS = 200_000

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


def looks_like_follow_up(question: str) -> bool:
    """Whether the question leans on an earlier one ("And what about ...?", "How does that compare ...?")."""
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 3


def resolve_query(question: str, history: Sequence[dict[str, str]], max_chars: int) -> str:
    """The text to search: the question itself, or, for a follow-up, the previous question joined to it."""
    previous = _previous_query(history, max_chars)
    if not previous or not looks_like_follow_up(question):
        return question
    return f"{previous} {question}"[-max_chars:]


def _previous_query(history: Sequence[dict[str, str]], max_chars: int) -> str:
    """The last user question that was about the documents, with its own follow-up context (one level)."""
    users = [m["content"] for m in history if m["role"] == "user"]
    users = [clean for clean in (_quiet_clean(u, max_chars) for u in users) if clean and not is_small_talk(clean)]
    if not users:
        return ""
    last = users[-1]
    if len(users) > 1 and looks_like_follow_up(last):
        return f"{users[-2]} {last}"
    return last


def _quiet_clean(text: str, max_chars: int) -> str:
    try:
        return clean_question(text[:max_chars], max_chars)
    except QuestionError:
        return ""
