"""Plain-text rendering of an Answer for the terminal."""
from __future__ import annotations

import textwrap

from .answer import location, quoted_passages
from .types import Answer

_MARK_ON, _MARK_OFF = "\x1b[1;33m", "\x1b[0m"


def render_plain(answer: Answer, color: bool = False) -> str:
    """The answer as terminal text: quoted answer sentences, then numbered sources with the highlight marked."""
    if not answer.found:
        return _strip_md(answer.markdown)
    on, off = (_MARK_ON, _MARK_OFF) if color else ("»", "«")
    lines = [f"“{p.highlight_text}” [{n}]" for n, p in enumerate(quoted_passages(answer), 1)]
    lines.append("")
    lines.append("Sources:")
    for n, p in enumerate(answer.passages, 1):
        a, b = p.highlight[0] - p.start, p.highlight[1] - p.start
        lines.append(f"[{n}] {p.title} — {p.source}, {location(p)}, chars {p.start}–{p.end} (score {p.score:.3f})")
        body = p.text[:a] + on + p.text[a:b] + off + p.text[b:]
        lines.extend(textwrap.wrap(body, width=100, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def _strip_md(text: str) -> str:
    return text.replace("**", "").replace("\\", "")
