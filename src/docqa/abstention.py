"""Abstention: whether the best passage answers the question, from signals that mean the same in any corpus.

A small logistic model (weights in data/abstention.json, fitted by bench/fit_abstention.py on the tuning split of
the evaluation corpora; JSON, never pickle) weighs:
- how much of the question's information sits in words that occur nowhere in the sources (allowing for typos),
  judged by general-English word frequency: "What rail system serves <a city no document names>?";
- the best sentence cosine as a z-score against unrelated questions scored against the same index;
- the passage's relevance, its share of the question's wording, and how well its sentences match the part of the
  question it does not share word for word ("named subject, absent aspect")."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import astuple, dataclass, fields
from importlib import resources


@dataclass(frozen=True)
class Signals:
    """The abstention model's inputs for one question and its best passage."""

    missing_share: float  # share of the question's information (8 - zipf per word) in words no passage holds
    missing_rarest: float  # the most informative such word (0 when none is missing)
    cosine_z: float  # best sentence cosine vs. unrelated questions on this index, in their standard deviations
    relevance: float  # the ranking score of the passage
    coverage: float  # idf-weighted share of the question's terms in the passage
    aspect: float  # best sentence vs. the question's words the passage lacks (1.0 when it lacks none)
    bm25_share: float  # the passage's BM25 score over the best BM25 score among the candidates (0..1)
    sentence_coverage: float  # idf-weighted share of the question's terms in the passage's best-matching sentence

    def to_list(self) -> list[float]:
        return [float(v) for v in astuple(self)]


FEATURES = tuple(f.name for f in fields(Signals))


@functools.lru_cache(maxsize=1)
def _models() -> dict:
    return json.loads(resources.files("docqa").joinpath("data/abstention.json").read_text(encoding="utf-8"))


def _logit(part: str, signals: Signals) -> float:
    model = _models()[part]
    values = dict(zip(FEATURES, signals.to_list()))
    return float(model["intercept"]) + sum(float(w) * values[name] for name, w in model["weights"].items())


def passage_score(signals: Signals) -> float:
    """How likely this candidate, rather than another of the same question, holds the answer (a logit)."""
    return _logit("passage", signals)


def passage_probability(signals: Signals) -> float:
    """`passage_score` as a probability (0..1): the score a cited passage shows."""
    return _sigmoid(passage_score(signals))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def probability(signals: Signals) -> float:
    """The belief that the chosen passage answers the question (0..1)."""
    return _sigmoid(_logit("question", signals))


def threshold() -> float:
    """The belief at which the chosen passage counts as answering (fitted with the model)."""
    return float(_models()["question"]["threshold"])
