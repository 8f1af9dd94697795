"""Fits the abstention models (src/docqa/data/abstention.json) on the evaluation suite's tune split.

The questions are the suite's own (`docqa eval`, src/docqa/data/eval/): every corpus in suite.json, each question
with the split the suite recorded for it; only `tune` questions are read here, so nothing held out is fitted on.
Used: answerable and typo questions (the answer span or phrase says which passages answer) and every kind that
should be abstained on (off-topic, near miss, named subject with an absent aspect, SQuAD's impossible questions,
the Rhine asked over the HOWTOs). Chats, overviews and other-language questions are answered by other rules.

Two logistic models, JSON (never pickle):
- `question`: whether a candidate passage answers. `Retriever.search` answers when the most relevant candidate or
  any grounded one reaches `threshold`; positives are the first such candidate holding the answer of each answerable
  question, negatives every such candidate of a question to abstain on, and the threshold is chosen on exactly that
  rule: per question, the best of those candidates.
- `passage`: which candidate of an answerable question answers (used only with order_by="model").
Each group (corpus and kind) weighs the same, so the 309 Rhine-over-HOWTO questions do not outweigh the 7
absent-aspect ones. The threshold: the one that abstains most (mean over the abstain groups) while the answerable
questions are still found at `FOUND` or better, averaged over the corpora (questions naming something no passage
holds are left to that rule); when none reaches `FOUND`, the one that finds most. Printed per group.

Refit (e.g. after ranking changes the scale of `relevance`), from the checkout's root:

    PYTHONPATH=src HF_HUB_OFFLINE=1 python -m bench.fit_abstention --write

(`--cached` reuses the signals of the last run, cached per corpus under /tmp/docqa-fit-abstention/, when only
the fitting changed; `--cached --redo seed` re-asks one corpus.) Then run `docqa eval --split tune` to see the figures.

Caution (issue 9, rounds 2 and 3): what this writes today (threshold 0.17) abstains more than the shipped model on
the tune split (`docqa eval --split tune`: seed absent aspects 0.41 -> 0.59, seed near misses 0.50 -> 0.75, Rhine
near misses 0.42 -> 0.50), but the gold set of tests/test_retrieval.py then abstains on 5 of its 36 questions (bar: 4),
so the shipped data/abstention.json is still the previous model. Round 3 took the leading-passage choice out of the
question model (`Retriever.search`: the most relevant candidate leads, whatever the threshold), which fixed
the other test it failed (Article 5 beside a second document); the gold set's fifth abstention is the held-out "What
did he insist has to stop?" (rated 0.03: both its content words are absent from the article, and the refit weighs
the missing share five times as much as the shipped model); no tune-only choice tried (docs/benchmarks.md) moved it."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/docqa-fit-abstention")
# Answerable questions found, averaged over the corpora (each weighs the same), at least: 0.97, the project's
# promise. On the tune split (815 questions), with search answering on the most relevant candidate and every grounded
# one (round 3), 0.97 put the threshold at 0.17 (abstained 0.561 on average; found: HOWTO 1.000, Rhine 1.000, the
# seed's hard paraphrases 0.97). Round 2's rule (grounded candidates only) gave 0.14 (0.574); 0.95 there gave 0.26
# (0.595; found 0.96, 0.99, 0.91). With `lift` (below) 0.95 gave 0.27, which in `docqa eval --split tune` found only 21
# of the seed gold set's 26 tune paraphrases.
FOUND = 0.97

# What tells the passages of one question apart (the question-level signals are the same for all of them).
PASSAGE_FEATURES = ("cosine_z", "relevance", "coverage", "aspect", "bm25_share", "sentence_coverage")
# What says whether a passage answers at all: signals whose scale is the same in any corpus.
# `lift` (how much the words a passage lacks add to its best sentence's cosine; an extra encode per question) was
# tried and dropped: at FOUND it abstained no more (0.574 either way) and found fewer seed paraphrases (0.94, 0.97).
QUESTION_FEATURES = ("missing_share", "missing_rarest", "cosine_z", "aspect")
USED_KINDS = ("answerable", "typo")


def _assistant(corpus, embedder):
    """An Assistant over the corpus's documents, indexed once under WORK (reused while the documents match)."""
    from docqa.assistant import Assistant

    key = hashlib.sha256(json.dumps(sorted(corpus.documents.items())).encode()).hexdigest()[:16]
    sources, index = WORK / key / "sources", WORK / key / "index"
    sources.mkdir(parents=True, exist_ok=True)
    for name, text in corpus.documents.items():
        path = sources / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    assistant = Assistant(sources=sources, index_dir=index, embedder=embedder)
    assistant.load()
    return assistant


