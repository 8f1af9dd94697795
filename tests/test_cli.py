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


def test_missing_sources_folder_says_how_to_point_at_the_folders(tmp_path: Path):
    result = run("ask", "anything", cwd=tmp_path)  # as when run from outside the repository
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("docqa: error: sources folder not found: seeds")
    for hint in ("--sources", "DOCQA_SOURCES", "--index", "DOCQA_INDEX", str(tmp_path)):
        assert hint in result.stderr


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
    assert run("remove", "owls.md", "--yes", cwd=tmp_path).returncode == 0
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


def _folder(tmp_path: Path, documents: dict[str, str]) -> Path:
    (tmp_path / "seeds").mkdir()
    for name, text in documents.items():
        (tmp_path / "seeds" / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_removing_the_last_document_needs_yes_and_an_empty_folder_says_so(tmp_path: Path):
    work = _folder(tmp_path, {"owls.md": "# Owls\n\nBarn owls hunt voles at night.\n"})
    refused = run("remove", "owls.md", cwd=work)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "last document" in refused.stderr and "--yes" in refused.stderr
    assert (work / "seeds" / "owls.md").exists()
    removed = run("remove", "owls.md", "--yes", cwd=work)
    assert removed.returncode == 0 and "removed owls.md" in removed.stdout
    assert not (work / "seeds" / "owls.md").exists()
    for args in (["ask", "What do owls hunt?"], ["ask", "What do owls hunt?", "--json"]):
        asked = run(*args, cwd=work)
        assert asked.returncode == 1 and asked.stdout == "" and asked.stderr.count("\n") == 1
        assert "no documents in seeds; add some with `docqa add" in asked.stderr
    listed = run("list", cwd=work)
    assert listed.returncode == 0 and listed.stdout == "" and "no documents in seeds" in listed.stderr


def test_remove_of_one_of_several_needs_no_confirmation(tmp_path: Path):
    work = _folder(tmp_path, {"a.md": "# A\n\nAlpha text.\n", "b.md": "# B\n\nBravo text.\n"})
    result = run("remove", "a.md", cwd=work)
    assert result.returncode == 0 and "removed a.md" in result.stdout


def test_add_names_what_it_added_and_what_it_skipped(tmp_path: Path):
    work = _folder(tmp_path, {"a.md": "# A\n\nAlpha text.\n"})
    (tmp_path / "owls.md").write_text("# Owls\n\nBarn owls hunt voles at night.\n", encoding="utf-8")
    (tmp_path / "copy.md").write_text("# A\n\nAlpha text.\n", encoding="utf-8")
    result = run("add", str(tmp_path / "owls.md"), str(tmp_path / "copy.md"), cwd=work)
    assert result.returncode == 0, result.stderr
    assert "added owls.md: 2 passages" in result.stdout
    assert f"skipped {tmp_path / 'copy.md'}: its content is already indexed as a.md" in result.stdout
    (tmp_path / "owls.md").write_text("# Owls\n\nTawny owls call at dusk.\n", encoding="utf-8")
    again = run("add", str(tmp_path / "owls.md"), cwd=work)
    assert "updated owls.md: 2 passages" in again.stdout


HOSTILE = ("Beacons\n\nThe harbour beacon \x1b]0;pwned-title\x07flashes green every four seconds. "
           "\x1b[2J\x1b[HThe outer beacon \x1b]8;;https://evil.example/\x1b\\flashes red\x1b]8;;\x1b\\ at night. "
           "\x1b]52;c;cm0gLXJmIH4=\x07Keepers log every flash. \x9b31mC1 too.\n")


def test_terminal_output_has_no_escape_sequences_from_documents(tmp_path: Path):
    work = _folder(tmp_path, {"beacons.txt": HOSTILE})
    plain = run("ask", "How often does the harbour beacon flash?", "--top-k", "1", cwd=work)
    assert plain.returncode == 0, plain.stderr
    assert "flashes green every four seconds" in plain.stdout
    assert not any(c in plain.stdout for c in "\x1b\x07\x9b")
    as_json = json.loads(run("ask", "How often does the harbour beacon flash?", "--json", "--top-k", "1",
                             cwd=work).stdout)
    passage = as_json["passages"][0]
    assert "\x1b]0;pwned-title\x07" in passage["text"]  # --json keeps the document's text exactly
    assert HOSTILE[passage["start"] : passage["end"]] == passage["text"]


def test_file_names_with_newlines_and_bidi_overrides_are_shown_safely(tmp_path: Path):
    work = _folder(tmp_path, {"two\nlines.md": "# Two\n\nA name with a newline.\n",
                              "report\u202etxt.md": "# Spoof\n\nA name that shows a fake extension.\n"})
    listed = run("list", cwd=work)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and "\u202e" not in listed.stdout
    assert any(line.startswith("two\\nlines.md\t") for line in lines)
    assert any(line.startswith("report\\u202etxt.md\t") for line in lines)
    names = {d["name"] for d in json.loads(run("list", "--json", cwd=work).stdout)}
    assert names == {"two\nlines.md", "report\u202etxt.md"}  # JSON keeps the real names


def test_a_missing_manifest_is_reported_once(tmp_path: Path):
    work = _folder(tmp_path, {"a.md": "# A\n\nAlpha text.\n"})
    assert run("index", cwd=work).returncode == 0
    version = (work / "index" / "CURRENT").read_text().strip()  # the live version folder (docqa.store)
    (work / "index" / version / "manifest.json").unlink()
    result = run("ask", "What is alpha?", "--json", cwd=work)  # rebuilds it on the way
    assert result.returncode == 0, result.stderr
    warning = f"docqa: index/{version}/manifest.json: missing, so the index is incomplete (run `docqa index`)"
    assert [line for line in result.stderr.splitlines() if "manifest.json" in line] == [warning]  # not twice


def test_top_k_default_comes_from_settings():
    import inspect

    import docqa
    from docqa.cli import build_parser
    from docqa.settings import Settings

    assert inspect.signature(docqa.ask).parameters["top_k"].default is None  # Assistant fills in Settings.top_k
    assert build_parser().parse_args(["ask", "q"]).top_k is None
    assert f"default {Settings.top_k}" in run("ask", "--help").stdout
