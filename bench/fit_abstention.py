"""Fits the abstention model (src/docqa/data/abstention.json) on the tuning split of the evaluation corpora.

Corpora: the seed article; SQuAD 2.0's Rhine article (../shared/eval-data/squad2-dev-rhine.json) beside it as a
second document, and absent (only the seed indexed); near-miss and "named subject, absent aspect" questions
written for tuning (other questions of these kinds are kept for held-out reporting only). A question belongs to
the tuning split when the sha1 of its id (or text) is even; only those are fitted on.

    PYTHONPATH=src:. HF_HUB_OFFLINE=1 python -m bench.fit_abstention [--write]"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RHINE = ROOT.parent / "shared" / "eval-data" / "squad2-dev-rhine.json"
if not RHINE.exists():
    RHINE = ROOT / "src" / "docqa" / "data" / "eval" / "rhine" / "squad2-dev-rhine.json"  # the committed copy
SEED = ROOT / "seeds" / "hegseth-nato-ukraine.txt"
WORK = Path("/tmp/docqa-fit-abstention")

# Written for tuning: questions about topics near the corpora but absent from them.
NEAR_TUNE = [
    "Where does the Loire begin?", "What is the largest city on the Volga?", "Which countries does the Mekong "
    "flow through?", "What rail system serves Lyon?", "When was the Suez Canal opened?", "What is the source of "
    "the Thames?", "What is the population of Marseille?", "Which sea does the Vistula flow into?",
    "Who designed the Golden Gate Bridge?", "What is the main industry of Bilbao?", "Which dynasty ruled Burgundy "
    "in the 15th century?", "What is the highest peak of the Pyrenees?", "How many bridges cross the Seine in "
    "Paris?", "What did the Pentagon say about Venezuela?", "What did Macron say about the euro?",
    "When did Finland join NATO?", "What did Zelensky ask Congress for?",
]
ASPECT_TUNE = [
    "What did Hegseth say about Venezuela?", "What did Hegseth say about cyber attacks?",
    "What did Hegseth say about the Pacific fleet?", "What did Hegseth say about recruitment?",
    "What did Hegseth say about hypersonic missiles?", "What is the Rhine's role in the wine trade with China?",
    "How did the Rhine affect the Olympic Games?", "What music festivals take place on the Rhine?",
    "What did Napoleon build on the Rhine?", "How many salmon live in the Rhine today?",
]


def split(key: str) -> str:
    """'tune' or 'held', fixed by the key's sha1."""
    return "tune" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 else "held"


def rhine_doc() -> tuple[str, list[tuple[str, str, bool, list[tuple[int, int]]]]]:
    """The Rhine article as one text document, and its questions (id, text, impossible, answer spans)."""
    article = json.loads(RHINE.read_text(encoding="utf-8"))["data"][0]
    text, questions = "Rhine", []
    for p in article["paragraphs"]:
        text += "\n\n"
        base = len(text)
        text += p["context"]
        for q in p["qas"]:
            spans = [(base + a["answer_start"], base + a["answer_start"] + len(a["text"])) for a in q["answers"]]
            questions.append((q["id"], q["question"].strip(), q["is_impossible"], spans))
    return text + "\n", questions


def assistant(name: str, docs: dict[str, str]):
    """An Assistant over `docs` (file name -> text), indexed once under WORK."""
    from docqa.assistant import Assistant

    src, idx = WORK / name / "src", WORK / name / "idx"
    src.mkdir(parents=True, exist_ok=True)
    for fname, text in docs.items():
        if not (src / fname).exists() or (src / fname).read_text() != text:
            (src / fname).write_text(text)
    a = Assistant(src, idx)
    a.load()
    return a


def corpora():
    """(seed only, seed + Rhine) assistants and the Rhine questions."""
    text, questions = rhine_doc()
    seed = SEED.read_text(encoding="utf-8")
    return (assistant("one", {SEED.name: seed}), assistant("two", {SEED.name: seed, "rhine.txt": text}), questions)


def _norm(text: str) -> str:
    return " ".join(text.replace("’", "'").lower().split())


def labelled(part: str = "tune") -> list[tuple[str, object, object, str]]:
    """(question, retriever, answers, corpus) for one split; `answers(chunk)` says whether a passage holds the
    answer (always False for a question the sources do not answer)."""
    from docqa.evaluation import load_gold

    one, two, questions = corpora()
    never = lambda chunk: False  # noqa: E731

    def spans(found: list[tuple[int, int]]):
        return lambda c: c.source == "rhine.txt" and any(c.start <= a and b <= c.end for a, b in found)

    def phrase(text: str):
        return lambda c: _norm(text) in _norm(c.text)

    rows = [(q, two.retriever, spans(sp), "rhine") for qid, q, impossible, sp in questions
            if not impossible and split(qid) == part]
    rows += [(q, one.retriever, never, "absent") for qid, q, _, _ in questions if split(qid) == part]
    gold = load_gold()
    for g in gold.answerable:
        if split(g["question"]) == part:
            rows += [(g["question"], r, phrase(g["answer"]), "seed") for r in (one.retriever, two.retriever)]
    if part == "tune":
        rows += [(q, r, never, "near") for q in NEAR_TUNE for r in (one.retriever, two.retriever)]
        rows += [(q, r, never, "aspect") for q in ASPECT_TUNE for r in (one.retriever, two.retriever)]
    return rows