def _holds(chunk, q) -> bool:
    """Whether a passage holds the question's answer (as the suite scores it)."""
    from docqa.evaluation import contains

    if q.spans:
        return chunk.source == q.document and any(chunk.start <= s and e <= chunk.end for s, e in q.spans)
    return q.phrase is not None and contains(chunk, q.phrase)


def fitting_questions(corpus) -> list:
    """The corpus's questions the models are fitted on: the tune split only, of the kinds used."""
    from docqa.evaluation import ABSTAIN_KINDS

    return [q for q in corpus.questions if q.split == "tune" and q.kind in (*USED_KINDS, *ABSTAIN_KINDS)]


def collect() -> list[dict]:
    """Per tune question: its group, whether the sources answer it, each judged candidate's signals, whether it
    holds the answer and is grounded, and whether the question names something no passage mentions. Cached per
    corpus under WORK: `--cached` reuses what is there, `--cached --redo seed` re-asks the seed corpus only."""
    from docqa.embedding import get_embedder
    from docqa.evaluation import corpus_names, load_corpus
    from docqa.settings import Settings

    redo = {sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--redo"}
    embedder = None
    rows = []
    for name in corpus_names():
        cache = WORK / f"signals-{name}.json"
        if "--cached" in sys.argv and name not in redo and cache.exists():
            rows += json.loads(cache.read_text())
            continue
        if embedder is None:
            settings = Settings()
            embedder = get_embedder(settings.model_name, settings.encode_batch_size)
        corpus = load_corpus(name)
        retriever = _assistant(corpus, embedder).retriever
        asked = []
        for q in fitting_questions(corpus):
            answerable = q.kind in USED_KINDS
            reading, _, judged = retriever.judge(q.text)
            # As `Retriever.search` reads them: only the candidates about what the question names (its names and
            # owner); none left abstains, as do a name no candidate gives and a topic no passage mentions.
            owned = retriever._owned(judged, reading, list(dict.fromkeys(w.term for w in reading.words)))
            judged = owned or judged
            asked.append({
                "group": f"{name}/{q.kind}", "id": q.id, "question": q.text, "answerable": answerable,
                "named": retriever.vetoed(reading, judged, owned),
                "candidates": [{"signals": dict(zip(_features(), s.to_list())),
                                "answers": answerable and _holds(h.chunk, q), "grounded": retriever._grounded(s)}
                               for s, h in judged],
            })
        print(f"{name}: {len(asked)} tune questions", file=sys.stderr)
        WORK.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(asked))
        rows += asked
    return rows


def _features() -> tuple[str, ...]:
    from docqa.abstention import FEATURES

    return FEATURES


def _counted(candidates: list[dict]) -> list[dict]:
    """The candidates whose belief `Retriever.search` answers on: the most relevant one (candidates are stored in
    relevance order) and every grounded one."""
    return [c for i, c in enumerate(candidates) if i == 0 or c["grounded"]]


