from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from docqa.errors import SourceError
from docqa.sources import find_sources, load_document, split_paragraphs

from conftest import SEED_FILE, SEEDS


# The seed article as the project received it (the shared copy's sha256): checked everywhere, with no other file.
SEED_SHA256 = "3b50ae729ecea85572b12bc556a4e1f4aa8e8918023e64896b95f6baad41f9fa"
SHARED_SEED = Path("shared") / "seeds" / "000_5107ab0a8bf53ad8.txt"


def test_seed_is_byte_identical_to_the_article_as_received():
    assert hashlib.sha256(SEED_FILE.read_bytes()).hexdigest() == SEED_SHA256


def test_seed_is_byte_identical_to_shared_copy_when_there_is_one():
    """The shared copy, where a checkout has one in a folder above it, must agree with the committed hash too."""
    copies = [parent / SHARED_SEED for parent in Path(__file__).resolve().parents if (parent / SHARED_SEED).is_file()]
    for copy in copies:
        assert copy.read_bytes() == SEED_FILE.read_bytes(), copy


def test_seed_document_title_and_paragraphs():
    doc = load_document(SEED_FILE, SEEDS)
    assert doc.name == SEED_FILE.name
    assert doc.title == doc.text.splitlines()[0]
    assert [p.number for p in doc.paragraphs] == list(range(1, len(doc.paragraphs) + 1))
    assert doc.text[doc.paragraphs[0].start : doc.paragraphs[0].end] == doc.title  # the headline is ¶1
    for p in doc.paragraphs:
        block = doc.text[p.start : p.end]
        assert block == block.strip() and "\n\n" not in block


def test_offsets_match_what_open_read_gives(tmp_path: Path):
    (tmp_path / "crlf.txt").write_bytes(b"Title line\r\n\r\nFirst para.\r\nStill first.\r\n\r\n  Second para.  \r\n")
    doc = load_document(tmp_path / "crlf.txt", tmp_path)
    text = open(tmp_path / "crlf.txt", encoding="utf-8").read()
    assert doc.text == text
    assert [text[p.start : p.end] for p in doc.paragraphs] == ["Title line", "First para.\nStill first.", "Second para."]


def test_markdown_title_strips_hashes(tmp_path: Path):
    (tmp_path / "notes.md").write_text("# My notes\n\nBody text here.\n", encoding="utf-8")
    assert load_document(tmp_path / "notes.md", tmp_path).title == "My notes"


def test_split_paragraphs_handles_whitespace_only_lines():
    text = "a\n \t\nb\n\n\n\nc"
    assert [text[p.start : p.end] for p in split_paragraphs(text)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"   \n\n  ", "empty"), (b"\x00\x01binary\x00", "binary"), (b"caf\xe9 latin-1", "UTF-8")],
)
def test_unreadable_documents_get_specific_errors(tmp_path: Path, content: bytes, message: str):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(SourceError, match=message) as info:
        load_document(tmp_path / "bad.txt", tmp_path)
    assert "bad.txt" in str(info.value)


def test_find_sources_skips_hidden_and_other_types(tmp_path: Path):
    for name in ("b.txt", "a.md", ".hidden.txt", "image.png"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.txt").write_text("x", encoding="utf-8")
    assert [p.name for p in find_sources(tmp_path)] == ["a.md", "b.txt"]


def test_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SourceError, match="sources folder not found"):
        find_sources(tmp_path / "nope")
