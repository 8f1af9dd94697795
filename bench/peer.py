"""A peer beside docqa: txtai's hybrid index (BM25 + the same bundled MiniLM, `hybrid=True`) over whole
paragraphs of the same documents, asked the same answerable questions and scored the same way (the answer span
inside a returned paragraph). txtai never abstains; docqa's abstentions count as misses, as a user sees them.

Needs the `bench` extra (`pip install -e '.[bench]'`); without txtai the section says so and times nothing."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def available() -> bool:
    """Whether txtai can be imported here."""
    from importlib.util import find_spec

    return find_spec("txtai") is not None


@dataclass(frozen=True)
class Unit:
    """One indexed paragraph: its document and offsets."""

    document: str
    start: int
    end: int


class TxtaiParagraphs:
    """txtai Embeddings(hybrid=True) over every blank-line paragraph of the documents."""

    def __init__(self, documents: dict[str, str], model_path: str) -> None:
        from txtai import Embeddings

        from docqa.sources import split_paragraphs

        self.units = [Unit(name, p.start, p.end) for name, text in sorted(documents.items())
                      for p in split_paragraphs(text)]
        rows = [(i, documents[u.document][u.start:u.end], None) for i, u in enumerate(self.units)]
        # method: the same sentence-transformers pooling and normalisation docqa's vectors equal
        self.embeddings = Embeddings(path=model_path, method="sentence-transformers", hybrid=True, content=True)
        self.embeddings.index(rows)

    def search(self, question: str, top_k: int = 3) -> list[Unit]:
        return [self.units[int(hit["id"])] for hit in self.embeddings.search(question, top_k)]


def rank(units: Sequence[Unit], document: str | None, spans: Sequence[tuple[int, int]]) -> int | None:
    """1-based rank of the first unit holding an answer span."""
    return next((i for i, u in enumerate(units, 1)
                 if u.document == document and any(u.start <= s and e <= u.end for s, e in spans)), None)


def score(peer: TxtaiParagraphs, questions: Sequence, top_k: int = 3) -> dict[str, dict[str, float]]:
    """R@1 and R@3 per split ("tune", "held-out", "all") over answerable questions with answer spans."""
    ranks: dict[str, list[int | None]] = {}
    for q in questions:
        r = rank(peer.search(q.text, top_k), q.document, q.spans)
        for split in (q.split, "all"):
            ranks.setdefault(split, []).append(r)
    return {split: {"R@1": sum(r == 1 for r in rs) / len(rs),
                    "R@3": sum(r is not None and r <= 3 for r in rs) / len(rs), "n": len(rs)}
            for split, rs in ranks.items()}
