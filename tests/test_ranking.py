"""Ranking with the real model on small hand-written documents: the question's words close together in a passage,
the section heading a passage stands under and the passage before it count toward its relevance (issue 9)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from docqa import Assistant, Settings

KITCHEN = """Kitchen notes

Bread

Mix the flour, water, yeast and salt, then leave the dough to rise overnight in a cool room.

Shape it in the morning and bake it for forty minutes in a very hot oven.

Cake

Beat the butter and sugar, fold in the eggs and flour, and pour the batter into a round tin.

Bake it for twenty-five minutes in a moderate oven, until a skewer comes out clean.
"""

TOWN = """The town of Alder

The museum of Alder opened its new library in 1998, after ten years of fundraising by the townspeople. Visitors
come mostly in summer. The harbour is busy all year.

The harbour of Alder was rebuilt in 1975. The old museum stands by the quay, and the market sells fish. Each
spring the town fair fills the square. A new school opened near the station. The library of the parish church
keeps the old registers.
"""

FERRIES = """Crossings

The red ferry runs from the north pier to the island.

It leaves at seven in the morning and crosses the bay in forty minutes.

The blue ferry runs from the south pier to the lighthouse.

It leaves at noon and crosses the bay in an hour.
"""


def _assistant(tmp_path: Path, embedder, text: str, settings: Settings | None = None) -> Assistant:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "notes.txt").write_text(text, encoding="utf-8")
    assistant = Assistant(sources=sources, index_dir=tmp_path / "index", embedder=embedder, settings=settings)
    assistant.load()
    return assistant


@pytest.fixture
def kitchen(tmp_path, embedder) -> Assistant:
    return _assistant(tmp_path, embedder, KITCHEN)


def _passage(assistant: Assistant, words: str) -> int:
    return next(i for i, c in enumerate(assistant.retriever.stored.chunks) if words in c.text)


def test_each_passage_stands_under_the_nearest_heading_before_it(kitchen):
    retriever = kitchen.retriever
    chunks = retriever.stored.chunks
    heading = {c.text: retriever._context_of(i)[0] for i, c in enumerate(chunks)}
    name = {i: c.text for i, c in enumerate(chunks)}
    assert heading["Kitchen notes"] is None  # the headline opens the document: nothing above it
    assert name[heading["Bread"]] == "Kitchen notes"
    assert name[heading[chunks[_passage(kitchen, "Shape it")].text]] == "Bread"
    assert name[heading[chunks[_passage(kitchen, "Beat the butter")].text]] == "Cake"
    assert name[heading[chunks[_passage(kitchen, "skewer")].text]] == "Cake"


def test_the_heading_names_the_topic_a_passage_leaves_unsaid(kitchen, monkeypatch):
    """Both baking passages say "Bake it for ... minutes"; only the headings say which is the cake."""
    question = "How long do I bake the cake?"
    cake = _passage(kitchen, "skewer")
    _, _, judged = kitchen.retriever.judge(question)
    assert judged[0][1].position == cake
    answer = kitchen.ask(question)
    assert answer.found and "twenty-five minutes" in answer.passages[0].text
    # Without the heading it is a coin toss that the dense model calls for the bread.
    monkeypatch.setattr(type(kitchen.retriever), "_context_of", lambda self, i: (None, None))
    _, _, without = kitchen.retriever.judge(question)
    scores = {h.position: h.relevance for _, h in without}
    with_heading = {h.position: h.relevance for _, h in judged}
    bread = _passage(kitchen, "Shape it")
    assert with_heading[cake] - with_heading[bread] > scores[cake] - scores[bread]


def test_each_passage_knows_the_one_before_it(kitchen):
    retriever = kitchen.retriever
    skewer, beat = _passage(kitchen, "skewer"), _passage(kitchen, "Beat the butter")
    assert retriever._context_of(skewer)[1] == beat
    assert retriever._context_of(0) == (None, None)


def test_a_passage_that_goes_on_with_the_one_before_takes_its_subject(tmp_path, embedder, monkeypatch):
    """"It leaves at seven" is about the red ferry only because the passage before it says so."""
    ferries = _assistant(tmp_path, embedder, FERRIES)
    question = "When does the red ferry leave?"
    seven, noon = _passage(ferries, "seven in the morning"), _passage(ferries, "leaves at noon")
    _, _, judged = ferries.retriever.judge(question)
    relevance = {h.position: h.relevance for _, h in judged}
    assert relevance[seven] > relevance[noon]
    # The margin comes from the passage before, not from the dense model alone.
    context = type(ferries.retriever)._context_of
    monkeypatch.setattr(type(ferries.retriever), "_context_of", lambda self, i: (context(self, i)[0], None))
    _, _, alone = ferries.retriever.judge(question)
    without = {h.position: h.relevance for _, h in alone}
    assert relevance[seven] - relevance[noon] > 2 * (without[seven] - without[noon])


def test_words_close_together_count_more_than_words_scattered(tmp_path, embedder):
    town = _assistant(tmp_path, embedder, TOWN)
    retriever = town.retriever
    terms = [w.term for w in retriever.read("When did the museum open its new library?").words]
    together, scattered = _passage(town, "opened its new library"), _passage(town, "rebuilt in 1975")
    assert retriever.lexical.coverage(terms, scattered) == pytest.approx(1.0)  # every word is in both passages
    assert retriever.lexical.coverage(terms, together) == pytest.approx(1.0)
    weights = [retriever.lexical.idf(t) for t in terms]
    assert retriever._window_coverage(together, terms, weights) == pytest.approx(1.0)
    assert retriever._window_coverage(scattered, terms, weights) < 0.8
    answer = town.ask("When did the museum open its new library?")
    assert answer.found and "1998" in answer.passages[0].highlight_text


def test_relevance_is_the_plain_mix_when_the_new_weights_are_off(tmp_path, embedder):
    """With no window or heading weight and no heading above the passages, relevance is what it was: the mean of
    the passage and best-sentence cosines plus coverage_weight times the passage's coverage."""
    knobs = replace(Settings().retrieval, window_coverage_weight=0.0, heading_weight=0.0)
    town = _assistant(tmp_path, embedder, TOWN.split("\n\n", 1)[1], replace(Settings(), retrieval=knobs))
    _, _, judged = town.retriever.judge("When did the museum open its new library?")
    assert judged
    for _, hit in judged:
        expected = (hit.cosine + hit.sentence_cosine) / 2 + knobs.coverage_weight * hit.coverage
        assert hit.relevance == pytest.approx(expected, abs=1e-6)


def test_window_coverage_of_a_question_without_content_words_is_zero(kitchen):
    assert kitchen.retriever._window_coverage(0, [], []) == 0.0
