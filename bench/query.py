"""Item 1, warm query: Assistant.ask() against the bare model.encode of the same question, interleaved."""
from __future__ import annotations

import time

from .common import Row, ms, p50


def questions(count: int) -> list[str]:
    """`count` questions cycled from the bundled gold set (answerable, off-topic and follow-up turns)."""
    from docqa.evaluation import load_gold

    gold = load_gold()
    pool = [q["question"] for q in gold.answerable] + list(gold.off_topic)
    pool += [turn for chain in gold.follow_ups for turn in chain["turns"]]
    return [pool[i % len(pool)] for i in range(count)]


def run(assistant, encode, count: int, smoke: bool) -> list[Row]:
    """`encode(texts)` is the baseline: the bare model.encode([question], normalize_embeddings=True)."""
    assistant.load()
    qs = questions(count)
    asked, bare = [], []
    for i, q in enumerate(qs):  # alternate which goes first
        for name in ("ask", "encode") if i % 2 == 0 else ("encode", "ask"):
            start = time.perf_counter()
            assistant.ask(q) if name == "ask" else encode([q])
            (asked if name == "ask" else bare).append(time.perf_counter() - start)
    own = []  # docqa's own query encoder alone, to show where the time goes
    for q in qs[: max(count // 4, 1)]:
        start = time.perf_counter()
        assistant.embedder.encode_queries([q])
        own.append(time.perf_counter() - start)
    ratio = p50(asked) / p50(bare)
    return [
        Row("1 warm query", f"ask() p50 / p95, {count} questions", ms(asked), f"model.encode {ms(bare)}",
            f"{ratio:.2f}", "<= 1.25", None if smoke else ratio <= 1.25),
        Row("1 warm query", "docqa's query encoder alone", ms(own), f"model.encode {ms(bare)}",
            f"{p50(own) / p50(bare):.2f}", "-"),
    ]
