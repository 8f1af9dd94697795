"""BM25 tokenisation: the words that frame a question are dropped from questions only, and an index whose terms were
cut by another tokeniser is tokenised again rather than searched with mismatched terms."""
from __future__ import annotations

import json
from pathlib import Path

from docqa import Settings
from docqa import lexical
from docqa.indexing import sync_index
from docqa.lexical import TOKENISER, LexicalIndex, tokenize
from docqa.store import LEXICAL_DIR, MANIFEST, read_index, version_dir


def _terms(question: str) -> list[str]:
    return [w.term for w in LexicalIndex.query_words(question)]


def test_a_topic_word_that_can_frame_a_question_is_kept_when_it_does_not():
    assert _terms("How do I sort a list of names?") == ["sort", "list", "name"]
    assert "sort" in _terms("Which sort key should I use?")
    assert "way" in _terms("Where does the Milky Way end?")
    assert "text" in _terms("How do I read a text file?")
    assert "report" in _terms("Who wrote a report on the floods?")


def test_the_words_that_frame_a_question_are_dropped():
    assert _terms("What kind of ships use the canal?") == ["ship", "use", "canal"]
    assert _terms("Is there a way to sort in reverse?") == ["sort", "revers"]
    assert _terms("In what way did the river change?") == ["river", "chang"]
    assert _terms("What does the author say about the harbour?") == ["harbour"]
    assert _terms("What does this document tell me about the floods?") == ["flood"]


def test_the_kind_of_answer_asked_for_is_not_a_term():
    """"On which weekday …?" is answered "on Wednesday": the answer gives the kind by value, not by the word."""
    assert _terms("On which weekday did the talk take place?") == ["talk", "take", "place"]
    assert _terms("In what year was the harbour rebuilt?") == ["harbour", "rebuilt"]
    assert "year" in _terms("How many ships pass each year?")  # not the kind asked for: a term
    assert "centuri" in _terms("What century did the name come from?")  # "the 1st century BC" holds the word


def test_passages_keep_the_words_only_questions_drop():
    assert tokenize(["He said one way to sort the report is by kind."]) == [
        ["said", "one", "way", "sort", "report", "kind"]]


def test_an_index_cut_by_another_tokeniser_is_tokenised_again_and_then_rebuilt(
    seed_dir: Path, tmp_path: Path, fake_embedder, monkeypatch
):
    index = tmp_path / "index"
    # An "old" tokeniser that made "troops" a stop word, recorded under its own name.
    with monkeypatch.context() as m:
        m.setattr(lexical, "_stopwords", lambda: frozenset({"the", "a", "troops"}))
        sync_index(seed_dir, index, Settings(), fake_embedder)
    path = version_dir(index) / MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()), "tokeniser": "old/1"}))
    assert not LexicalIndex.load(version_dir(index) / LEXICAL_DIR).knows("troop")

    assert read_index(index).lexical.knows("troop"), "terms are cut again at load, not served mismatched"

    fake_embedder.calls.clear()
    stored, docs, report = sync_index(seed_dir, index, Settings(), fake_embedder)
    assert report.rebuilt and any("tokeniser changed" in r for r in report.reasons)
    assert fake_embedder.calls == [] and report.reused == tuple(docs), "passages and vectors are kept"
    assert stored.manifest.tokeniser == TOKENISER
    assert LexicalIndex.load(version_dir(index) / LEXICAL_DIR).knows("troop")
