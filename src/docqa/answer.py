"""Answer: ranked hits -> an Answer with numbered citations and chat-ready Markdown."""
from __future__ import annotations

import html
import re

from .retrieval import Hit
from .types import Answer, Passage

QUOTE_RATIO = 0.9
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>])")


def escape(text: str) -> str:
    """Text that Markdown and HTML show literally (no tags, no formatting)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def to_passage(hit: Hit) -> Passage:
    """The citable form of a hit."""
    c = hit.chunk
    assert hit.highlight is not None, "only hits returned by a search are cited"
    return Passage(
        text=c.text, source=c.source, title=c.title, paragraph=c.paragraph, start=c.start, end=c.end,
        highlight=hit.highlight, score=round(float(hit.relevance), 6), page=c.page,
    )


def location(p: Passage) -> str:
    """Where a passage is: '¶4' or 'p. 2, ¶4'."""
    return (f"p. {p.page}, " if p.page is not None else "") + f"¶{p.paragraph}"


def render_passage(p: Passage, number: int) -> str:
    """One numbered source line, with the answering sentence in <mark>."""
    a, b = p.highlight[0] - p.start, p.highlight[1] - p.start
    body = f"{escape(p.text[:a])}<mark>{escape(p.text[a:b])}</mark>{escape(p.text[b:])}"
    return f"**[{number}]** *{escape(p.title)}*, {location(p)} — {body}"


def _quoted(passages: list[Passage]) -> list[Passage]:
    """The passages whose answering sentence the short answer quotes: the first, and the second when it is
    nearly as relevant."""
    return [p for p in passages[:2] if p.score >= QUOTE_RATIO * passages[0].score]


def quoted_passages(answer: Answer) -> list[Passage]:
    """The passages an answer's short form quotes."""
    return _quoted(answer.passages) if answer.found else []


def build_answer(question: str, query: str, hits: list[Hit], found: bool, scope: str = "document") -> Answer:
    """An Answer from ranked hits: quoted answering sentences with [n] markers, then the sources."""
    if not found:
        return not_found(question, query, [to_passage(h) for h in hits[:2]], scope)
    passages = [to_passage(h) for h in hits]
    quotes = [f"> {escape(p.highlight_text)} [{n}]" for n, p in enumerate(_quoted(passages), 1)]
    sources = "\n\n".join(render_passage(p, n) for n, p in enumerate(passages, 1))
    markdown = "\n>\n".join(quotes) + "\n\n**Sources**\n\n" + sources
    return Answer(question=question, query=query, found=True, markdown=markdown, passages=passages)


def not_found(question: str, query: str, closest: list[Passage], scope: str = "document") -> Answer:
    """The abstention: the sources don't address the question."""
    subject = "The document doesn't" if scope == "document" else "The documents don't"
    markdown = f"{subject} say anything that answers this question."
    return Answer(question=question, query=query, found=False, markdown=markdown, closest=closest, kind="not_found")


def small_talk(question: str) -> Answer:
    """A short reply to a greeting or thanks, with no sources."""
    low = question.lower()
    if low.startswith(("thank", "thx", "cheers")):
        text = "You're welcome. Ask me anything else about the documents."
    elif low.startswith(("bye", "goodbye", "see you")):
        text = "Goodbye!"
    else:
        text = "Hello! Ask me a question about the documents and I'll answer with the passages that support it."
    return Answer(question=question, query="", found=False, markdown=text, kind="chat")
