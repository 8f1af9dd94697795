"""The docqa command as a user runs it: real subprocesses, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "docqa.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder holding seeds/ and a built index/, used as the CLI's working directory."""
    import shutil

    from conftest import SEEDS

    work = tmp_path_factory.mktemp("cli")
    shutil.copytree(SEEDS, work / "seeds")
    result = run("index", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "indexed" in result.stdout
    return work


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"], ["ask", "--help"], ["eval", "--help"],
                                  ["serve", "--help"]])
def test_help_works_without_heavy_imports(args):
    result = run(*args)
    assert result.returncode == 0 and "usage:" in result.stdout


def test_index_is_up_to_date_on_second_run(workdir):
    result = run("index", cwd=workdir)
    assert result.returncode == 0 and "up to date" in result.stdout


def test_ask_prints_the_cited_passage(workdir):
    result = run("ask", "What did Hegseth say about Article 5?", cwd=workdir)
    assert result.returncode == 0, result.stderr
    first_source = result.stdout.split("Sources:")[1]
    assert "[1]" in result.stdout and "¶" in first_source
    assert "»" in first_source and "Article 5" in first_source.split("[2]")[0]


def test_ask_json_has_exact_offsets(workdir):
    result = run("ask", "What did Hegseth say about Article 5?", "--json", "--top-k", "2", cwd=workdir)
    data = json.loads(result.stdout)
    text = next((workdir / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    assert data["found"] is True and 1 <= len(data["passages"]) <= 2
    for p in data["passages"]:
        assert text[p["start"] : p["end"]] == p["text"]


def test_ask_off_topic_says_the_document_does_not_say(workdir):
    result = run("ask", "What is the capital of France?", cwd=workdir)
    assert result.returncode == 0 and "doesn't say" in result.stdout and "Sources" not in result.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["ask", ""], 1, "empty"),
    (["ask", "x" * 3000], 1, "limit"),
    (["ask", "troops", "--top-k", "0"], 2, "top_k"),
])
def test_bad_questions_fail_with_one_line(workdir, args, code, message):
    result = run(*args, cwd=workdir)
    assert result.returncode == code
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_missing_sources_folder_exits_non_zero(tmp_path: Path):
    result = run("ask", "anything", cwd=tmp_path)
    assert result.returncode == 1 and "sources folder not found" in result.stderr


def test_eval_prints_the_figures(workdir):
    result = run("eval", "--gold", str(Path(__file__).parents[1] / "src/docqa/data/seed_gold.json"), "--json",
                 cwd=workdir)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("recall_at_1", "recall_at_3", "mrr", "highlight_at_1", "off_topic_abstained",
                "false_abstention", "follow_up_accuracy"):
        assert 0.0 <= figures[key] <= 1.0
    assert figures["questions"] >= 30


def test_add_list_remove_round_trip(tmp_path: Path):
    (tmp_path / "seeds").mkdir()
    note = tmp_path / "owls.md"
    note.write_text("# Owls\n\nBarn owls hunt voles at night over open fields.\n", encoding="utf-8")
    assert run("add", str(note), cwd=tmp_path).returncode == 0
    listed = json.loads(run("list", "--json", cwd=tmp_path).stdout)
    assert [(d["name"], d["passages"]) for d in listed] == [("owls.md", 2)]
    again = run("add", str(note), cwd=tmp_path)
    assert again.returncode == 0 and "0 document(s) embedded" in again.stdout
    asked = json.loads(run("ask", "What do barn owls hunt?", "--json", cwd=tmp_path).stdout)
    assert asked["found"] and asked["passages"][0]["source"] == "owls.md"
    assert run("remove", "owls.md", cwd=tmp_path).returncode == 0
    assert json.loads(run("list", "--json", cwd=tmp_path).stdout) == []
    missing = run("remove", "owls.md", cwd=tmp_path)
    assert missing.returncode == 1 and "no document named 'owls.md'" in missing.stderr


def test_add_refuses_a_bad_file_with_one_line(tmp_path: Path):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "fake.pdf").write_bytes(b"this is not a pdf")
    result = run("add", str(tmp_path / "fake.pdf"), cwd=tmp_path)
    assert result.returncode == 1 and "fake.pdf" in result.stderr and "Traceback" not in result.stderr
    assert list((tmp_path / "seeds").iterdir()) == []


@pytest.mark.parametrize("args", [["ask", "troops", "--top-k", "abc"], [], ["frobnicate"]])
def test_usage_errors_are_one_line(args):
    result = run(*args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "error:" in result.stderr


def test_closed_pipe_is_not_a_traceback(workdir):
    proc = subprocess.Popen([sys.executable, "-m", "docqa.cli", "ask", "What did Hegseth say about Article 5?"],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -0`: the reader is gone before docqa writes
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err