CACHE = WORK / "signals.json"
# What tells the passages of one question apart (the question-level signals are the same for all of them).
PASSAGE_FEATURES = ("cosine_z", "relevance", "coverage", "aspect", "bm25_share", "sentence_coverage")
# What says whether the chosen passage answers at all: only signals whose scale is the same in any corpus (the
# lexical ones follow SQuAD's habit of reusing the paragraph's words and add nothing on the tuning split).
QUESTION_FEATURES = ("missing_share", "missing_rarest", "cosine_z", "aspect")


def collect() -> list[tuple[bool, list[tuple[list[float], int]], str, bool]]:
    """Per tuning question: whether the sources answer it, each judged candidate's signals and label, its corpus,
    and whether it names something no passage mentions (which abstains whatever the model says)."""
    if "--cached" in sys.argv and CACHE.exists():
        return [(a, [(f, l) for f, l in pairs], group, named) for a, pairs, group, named in json.loads(CACHE.read_text())]
    questions = []
    for q, retriever, answers, group in labelled("tune"):
        reading, encoding, judged = retriever.judge(q)
        pairs = [(signals.to_list(), int(answers(h.chunk))) for signals, h in judged]
        questions.append((any(answers(c) for c in retriever.stored.chunks), pairs, group, bool(reading.missing_names)))
    CACHE.write_text(json.dumps(questions))
    return questions


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from docqa.abstention import FEATURES

    questions = collect()
    cols = [FEATURES.index(name) for name in PASSAGE_FEATURES]
    positives = [pairs for answerable, pairs, _, _ in questions if answerable]
    within = sum(any(label for _, label in pairs) for pairs in positives) / len(positives)
    print(f"answer within the judged candidates for {within:.3f} of {len(positives)} answerable tuning questions")
    # 1. Which candidate answers: fitted on the candidates of answerable questions.
    X = np.array([[f[c] for c in cols] for pairs in positives for f, _ in pairs])
    y = np.array([label for pairs in positives for _, label in pairs])
    chooser = LogisticRegression(class_weight="balanced", max_iter=2000).fit(X, y)

    def lead(pairs):
        p = chooser.decision_function(np.array([[f[c] for c in cols] for f, _ in pairs]))
        return pairs[int(np.argmax(p))]

    by_model = np.mean([lead(pairs)[1] for pairs in positives if pairs])
    by_relevance = np.mean([pairs[0][1] for pairs in positives if pairs])
    print(f"R@1 on answerable tuning questions: by relevance {by_relevance:.3f}, by the passage model {by_model:.3f}")
    # 2. Whether the chosen candidate answers: fitted per question on the lead's signals.
    qcols = [FEATURES.index(name) for name in QUESTION_FEATURES]
    kept = [q for q in questions if q[1]]
    Q = np.array([[lead(pairs)[0][c] for c in qcols] for _, pairs, _, _ in kept])
    a = np.array([int(answerable) for answerable, _, _, _ in kept])
    judge = LogisticRegression(class_weight="balanced", max_iter=2000).fit(Q, a)
    p = judge.predict_proba(Q)[:, 1]
    groups = np.array([group for _, _, group, _ in kept])
    named = np.array([n for _, _, _, n in kept])

    def balanced(t: float) -> float:
        """Right answers per corpus (answered if answerable, else abstained; a missing name always abstains),
        averaged over the answerable corpora and over the others, then over both: no corpus outweighs another."""
        answered = (p >= t) & ~named
        right = {g: float((answered == (a == 1))[groups == g].mean()) for g in sorted(set(groups))}
        yes = [right[g] for g in right if a[groups == g].any()]
        no = [right[g] for g in right if not a[groups == g].any()]
        return (sum(yes) / len(yes) + sum(no) / len(no)) / 2

    best = max(np.linspace(0.05, 0.95, 91), key=balanced)
    answered = (p >= best) & ~named
    print("  per corpus at that threshold:",
          {g: round(float((answered == (a == 1))[groups == g].mean()), 3) for g in sorted(set(groups))})
    print(f"{len(questions)} tuning questions ({len(positives)} answerable): question-level balanced accuracy "
          f"{balanced(best):.3f} at threshold {best:.2f} ({balanced(0.5):.3f} at 0.5)")
    for name, w in zip(PASSAGE_FEATURES, chooser.coef_[0]):
        print(f"  passage  {name:<15}{w:+.3f}")
    for name, w in zip(QUESTION_FEATURES, judge.coef_[0]):
        print(f"  question {name:<15}{w:+.3f}")
    if "--write" in sys.argv:
        out = ROOT / "src" / "docqa" / "data" / "abstention.json"
        out.write_text(json.dumps({
            "description": "Two logistic models fitted by `python -m bench.fit_abstention --write` on the tuning "
                           f"split ({len(questions)} questions, {len(positives)} answerable): `passage` picks the "
                           "candidate that answers; `question` judges whether it does, answering at `threshold` "
                           f"(question-level balanced accuracy {balanced(best):.3f}).",
            "passage": {"weights": {n: round(float(w), 4) for n, w in zip(PASSAGE_FEATURES, chooser.coef_[0])},
                        "intercept": round(float(chooser.intercept_[0]), 4)},
            "question": {"weights": {n: round(float(w), 4) for n, w in zip(QUESTION_FEATURES, judge.coef_[0])},
                         "intercept": round(float(judge.intercept_[0]), 4), "threshold": round(float(best), 2)},
        }, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
