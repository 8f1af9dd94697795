"""The evaluation suite: its data (splits fixed by rule, exact answer offsets) and the runner, with the real model on
a tiny corpus. No quality bar is asserted here: the suite measures, the retrieval tests judge."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from docqa.evaluation import (
    Corpus,
    Question,
    _passes,
    build_assistant,
    corpus_names,
    data_dir,
    evaluate_corpus,
    format_suite,
    load_corpus,
    load_gold,
    rhine_document,
    split_documents,
    split_of,
    squad_path,
)
from docqa.types import Answer, Passage

from conftest import ROOT

CORPORA = corpus_names()


def _spec(name: str) -> dict:
    return json.loads((data_dir() / f"{name}.json").read_text(encoding="utf-8"))


def _items(spec: dict):
    """Every hand-written question and chat turn, with the chat it belongs to."""
    for item in spec.get("questions", []):
        yield item, None
        for turn in item.get("turns", []):
            yield turn, item


def test_the_suite_has_the_corpora_the_issue_asks_for():
    assert CORPORA == ["seed", "rhine", "howto", "notes", "news", "rhine-absent", "wiki"]
    corpora = {name: load_corpus(name) for name in CORPORA}
    kinds = {name: {q.kind for q in c.questions} for name, c in corpora.items()}
    for name in ("seed", "rhine", "howto", "notes", "news"):
        assert {"absent_aspect", "typo", "other_language", "overview", "chat"} <= kinds[name], name
    rhine = corpora["rhine"].questions
    assert sum(q.kind == "answerable" for q in rhine) == 290 and sum(q.kind == "impossible" for q in rhine) == 208
    assert {q.kind for q in corpora["rhine-absent"].questions} == {"absent"}
    assert len(corpora["rhine-absent"].questions) == 498
    assert "rhine.txt" in corpora["rhine"].documents and "rhine.txt" not in corpora["rhine-absent"].documents
    wiki = corpora["wiki"]  # three encyclopedia articles; people's questions about a fourth are near misses
    assert len(wiki.documents) == 3 and "rhine.txt" not in wiki.documents
    assert sum(q.kind == "absent" for q in wiki.questions) == 498
    assert sum(q.kind == "answerable" for q in wiki.questions) >= 30
    for name in ("howto", "notes", "news"):
        spec = _spec(name)
        assert len(spec["documents"]) >= 6 and 2 <= len(spec["absent_documents"]) <= 4
        assert not set(spec["documents"]) & set(spec["absent_documents"])
        assert {i["about"] for i in spec["questions"] if i["kind"] == "near_miss"} == \
            {Path(d).name for d in spec["absent_documents"]}
    for chat in (q for c in corpora.values() for q in c.questions if q.kind == "chat"
                 if not q.id.startswith("gold-")):
        assert len(chat.turns) >= 6, chat.id


@pytest.mark.parametrize("name", CORPORA)
def test_every_corpus_reports_both_splits_and_ids_are_unique(name):
    corpus = load_corpus(name)
    assert {q.split for q in corpus.questions} == {"tune", "held-out"}
    ids = [q.id for q in corpus.questions]
    assert len(ids) == len(set(ids))


def test_recorded_splits_follow_their_rules():
    for name in ("seed", "rhine", "wiki"):
        for item in _spec(name)["questions"]:
            assert item["split"] == split_of(item["id"]), item["id"]
    gold = load_gold()
    seed = {q.text: q.split for q in load_corpus("seed").questions if q.id.startswith("gold-")}
    assert all(seed[item["question"]] == split_of(item["question"]) for item in gold.answerable)
    for name in ("rhine", "rhine-absent", "wiki"):
        recorded = _spec(name)["paragraph_split"]
        assert not set(recorded["tune"]) & set(recorded["held-out"])
        assert sorted(recorded["tune"] + recorded["held-out"]) == list(range(44))
        assert all(split_of(f"rhine-paragraph-{i}") == s for s, ids in recorded.items() for i in ids)
    for name in ("howto", "notes", "news"):
        spec = _spec(name)
        indexed = [Path(d).name for d in spec["documents"]]
        absent = [Path(d).name for d in spec["absent_documents"]]
        assert spec["document_split"] == {**split_documents(indexed), **split_documents(absent)}
        assert {spec["document_split"][d] for d in indexed} == {"tune", "held-out"}
        for item in spec["questions"]:
            document = item.get("document") or item.get("about") or (item.get("turns") or [{}])[0].get("document")
            expected = spec["document_split"][document] if document else split_of(item["id"])
            assert item["split"] == expected, item["id"]


def test_splits_are_deterministic_and_balanced():
    assert split_of("x") == split_of("x") and split_of("rhine-paragraph-0") == "tune"
    assert split_documents(["a", "b", "c", "d"]) == split_documents(["d", "c", "b", "a"])
    shares = [split_of(f"q{i}") == "held-out" for i in range(3000)]
    assert 0.3 < sum(shares) / len(shares) < 0.37


@pytest.mark.parametrize("name", ["seed", "rhine", "howto", "notes", "news", "wiki"])
def test_answer_offsets_are_exact(name):
    texts = load_corpus(name).documents
    checked = 0
    for item, _ in _items(_spec(name)):
        for answer in [item, *item.get("also", [])] if "answer_start" in item else []:
            start = answer["answer_start"]
            assert texts[item["document"]][start:start + len(answer["answer"])] == answer["answer"], item
            checked += 1
    assert checked >= 10


def test_squad_spans_map_into_the_written_document():
    text, offsets, article = rhine_document()
    assert len(offsets) == len(article["paragraphs"]) == 44
    questions = [q for q in load_corpus("rhine").questions if q.kind == "answerable"]
    answers = {qa["id"]: {a["text"] for a in qa["answers"]} for p in article["paragraphs"] for qa in p["qas"]}
    for q in questions:
        assert q.document == "rhine.txt" and q.spans
        assert {text[s:e] for s, e in q.spans} == answers[q.id]
    for paragraph, offset in zip(article["paragraphs"], offsets):
        assert text[offset:offset + len(paragraph["context"])] == paragraph["context"]


def test_the_bundled_rhine_copy_matches_the_shared_one():
    bundled = data_dir() / "rhine" / "squad2-dev-rhine.json"
    assert bundled.is_file() and (data_dir() / "README.md").read_text().count("CC BY-SA 4.0")
    shared = squad_path()
    if shared != bundled:
        assert shared.read_bytes() == bundled.read_bytes()


def _passage(source: str, start: int, end: int, highlight: tuple[int, int], paragraph: int = 3) -> Passage:
    return Passage("x" * (end - start), source, source, paragraph, start, end, highlight, 0.5)


def test_scoring_rules():
    q = Question("q", "answerable", "tune", "?", "answer", "a.txt", ((10, 20),))
    inside, outside = _passage("a.txt", 0, 30, (10, 20)), _passage("a.txt", 15, 40, (15, 40))
    found = Answer("?", "?", True, "", [inside])
    assert _passes(found, q, ["a.txt"])
    assert not _passes(Answer("?", "?", True, "", [outside, inside]), q, ["a.txt"])
    assert not _passes(Answer("?", "?", True, "", [_passage("b.txt", 0, 30, (10, 20))]), q, ["a.txt"])
    abstained = Answer("?", "?", False, "")
    assert not _passes(abstained, q, ["a.txt"])
    assert _passes(abstained, Question("e", "other_language", "tune", "?", "either", "a.txt", ((10, 20),)), [])
    assert _passes(abstained, Question("n", "near_miss", "tune", "?", "abstain"), [])
    assert not _passes(found, Question("n", "near_miss", "tune", "?", "abstain"), [])
    overview = Question("o", "overview", "tune", "?", "overview")
    openings = [_passage("a.txt", 0, 5, (0, 5), 1), _passage("b.txt", 9, 30, (9, 30), 2)]
    assert _passes(Answer("?", "?", True, "", openings), overview, ["a.txt", "b.txt"])
    assert not _passes(Answer("?", "?", True, "", openings[:1]), overview, ["a.txt", "b.txt"])


def test_runner_reports_every_figure_per_split_on_a_tiny_corpus(tmp_path, embedder):
    garden = ("Garden notes\n\nTomatoes need six hours of sun a day and deep watering twice a week.\n\n"
              "The shed is locked on Sundays; the key hangs in the kitchen.\n")
    bakery = "Bakery\n\nThe bakery opens at seven and is closed on Mondays. Rye bread comes out at nine.\n"
    docs = {"garden.txt": garden, "bakery.txt": bakery}

    def span(doc: str, phrase: str) -> dict:
        start = docs[doc].index(phrase)
        return {"document": doc, "spans": ((start, start + len(phrase)),)}

    sun, rye = span("garden.txt", "six hours of sun"), span("bakery.txt", "Rye bread comes out at nine")
    questions = (
        Question("a1", "answerable", "tune", "How much sun do tomatoes need?", "answer", **sun),
        Question("a2", "answerable", "held-out", "When does the rye bread come out?", "answer", **rye),
        # a span in a document that is not indexed: the scorer must be able to miss
        Question("a3", "answerable", "held-out", "Where is the shed key?", "answer", "absent.txt", ((0, 5),)),
        Question("n1", "near_miss", "tune", "What time does the butcher open?", "abstain"),
        Question("t1", "typo", "tune", "how much sunn do tomatos need", "answer", **sun),
        Question("l1", "other_language", "held-out", "Wann öffnet die Bäckerei?", "either",
                 **span("bakery.txt", "opens at seven")),
        Question("o1", "overview", "tune", "What are these notes about?", "overview"),
        Question("c1", "chat", "held-out", "", "chat", turns=(
            Question("c1/1", "turn", "held-out", "Is the bakery open on Monday?", "answer",
                     **span("bakery.txt", "closed on Mondays")),
            Question("c1/2", "turn", "held-out", "Why?", "abstain"),
        )),
    )
    corpus = Corpus("tiny", docs, questions)
    assistant = build_assistant(corpus, tmp_path / "tiny", embedder)
    report = evaluate_corpus(assistant, corpus)
    assert report.documents == 2 and report.passages >= 3
    assert set(report.figures) == {"tune", "held-out", "all"}
    assert report.figures["all"]["answerable R@1"].n == 3
    assert report.figures["tune"]["answerable R@1"].n == 1 and report.figures["held-out"]["answerable R@1"].n == 2
    for name in ("answerable found", "answerable R@3", "answerable MRR", "answerable highlight@1",
                 "near-miss abstained", "typo R@1", "other language: right or abstained",
                 "overview cites every document", "follow-up turns right", "chats right in every turn"):
        figure = report.figures["all"][name]
        assert 0.0 <= figure.value <= 1.0 and figure.n >= 1, name
    assert report.figures["all"]["follow-up turns right"].n == 1  # the first turn is not a follow-up
    assert any(" a3 " in m for m in report.misses)  # the phrase that answers nothing is never found
    table = format_suite([report])
    assert "## tiny: 2 document(s)" in table and "held-out" in table
    tune_only = evaluate_corpus(assistant, corpus, split="tune")
    assert set(tune_only.figures) == {"tune"}
    with pytest.raises(ValueError, match="split"):
        evaluate_corpus(assistant, corpus, split="dev")


def test_cli_runs_one_corpus_and_split():
    done = subprocess.run([sys.executable, "-m", "docqa.cli", "eval", "--corpus", "seed", "--split", "held-out",
                           "--json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [r["name"] for r in reports] == ["seed"] and set(reports[0]["figures"]) == {"held-out"}
    assert reports[0]["figures"]["held-out"]["answerable R@1"]["n"] == \
        sum(split_of(item["question"]) == "held-out" for item in load_gold().answerable)


def test_questions_can_be_asked_typed_in_lower_case():
    """`docqa eval --lower-case` asks every question, and every turn of a chat, as people often type them."""
    from docqa.evaluation import typed_lower

    chat = next(q for q in load_corpus("seed").questions if q.kind == "chat")
    lowered = typed_lower(chat)
    assert lowered.text == chat.text.lower()
    assert [t.text for t in lowered.turns] == [t.text.lower() for t in chat.turns]
    assert lowered.turns[0].spans == chat.turns[0].spans
    done = subprocess.run([sys.executable, "-m", "docqa.cli", "eval", "--corpus", "seed", "--split", "held-out",
                           "--lower-case"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    misses = [line for line in done.stdout.splitlines() if line.startswith("  [held-out]")]
    assert misses and all(line.split("'")[1] == line.split("'")[1].lower() for line in misses if "'" in line)


def test_cli_rejects_an_unknown_corpus_in_one_line():
    done = subprocess.run([sys.executable, "-m", "docqa.cli", "eval", "--corpus", "nope"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "unknown corpus: nope" in done.stderr


def test_the_peer_is_scored_by_the_same_span_rule():
    from bench.peer import Unit, rank

    units = [Unit("a.txt", 0, 10), Unit("b.txt", 0, 50), Unit("a.txt", 12, 40)]
    assert rank(units, "a.txt", [(15, 20)]) == 3
    assert rank(units, "b.txt", [(5, 60), (1, 4)]) == 2
    assert rank(units, "a.txt", [(8, 14)]) is None  # straddles two paragraphs


def test_the_peer_indexes_paragraphs_offline_with_the_bundled_model():
    pytest.importorskip("txtai")
    from bench.peer import TxtaiParagraphs, score

    from docqa.embedding import bundled_model_path

    docs = {"a.txt": "Apples\n\nApples keep for months at one degree.\n\nPears ripen at room temperature.",
            "b.txt": "Bakery\n\nThe bakery is closed on Mondays."}
    peer = TxtaiParagraphs(docs, str(bundled_model_path()))
    assert len(peer.units) == 5
    start = docs["b.txt"].index("closed on Mondays")
    question = Question("q", "answerable", "tune", "Which day is the bakery closed?", "answer", "b.txt",
                        ((start, start + 17),))
    figures = score(peer, [question])
    assert set(figures) == {"tune", "all"} and figures["all"]["n"] == 1
    assert 0.0 <= figures["all"]["R@1"] <= figures["all"]["R@3"] <= 1.0
