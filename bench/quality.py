"""Item 8, quality beside speed: `docqa eval` figures next to two naive baselines on the same gold set:
500-character chunks with 50 overlap, and one chunk per paragraph, each with the same model and flat FAISS.

The baselines are scored with evaluation.py's own functions (`rank_of`, `contains`); they never abstain and
search a follow-up turn alone, as a plain retrieval loop would."""
from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .common import Row


def window_chunks(text: str, size: int = 500, overlap: int = 50) -> list[tuple[int, int]]:
    """Fixed character windows of `size`, each starting `size - overlap` after the previous one."""
    step = size - overlap
    return [(s, min(s + size, len(text))) for s in range(0, max(len(text) - overlap, 1), step)]


def paragraph_chunks(text: str) -> list[tuple[int, int]]:
    """One chunk per blank-line separated paragraph."""
    from docqa.sources import split_paragraphs

    return [(p.start, p.end) for p in split_paragraphs(text)]


class NaiveRetriever:
    """Chunks -> the same model -> IndexFlatIP -> top k, as Passages."""

    def __init__(self, documents: Iterable, chunker: Callable[[str], list[tuple[int, int]]],
                 encode: Callable[[Sequence[str]], np.ndarray]) -> None:
        from docqa import ann
        from docqa.types import Passage

        self._passage = Passage
        self.encode = encode
        self.passages = []
        for doc in documents:
            for start, end in chunker(doc.text):
                text = doc.text[start:end]
                self.passages.append(Passage(text, doc.name, doc.title, 0, start, end, (start, end), 0.0))
        self.index = ann.build_flat(np.asarray(encode([p.text for p in self.passages]), dtype=np.float32))

    def search(self, question: str, top_k: int = 3) -> list:
        _, ids = self.index.search(np.asarray(self.encode([question]), dtype=np.float32), top_k)
        return [self.passages[i] for i in ids[0] if i >= 0]


def score(retriever: NaiveRetriever, gold, top_k: int = 3) -> dict[str, float]:
    """The figures of evaluation.EvalReport that apply to a retriever that always answers."""
    from docqa.evaluation import contains, rank_of

    ranks = [rank_of(retriever.search(item["question"], top_k), item["answer"]) for item in gold.answerable]
    follow = [bool(hits) and contains(hits[0], chain["answer"])
              for chain in gold.follow_ups for hits in [retriever.search(chain["turns"][-1], top_k)]]
    n = len(ranks) or 1
    return {
        "recall_at_1": sum(r == 1 for r in ranks) / n,
        "recall_at_3": sum(r is not None and r <= 3 for r in ranks) / n,
        "mrr": statistics.fmean(1 / r if r else 0.0 for r in ranks) if ranks else 0.0,
        "off_topic_abstained": 0.0,
        "false_abstention": 0.0,
        "follow_up_accuracy": sum(follow) / (len(follow) or 1),
        "passages": len(retriever.passages),
    }


FIELDS = (("recall_at_1", "R@1"), ("recall_at_3", "R@3"), ("mrr", "MRR"), ("off_topic_abstained", "off-topic abstained"),
          ("false_abstention", "false abstention"), ("follow_up_accuracy", "follow-up accuracy"))


def run(assistant, encode: Callable[[Sequence[str]], np.ndarray], smoke: bool) -> list[Row]:
    from docqa.evaluation import evaluate, load_gold

    gold = load_gold()
    ours = evaluate(assistant, gold).to_dict()
    ours["passages"] = len(assistant.retriever.stored.chunks)
    documents = list(assistant.documents.values())
    windows = score(NaiveRetriever(documents, window_chunks, encode), gold)
    paragraphs = score(NaiveRetriever(documents, paragraph_chunks, encode), gold)
    rows = []
    for key, label in FIELDS + (("passages", "passages indexed"),):
        fmt = (lambda v: f"{v}") if key == "passages" else (lambda v: f"{v:.3f}")
        rows.append(Row("8 quality", f"{label} ({ours['questions']} questions)" if key == "recall_at_1" else label,
                        fmt(ours[key]), f"500/50 chars {fmt(windows[key])}; paragraphs {fmt(paragraphs[key])}",
                        "-", ">= baselines" if key in ("recall_at_1", "recall_at_3", "mrr") else "-",
                        None if smoke or key not in ("recall_at_1", "recall_at_3", "mrr")
                        else ours[key] >= max(windows[key], paragraphs[key])))
    return rows