def fit(rows: list[dict], features=QUESTION_FEATURES, found: float = FOUND, report: bool = True) -> dict:
    """The two models and the threshold, fitted on `rows` (see the module's description)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    groups = sorted({r["group"] for r in rows})
    size = {g: sum(r["group"] == g for r in rows) for g in groups}

    # 1. Whether a candidate answers. Search answers when the most relevant candidate or any grounded one reaches
    # the threshold, so the positives are the first such candidate holding the answer of each answerable question,
    # the negatives every such candidate of each question to abstain on (each question weighs the same).
    X, y, w = [], [], []
    for r in rows:
        counted = _counted(r["candidates"])
        chosen = [c for c in counted if c["answers"]][:1] if r["answerable"] else counted
        for c in chosen:
            X.append([c["signals"][f] for f in features])
            y.append(int(r["answerable"]))
            w.append(1.0 / size[r["group"]] / len(chosen))
    X, y, w = np.array(X), np.array(y), np.array(w)
    w = np.where(y == 1, w * (w[y == 0].sum() / max(w[y == 1].sum(), 1e-12)), w)  # both classes weigh the same
    judge = LogisticRegression(max_iter=5000).fit(X, y, sample_weight=w / w.mean())
    # 2. Which candidate answers: candidates of answerable questions whose answer is among them.
    positives = [r for r in rows if any(c["answers"] for c in r["candidates"])]
    P = np.array([[c["signals"][f] for f in PASSAGE_FEATURES] for r in positives for c in r["candidates"]])
    py = np.array([int(c["answers"]) for r in positives for c in r["candidates"]])
    chooser = LogisticRegression(class_weight="balanced", max_iter=5000).fit(P, py)

    # Per question: the best counted candidate's probability (what search answers on); a missing name abstains.
    best = np.array([max((judge.predict_proba([[c["signals"][f] for f in features]])[0, 1]
                          for c in _counted(r["candidates"])), default=0.0) for r in rows])
    named = np.array([r["named"] for r in rows])
    answerable = np.array([r["answerable"] for r in rows])
    member = {g: np.array([r["group"] == g for r in rows]) for g in groups}

    def rates(t: float) -> dict[str, float]:
        """Per group: answerable ones found (a question naming what no passage holds is left to that rule, so
        not counted), the others abstained on (a missing name abstains)."""
        answered = (best >= t) & ~named
        return {g: float((answered == answerable)[member[g] & (~named if answerable[member[g]].all() else True)]
                         .mean()) for g in groups}

    yes = [g for g in groups if g.endswith("/answerable")]  # typo groups (4 to 6 questions) are only reported
    no = [g for g in groups if not answerable[member[g]].any()]

    def score(t: float) -> tuple[float, float]:
        """(the answerable questions found, averaged over corpora, up to `found`; then the mean abstained)."""
        r = rates(t)
        return min(found, sum(r[g] for g in yes) / len(yes)), sum(r[g] for g in no) / len(no)

    threshold = max(np.round(np.linspace(0.01, 0.99, 99), 2), key=score)
    chosen = rates(threshold)
    if report:
        within = np.mean([any(c["answers"] for c in r["candidates"]) for r in rows if r["answerable"]])
        print(f"{len(rows)} tune questions in {len(groups)} groups; the answer is among the judged candidates for "
              f"{within:.3f} of the {int(answerable.sum())} answerable ones")
        print(f"threshold {threshold:.2f}: answerable found {score(threshold)[0]:.3f} averaged over corpora (aimed at "
              f"{found}), mean abstained {score(threshold)[1]:.3f}")
        for g in groups:
            print(f"  {g:<28} {'abstained' if g in no else 'found':>9} {chosen[g]:.3f} ({size[g]})")
        for name, coef in zip(features, judge.coef_[0]):
            print(f"  question {name:<18}{coef:+.3f}")
    return {
        "question": {"weights": {n: round(float(v), 4) for n, v in zip(features, judge.coef_[0])},
                     "intercept": round(float(judge.intercept_[0]), 4), "threshold": round(float(threshold), 2)},
        "passage": {"weights": {n: round(float(v), 4) for n, v in zip(PASSAGE_FEATURES, chooser.coef_[0])},
                    "intercept": round(float(chooser.intercept_[0]), 4)},
        "rates": chosen, "questions": len(rows), "groups": len(groups),
    }


def main() -> None:
    rows = collect()
    model = fit(rows)
    if "--write" in sys.argv:
        out = ROOT / "src" / "docqa" / "data" / "abstention.json"
        rates = ", ".join(f"{g} {v:.3f}" for g, v in model.pop("rates").items())
        out.write_text(json.dumps({
            "description": "Fitted by `PYTHONPATH=src HF_HUB_OFFLINE=1 python -m bench.fit_abstention --write` on "
                           f"the eval suite's tune split only ({model.pop('questions')} questions in "
                           f"{model.pop('groups')} groups; no held-out question). `question` judges whether a "
                           "candidate answers (search answers when the most relevant candidate or a grounded one "
                           "reaches `threshold`; the most relevant candidate leads); `passage` picks the "
                           f"candidate (order_by='model' only). Per group at the threshold: {rates}.",
            **model,
        }, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
