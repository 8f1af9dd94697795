"""Abstention: questions the documents do not answer are abstained on, on documents written for these tests (never
the evaluation suite's); the fitting script reads only the suite's tune split."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from docqa.abstention import FEATURES, Signals

ORCHARD = """# Notes on the Hallow Hill orchard

The orchard grows four apple varieties: Bramley, Cox, Egremont Russet and Discovery.

Apples are picked from late August to October, Discovery first and Bramley last.

After picking, the apples are kept in the cold store at 3 degrees Celsius, which keeps them crisp until spring.

Each tree is pruned in winter, when it is dormant, to let light into the middle of the crown.

Codling moth is the worst pest of the apples; pheromone traps in May tell us when to act.

The windfalls are pressed for juice in a hand press in the barn.
"""

BEES = """# Keeping bees at Hallow Hill

Two hives stand at the edge of the orchard, facing south-east to catch the morning sun.

The colonies are inspected every nine days from April to July to look for queen cells.

Honey is taken off in late July and spun in an extractor; a good year gives about 20 kilograms a hive.

In winter the bees cluster to keep warm and live on the honey left for them.

Varroa mites are treated with oxalic acid in December, when there is no brood.
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory, embedder):
    from conftest import _loaded_assistant

    return _loaded_assistant(tmp_path_factory.mktemp("farm"), embedder, {"orchard.md": ORCHARD, "bees.md": BEES})


@pytest.mark.parametrize("question, phrase", [
    ("How cold is the apple store?", "3 degrees Celsius"),
    ("When are the apples harvested?", "late August to October"),
    ("How much honey does a hive give?", "20 kilograms"),
    ("What do the bees eat in winter?", "live on the honey"),
    ("Which insect does the most damage to the fruit?", "Codling moth"),  # no word of it is in the notes
])
def test_questions_the_notes_answer_are_answered(farm, question, phrase):
    answer = farm.ask(question)
    assert answer.found and any(phrase in p.text for p in answer.passages)


OPEN = pytest.mark.xfail(reason="a common noun no passage holds, beside words that match closely, is still answered "
                                "(issue 9, open: see docs/benchmarks.md, Abstention round 2)")


@pytest.mark.parametrize("question", [
    pytest.param("How cold is the pear store?", marks=OPEN),  # a fruit the notes never mention
    "What did the notes say about plum jam?",
    "How do I make cider vinegar?",
    "How many sheep graze under the trees?",
    pytest.param("When are the hives moved to the heather?", marks=OPEN),
])
def test_questions_about_what_the_notes_leave_out_are_abstained(farm, question):
    answer = farm.ask(question)
    assert not answer.found and answer.passages == []


def test_every_signal_the_models_weigh_exists_and_the_threshold_is_a_probability():
    model = json.loads(resources.files("docqa").joinpath("data/abstention.json").read_text(encoding="utf-8"))
    for part in ("question", "passage"):
        assert set(model[part]["weights"]) <= set(FEATURES)
    assert 0.0 < model["question"]["threshold"] < 1.0
    assert len(Signals(*[0.0] * len(FEATURES)).to_list()) == len(FEATURES)


def test_the_fit_reads_the_suites_tune_split_only():
    from bench.fit_abstention import fitting_questions
    from docqa.evaluation import corpus_names, load_corpus

    for name in corpus_names():
        corpus = load_corpus(name)
        chosen = fitting_questions(corpus)
        assert chosen and all(q.split == "tune" for q in chosen)
        held = {q.text for q in corpus.questions if q.split == "held-out"}
        assert not any(q.text in held and q.kind != "absent" for q in chosen), name
