"""Rendering an Answer: plain text for the terminal, Markdown and HTML for the web chat."""
from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence

from .answer import escape, location, quoted_passages
from .types import Answer, Document, Passage

__all__ = ["citation_label", "escape", "render_document", "render_plain", "reply_markdown"]

_MARK_ON, _MARK_OFF = "\x1b[1;33m", "\x1b[0m"


def render_plain(answer: Answer, color: bool = False) -> str:
    """The answer as terminal text: quoted answer sentences, then numbered sources, best first, with the highlight
    marked. No raw scores: they are unbounded ranker values (1.085 beside 0.520); the [n] rank says which is best."""
    if not answer.found:
        return _strip_md(answer.markdown)
    on, off = (_MARK_ON, _MARK_OFF) if color else ("»", "«")
    searched = answer.kind != "chat" and answer.query and answer.query != answer.question
    lines = [f"Searched for: {answer.query}", ""] if searched else []
    lines += [f"“{p.highlight_text}” [{n}]" for n, p in enumerate(quoted_passages(answer), 1)]
    lines.append("")
    lines.append("Sources:")
    for n, p in enumerate(answer.passages, 1):
        a, b = p.highlight[0] - p.start, p.highlight[1] - p.start
        lines.append(f"[{n}] {p.title} — {p.source}, {location(p)}, chars {p.start}–{p.end}")
        body = p.text[:a] + on + p.text[a:b] + off + p.text[b:]
        lines.extend(textwrap.wrap(body, width=100, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def _strip_md(text: str) -> str:
    return text.replace("**", "").replace("\\", "")


def reply_markdown(answer: Answer) -> str:
    """The chat reply: `Answer.markdown`, after a "Searched for" line when a follow-up was rewritten."""
    if answer.kind != "chat" and answer.query and answer.query != answer.question:
        return f"*Searched for: {escape(answer.query)}*\n\n{answer.markdown}"
    return answer.markdown


def citation_label(number: int, passage: Passage) -> str:
    """'[2] ¶4' or '[2] p. 3, ¶1': a citation as the web's citation chooser lists it."""
    return f"[{number}] {location(passage)}"


def render_document(document: Document | None, passages: Sequence[Passage] = (), focus: int = 0) -> str:
    """The whole document as escaped HTML, each cited answering span of `passages` in <mark>.

    `passages` are numbered from 1; those from other documents are skipped. The span of citation number `focus`
    (else the first shown) gets the class `docqa-focus`.
    """
    if document is None:
        return '<div class="docqa-doc docqa-empty">No document.</div>'
    text = document.text
    spans: list[tuple[int, int, list[int]]] = []  # merged (start, end, citation numbers)
    cited = sorted(
        (p.highlight[0], p.highlight[1], n)
        for n, p in enumerate(passages, 1)
        if p.source == document.name and 0 <= p.highlight[0] < p.highlight[1] <= len(text)
    )
    for start, end, n in cited:
        if spans and start < spans[-1][1]:
            last = spans[-1]
            spans[-1] = (last[0], max(last[1], end), last[2] + [n])
        else:
            spans.append((start, end, [n]))
    if spans and not any(focus in numbers for _, _, numbers in spans):
        focus = min(n for _, _, numbers in spans for n in numbers)
    parts = []
    pos = 0
    for start, end, numbers in spans:
        refs = " ".join(f"[{n}]" for n in numbers)
        ids = " ".join(f"docqa-cite-{n}" for n in numbers)
        cls = ' class="docqa-focus"' if focus in numbers else ""
        parts.append(html.escape(text[pos:start]))
        parts.append(f'<mark{cls} data-ref="{refs}" data-cites="{ids}">{html.escape(text[start:end])}</mark>')
        pos = end
    parts.append(html.escape(text[pos:]))
    return f'<div class="docqa-doc" data-source="{html.escape(document.name)}">{"".join(parts)}</div>'
