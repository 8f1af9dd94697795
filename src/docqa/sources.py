"""Sources: files -> Documents, with a title and paragraph offsets into the decoded text."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .errors import SourceError
from .types import Document, Paragraph

SUFFIXES = (".txt", ".md")
_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


def find_sources(folder: str | Path) -> list[Path]:
    """The readable documents under `folder`, sorted by relative path (hidden files skipped)."""
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(f"sources folder not found: {root} (create it, or set DOCQA_SOURCES)")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: Path) -> str:
    """A text file decoded as UTF-8 with universal newlines (what `open(path, encoding='utf-8').read()` gives)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if b"\x00" in data[:8192]:
        raise SourceError(f"{path}: looks binary (NUL bytes), not a text document")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    return path.read_text(encoding="utf-8")


def split_paragraphs(text: str) -> tuple[Paragraph, ...]:
    """Blank-line separated blocks, numbered from 1, offsets trimmed of surrounding whitespace."""
    paragraphs: list[Paragraph] = []
    cursor = 0
    for match in [*_BLANK_LINE.finditer(text), None]:
        end = match.start() if match else len(text)
        block = text[cursor:end]
        if block.strip():
            lead = len(block) - len(block.lstrip())
            trail = len(block) - len(block.rstrip())
            paragraphs.append(Paragraph(len(paragraphs) + 1, cursor + lead, end - trail))
        if match:
            cursor = match.end()
    return tuple(paragraphs)


def make_title(text: str, fallback: str) -> str:
    """The first non-empty line (a Markdown heading's text), else the file name."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def load_document(path: Path, root: Path) -> Document:
    """Read one source file into a Document."""
    text = read_text(path)
    if not text.strip():
        raise SourceError(f"{path}: the document is empty")
    name = path.relative_to(root).as_posix()
    return Document(
        name=name,
        title=make_title(text, path.stem),
        text=text,
        sha256=file_sha256(path),
        paragraphs=split_paragraphs(text),
    )
