"""Item 8, quality beside speed: the `docqa eval` suite (every corpus, held-out and tuning splits) against the
goals of issue 9, R@1 / R@3 beside a peer's hybrid retriever (txtai, `bench/peer.py`) on the same documents and
questions, and on the seed gold set two naive baselines: 500-character chunks with 50 overlap, and one chunk per
paragraph, each with the same model and flat FAISS.

The naive baselines are scored with evaluation.py's own functions (`rank_of`, `contains`); they never abstain and
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


NAIVE = (("recall_at_1", "R@1"), ("recall_at_3", "R@3"), ("mrr", "MRR"))

# Issue 9's goals, judged on the held-out split: (corpora, figure) -> bar. "several documents" = rhine and howto.
GOALS: dict[tuple[tuple[str, ...], str], float] = {
    (("rhine", "howto"), "answerable found"): 0.97,
    (("rhine", "howto"), "answerable R@1"): 0.92,
    (("rhine", "howto"), "answerable R@3"): 0.98,
    (("rhine", "howto"), "answerable highlight@1"): 0.85,
    (("howto",), "near-miss abstained"): 0.90,
    (("seed", "rhine", "howto"), "absent-aspect abstained"): 5 / 6,
    (("seed",), "answerable R@3"): 1.0,
    (("seed",), "answerable MRR"): 0.94,
}


def _goal(corpus: str, figure: str) -> float | None:
    return next((bar for (names, name), bar in GOALS.items() if corpus in names and name == figure), None)


def suite_rows(reports, peers: dict[str, dict[str, dict[str, float]]], smoke: bool) -> list[Row]:
    """One row per corpus and figure: held-out / tune, the peer's figure where there is one, the goal."""
    rows = []
    for report in reports:
        names = list(dict.fromkeys(n for figs in report.figures.values() for n in figs))
        for name in names:
            cells = {split: report.figures.get(split, {}).get(name) for split in ("held-out", "tune", "all")}
            value = " / ".join(f"{split} {f.value:.3f} ({f.n})" for split, f in cells.items()
                               if f is not None and split != "all")
            peer = peers.get(report.name, {})
            metric = name.removeprefix("answerable ")
            baseline = "-"
            if peer and metric in ("R@1", "R@3"):
                baseline = "txtai hybrid, paragraphs: " + " / ".join(
                    f"{split} {peer[split][metric]:.3f}" for split in ("held-out", "tune") if split in peer)
            bar = _goal(report.name, name)
            held = cells["held-out"]
            met = None if smoke or bar is None or held is None else held.value >= bar - 1e-9
            if not smoke and metric == "R@1" and peer.get("held-out") and held is not None:
                met = (met is not False) and held.value > peer["held-out"]["R@1"]
            goal = "-" if bar is None else f">= {bar:.2f} held-out"
            if baseline != "-" and metric == "R@1":
                goal += "; > peer"
            rows.append(Row("8 quality", f"{report.name}: {name}", value, baseline, "-", goal, met))
    return rows


def peer_figures(reports, encode_model_path: str) -> dict[str, dict[str, dict[str, float]]]:
    """txtai's R@1 / R@3 per split on each multi-document corpus's answerable questions (nothing without txtai)."""
    from docqa.evaluation import load_corpus

    from . import peer

    out = {}
    for name in ("rhine", "howto"):
        if name not in {r.name for r in reports}:
            continue
        corpus = load_corpus(name)
        questions = [q for q in corpus.questions if q.kind == "answerable" and q.spans]
        out[name] = peer.score(peer.TxtaiParagraphs(corpus.documents, encode_model_path), questions)
    return out


def run(assistant, encode: Callable[[Sequence[str]], np.ndarray], smoke: bool) -> list[Row]:
    from docqa.evaluation import evaluate, evaluate_corpus, load_corpus, load_gold, run_suite

    from . import peer

    if smoke:  # the hashed embedder over the seed index: check the wiring, a few questions of each kind
        reports = [evaluate_corpus(assistant, load_corpus("seed"), limit=2)]
    else:
        reports = run_suite(embedder=assistant.embedder, settings=assistant.settings)
    peers: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    if not smoke and peer.available():
        from docqa.embedding import bundled_model_path

        peers = peer_figures(reports, str(bundled_model_path()))
    elif not smoke:
        rows.append(Row("8 quality", "peer (txtai) skipped: not installed; pip install -e '.[bench]'", "-", "-",
                        "-", "-"))
    rows = suite_rows(reports, peers, smoke) + rows

    gold = load_gold()
    ours = evaluate(assistant, gold).to_dict()
    documents = list(assistant.documents.values())
    windows = score(NaiveRetriever(documents, window_chunks, encode), gold)
    paragraphs = score(NaiveRetriever(documents, paragraph_chunks, encode), gold)
    for key, label in NAIVE:
        rows.append(Row("8 quality", f"seed gold {label} ({ours['questions']} questions), naive baselines",
                        f"{ours[key]:.3f}", f"500/50 chars {windows[key]:.3f}; paragraphs {paragraphs[key]:.3f}",
                        "-", ">= baselines", None if smoke else ours[key] >= max(windows[key], paragraphs[key])))
    return rows
