"""The public API: docqa.ask, Assistant, follow-ups, small talk and argument errors."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import docqa
from docqa import Assistant, HistoryError, QuestionError, SourceError

from conftest import ROOT


def test_import_docqa_is_light():
    code = ("import sys, docqa; print(' '.join(m for m in ('torch', 'sentence_transformers', 'faiss', 'gradio',"
            " 'bm25s', 'pysbd') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names():
    assert set(docqa.__all__) >= {"ask", "Assistant", "Answer", "Passage", "Settings", "DocQAError"}


def test_follow_up_uses_history(seed_assistant):
    first = seed_assistant.ask("What defense spending target did he propose?")
    history = [{"role": "user", "content": first.question}, {"role": "assistant", "content": first.markdown}]
    follow = seed_assistant.ask("How does that compare with the current one?", history=history)
    assert follow.found
    assert "defense spending target" in follow.query and "propose" not in follow.query  # the subject, not the question
    assert "2 percent" in follow.passages[0].text


def test_standalone_question_ignores_history(seed_assistant):
    history = [{"role": "user", "content": "What defense spending target did he propose?"},
               {"role": "assistant", "content": "..."}]
    answer = seed_assistant.ask("Where did Hegseth address NATO allies?", history=history)
    assert answer.query == answer.question


def test_follow_up_without_history_searches_the_question_alone(seed_assistant):
    answer = seed_assistant.ask("How does that compare with the current one?")
    assert answer.query == answer.question


@pytest.mark.parametrize("greeting", ["hello", "Hi there!", "thanks", "Thank you very much."])
def test_small_talk_gets_a_reply_without_sources(seed_assistant, greeting):
    answer = seed_assistant.ask(greeting)
    assert answer.kind == "chat" and not answer.found and answer.passages == []
    assert answer.markdown and "[1]" not in answer.markdown


@pytest.mark.parametrize("question", ["", "   ", "\u200b\u200b", "\x00\x01", 42, None])
def test_empty_or_non_text_questions_are_rejected(seed_assistant, question):
    with pytest.raises(QuestionError):
        seed_assistant.ask(question)


def test_over_long_question_is_rejected_with_the_limit(seed_assistant):
    with pytest.raises(QuestionError, match="2,000"):
        seed_assistant.ask("why " * 1000)


@pytest.mark.parametrize("history", ["not a list", [{"role": "robot", "content": "x"}], [{"role": "user"}],
                                     [["user", "hi"]], [{"role": "user", "content": 5}]])
def test_malformed_history_is_rejected(seed_assistant, history):
    with pytest.raises(HistoryError):
        seed_assistant.ask("What about troops?", history=history)


@pytest.mark.parametrize("top_k", [0, -1, 51, 2.5, True])
def test_bad_top_k_is_a_value_error(seed_assistant, top_k):
    with pytest.raises(ValueError, match="top_k"):
        seed_assistant.ask("What about troops?", top_k=top_k)


def test_missing_sources_folder_is_a_clear_error_on_first_use(tmp_path: Path):
    assistant = Assistant(sources=tmp_path / "nope", index_dir=tmp_path / "index")  # loads on first use
    with pytest.raises(SourceError, match="not found"):
        assistant.ask("anything?")


def test_module_level_ask_uses_environment_folders(seed_dir: Path, tmp_path: Path, embedder, monkeypatch):
    monkeypatch.setenv("DOCQA_SOURCES", str(seed_dir))
    monkeypatch.setenv("DOCQA_INDEX", str(tmp_path / "idx"))
    assistant = docqa.default_assistant()
    answer = docqa.ask("What did Hegseth say about Article 5?", top_k=1)
    assert answer.found and len(answer.passages) == 1
    assert (tmp_path / "idx" / "CURRENT").is_file()
    assert docqa.default_assistant() is assistant


def test_committed_index_is_fresh_for_the_committed_seed():
    """The repository ships index/ built from seeds/, so a fresh clone answers without rebuilding."""
    from docqa import Settings
    from docqa.indexing import stale_reasons
    from docqa.sources import scan_sources
    from docqa.store import read_index

    stored = read_index(ROOT / "index")
    assert stale_reasons(stored.manifest, scan_sources(ROOT / "seeds"), Settings()) == []
