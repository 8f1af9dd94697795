"""Evaluation: retrieval, highlight, abstention and follow-up figures on a gold set."""
from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .assistant import Assistant
from .types import Answer, Passage


@dataclass(frozen=True)
class GoldSet:
    """Answerable questions with the phrase that answers them, off-topic questions and follow-up chains."""

    answerable: list[dict[str, str]]
    off_topic: list[str]
    follow_ups: list[dict[str, Any]]


@dataclass(frozen=True)
class EvalReport:
    """The figures `docqa eval` prints, plus the questions that missed."""

    questions: int
    recall_at_1: float
    recall_at_3: float
    mrr: float
    highlight_at_1: float
    off_topic_abstained: float
    false_abstention: float
    follow_up_accuracy: float
    misses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_gold(path: str | Path | None = None) -> GoldSet:
    """Read a gold set JSON file (default: the bundled seed-article gold set)."""
    if path is None:
        raw = resources.files("docqa").joinpath("data/seed_gold.json").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    data = json.loads(raw)
    return GoldSet(data.get("answerable", []), data.get("off_topic", []), data.get("follow_ups", []))


def _norm(text: str) -> str:
    return " ".join(text.replace("’", "'").lower().split())


def contains(passage: Passage, phrase: str) -> bool:
    """Whether the passage holds the gold phrase."""
    return _norm(phrase) in _norm(passage.text)


def highlight_covers(passage: Passage, phrase: str) -> bool:
    """Whether the passage's highlighted span holds the gold phrase."""
    return _norm(phrase) in _norm(passage.highlight_text)


def rank_of(passages: list[Passage], phrase: str) -> int | None:
    """1-based rank of the first passage holding the phrase."""
    return next((i for i, p in enumerate(passages, 1) if contains(p, phrase)), None)


def evaluate(assistant: Assistant, gold: GoldSet, top_k: int = 3) -> EvalReport:
    """Ask every gold question and score the answers."""
    ranks: list[int | None] = []
    highlights = 0
    false_abstentions = 0
    misses = []
    for item in gold.answerable:
        answer = assistant.ask(item["question"], top_k=top_k)
        rank = rank_of(answer.passages, item["answer"]) if answer.found else None
        ranks.append(rank)
        false_abstentions += not answer.found
        if answer.passages and contains(answer.passages[0], item["answer"]):
            highlights += highlight_covers(answer.passages[0], item["answer"])
        if rank != 1:
            misses.append(f"{item['question']} -> rank {rank}{'' if answer.found else ' (abstained)'}")
    abstained = sum(not assistant.ask(q, top_k=top_k).found for q in gold.off_topic)
    follow_hits = 0
    for chain in gold.follow_ups:
        final = _ask_chain(assistant, chain["turns"], top_k)
        hit = final.found and bool(final.passages) and contains(final.passages[0], chain["answer"])
        follow_hits += hit
        if not hit:
            misses.append(f"follow-up {chain['turns'][-1]!r} (searched {final.query!r})")
    n = len(ranks) or 1
    return EvalReport(
        questions=len(ranks),
        recall_at_1=sum(r == 1 for r in ranks) / n,
        recall_at_3=sum(r is not None and r <= 3 for r in ranks) / n,
        mrr=statistics.fmean(1 / r if r else 0.0 for r in ranks) if ranks else 0.0,
        highlight_at_1=highlights / n,
        off_topic_abstained=abstained / (len(gold.off_topic) or 1),
        false_abstention=false_abstentions / n,
        follow_up_accuracy=follow_hits / (len(gold.follow_ups) or 1),
        misses=misses,
    )


def _ask_chain(assistant: Assistant, turns: list[str], top_k: int) -> Answer:
    history: list[dict[str, str]] = []
    answer = None
    for turn in turns:
        answer = assistant.ask(turn, history=history, top_k=top_k)
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.markdown}]
    assert answer is not None
    return answer


def format_report(report: EvalReport) -> str:
    """The figures as an aligned table."""
    rows = [
        ("questions", f"{report.questions}"),
        ("R@1", f"{report.recall_at_1:.3f}"),
        ("R@3", f"{report.recall_at_3:.3f}"),
        ("MRR", f"{report.mrr:.3f}"),
        ("highlight@1", f"{report.highlight_at_1:.3f}"),
        ("off-topic abstained", f"{report.off_topic_abstained:.3f}"),
        ("false abstention", f"{report.false_abstention:.3f}"),
        ("follow-up accuracy", f"{report.follow_up_accuracy:.3f}"),
    ]
    lines = [f"{name:<22}{value:>8}" for name, value in rows]
    if report.misses:
        lines += ["", "misses:"] + [f"  {m}" for m in report.misses]
    return "\n".join(lines)
