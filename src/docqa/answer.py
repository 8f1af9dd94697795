"""Answer: ranked hits -> an Answer with numbered citations and chat-ready Markdown."""
from __future__ import annotations

import html
import re

from .settings import RetrievalSettings
from .types import Answer, Hit, Passage

QUOTE_RATIO = RetrievalSettings().quote_ratio
# Words that state a reason: without one, the passage found for "Why?" does not say why.
_REASON = re.compile(r"\b(because|since|due to|owing to|as a result|so that|in order to|so as to|reasons?|why|"
                     r"therefore|thus|hence|given that|caused?|causes|led to|leads to|to ensure|to avoid|to prevent|aims? to|"
                     r"aimed to|intended to|thereby|otherwise|for the sake of|in the interest of|"
                     r"(?:essential|necessary|needed|required|crucial|vital|important) (?:for|to)|"
                     r"(?:will|would|could|can|may|might) (?:make|cause|lead|result|prevent|break|harm)|"
                     r"(?:this|that|which) means|means that|results? in|resulting in)\b"
                     r"|,\s+so\s+(?!(?:that|as|far|much|many|long|on|too|to)\b)", re.IGNORECASE)  # "X, so Y": X is why
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>])")


def states_reason(text: str) -> bool:
    """Whether `text` gives a reason for something (a cause or a purpose)."""
    return bool(_REASON.search(text))


def reason_span(hit: Hit) -> tuple[int, int] | None:
    """The sentence of a hit that gives the reason: its answering sentence if that does, else the first one
    after it that does, else the first one before it; None when no sentence does."""
    c = hit.chunk
    reasons = [span for span, text in zip(c.sentences, c.sentence_texts) if states_reason(text)]
    if not reasons:
        return None
    start, end = hit.highlight if hit.highlight is not None else (c.start, c.start)
    inside = [s for s in reasons if s[0] < end and s[1] > start]
    after = [s for s in reasons if s[0] >= end]
    return (inside or after or reasons[::-1])[0]


def escape(text: str) -> str:
    """Text that Markdown and HTML show literally (no tags, no formatting)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def to_passage(hit: Hit) -> Passage:
    """The citable form of a hit."""
    c = hit.chunk
    assert hit.highlight is not None, "only hits returned by a search are cited"
    return Passage(
        text=c.text, source=c.source, title=c.title, paragraph=c.paragraph, start=c.start, end=c.end,
        highlight=hit.highlight, score=round(float(hit.score), 6), page=c.page,
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
    """The passages an answer's short form quotes (an overview quotes every document's opening)."""
    if answer.kind == "overview":
        return answer.passages
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


def overview(question: str, openings: list[Passage]) -> Answer:
    """What the documents are: one line per document, its title and opening sentence, cited (the title line too,
    when the document has one)."""
    lines, documents = [], list(dict.fromkeys(p.source for p in openings))
    for source in documents:
        numbered = [(n, p) for n, p in enumerate(openings, 1) if p.source == source]
        (first_n, first), (n, opening) = numbered[0], numbered[-1]
        title = f"**{escape(first.title)}**" + (f" [{first_n}]" if first_n != n else "")
        lines.append(f"- {title}: {escape(opening.highlight_text)} [{n}]")
    lead = "The document is about:" if len(documents) == 1 else f"The {len(documents)} documents are about:"
    sources = "\n\n".join(render_passage(p, n) for n, p in enumerate(openings, 1))
    markdown = f"{lead}\n\n" + "\n".join(lines) + "\n\n**Sources**\n\n" + sources
    return Answer(question=question, query="", found=True, markdown=markdown, passages=openings, kind="overview")


def not_english(question: str) -> Answer:
    """The reply to a question in another language: the model reads English only."""
    text = ("Please ask in English: docqa's language model reads English only, so a question in another language "
            "cannot be matched to the documents reliably.")
    return Answer(question=question, query=question, found=False, markdown=text, kind="language")


def no_reason(question: str, query: str, closest: list[Passage], scope: str = "document") -> Answer:
    """The reply to "Why?" when the passage found states no reason."""
    subject = "The document doesn't" if scope == "document" else "The documents don't"
    markdown = f"{subject} say why."
    return Answer(question=question, query=query, found=False, markdown=markdown, closest=closest, kind="not_found")
