"""The data that flows through docqa: documents, passages and answers (frozen dataclasses)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paragraph:
    """A blank-line separated block of a document; `number` counts from 1, the headline included."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """A source's decoded text with its title and paragraph offsets."""

    name: str  # path relative to the sources folder, with forward slashes
    title: str
    text: str
    sha256: str  # of the file's bytes
    paragraphs: tuple[Paragraph, ...]
    pages: tuple[tuple[int, int], ...] | None = None  # (start, end) of each page, for paged formats


@dataclass(frozen=True)
class Chunk:
    """A stored passage: a run of whole sentences inside one paragraph, with exact offsets."""

    source: str
    title: str
    paragraph: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # (start, end) of each sentence, in the source's text
    page: int | None = None

    @property
    def sentence_texts(self) -> list[str]:
        """The text of each sentence, in order."""
        return [self.text[a - self.start : b - self.start] for a, b in self.sentences]


@dataclass(frozen=True)
class Passage:
    """A passage cited in an answer. `text == source_text[start:end]`; `highlight` is the answering span."""

    text: str
    source: str
    title: str
    paragraph: int
    start: int
    end: int
    highlight: tuple[int, int]
    score: float
    page: int | None = None

    @property
    def highlight_text(self) -> str:
        """The answering sentence(s)."""
        return self.text[self.highlight[0] - self.start : self.highlight[1] - self.start]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same fields."""
        return {
            "text": self.text,
            "source": self.source,
            "title": self.title,
            "paragraph": self.paragraph,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "highlight": list(self.highlight),
            "score": self.score,
        }


@dataclass(frozen=True)
class Answer:
    """What `ask` returns. `passages` is empty when `found` is False; `closest` are labelled suggestions."""

    question: str
    query: str
    found: bool
    markdown: str
    passages: list[Passage] = field(default_factory=list)
    closest: list[Passage] = field(default_factory=list)
    kind: str = "answer"  # "answer", "overview", "not_found", "language" (not English) or "chat"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields of the HTTP and CLI `--json` output."""
        return {
            "found": self.found,
            "question": self.question,
            "query": self.query,
            "kind": self.kind,
            "markdown": self.markdown,
            "passages": [p.to_dict() for p in self.passages],
            "closest": [p.to_dict() for p in self.closest],
        }


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with the signals behind its rank."""

    chunk: Chunk
    position: int
    fused: float  # reciprocal-rank fusion score (candidate order)
    cosine: float  # passage vs. question
    sentence_cosine: float  # best sentence vs. question
    coverage: float  # idf-weighted share of the question's terms in the passage
    relevance: float  # how closely the passage matches the question (dense and lexical)
    highlight: tuple[int, int] | None = None  # set only on the hits a search returns
    score: float = 0.0  # the belief that this passage holds the answer (0..1); returned hits are ordered by it
