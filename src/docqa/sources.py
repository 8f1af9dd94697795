"""Sources: files -> Documents (one reader per format), with a title, paragraphs and, for PDFs, pages.

Offsets always refer to `Document.text`: for .txt and .md that is the file exactly as
`open(path, encoding="utf-8").read()` gives it; for .html and .pdf it is the extracted text.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError
from .types import Document, Paragraph

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


@dataclass(frozen=True)
class SourceFile:
    """A document file found in the sources folder, identified by the sha256 of its bytes."""

    name: str  # path relative to the sources folder, with forward slashes
    path: Path
    sha256: str
    size: int


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_sources(folder: str | Path) -> list[Path]:
    """The document files under `folder` with a known suffix, sorted (hidden files and folders skipped)."""
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(f"sources folder not found: {root} (create it, or set DOCQA_SOURCES)")
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in READERS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def scan_sources(folder: str | Path) -> dict[str, SourceFile]:
    """Every document file under `folder` by name, with its hash (nothing is parsed)."""
    root = Path(folder)
    out = {}
    for path in find_sources(root):
        try:
            out[path.relative_to(root).as_posix()] = SourceFile(
                path.relative_to(root).as_posix(), path, file_sha256(path), path.stat().st_size
            )
        except OSError as exc:
            raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return out


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


def load_document(path: Path, root: Path, max_bytes: int | None = None) -> Document:
    """Read one source file into a Document; SourceError names the file and the reason."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SourceError(f"{path.name}: unsupported type {path.suffix or '(none)'}; "
                          f"docqa reads {', '.join(sorted(READERS))}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise SourceError(f"{path.name}: the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise SourceError(f"{path.name}: {len(data):,} bytes is over the {max_bytes:,}-byte limit")
    text, title, pages = reader(path, data)
    if not text.strip():
        raise SourceError(f"{path.name}: no text to index")
    return Document(
        name=path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name,
        title=title or make_title(text, path.stem),
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        paragraphs=split_paragraphs(text),
        pages=pages,
    )


Reader = Callable[[Path, bytes], tuple[str, str | None, tuple[tuple[int, int], ...] | None]]


def _read_text(path: Path, data: bytes) -> tuple[str, str | None, None]:
    if b"\x00" in data[:8192]:
        raise SourceError(f"{path.name}: looks binary (NUL bytes), not a text document")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path.name}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    # Universal newlines, exactly as open(path, encoding="utf-8").read() gives the text.
    return path.read_text(encoding="utf-8"), None, None


def _read_html(path: Path, data: bytes) -> tuple[str, str | None, None]:
    if b"\x00" in data[:8192]:
        raise SourceError(f"{path.name}: looks binary (NUL bytes), not HTML")
    import trafilatura

    html = data.decode("utf-8", errors="replace")
    body = trafilatura.extract(html, output_format="txt", include_comments=False, include_tables=True,
                               favor_recall=True)
    if not body or not body.strip():
        raise SourceError(f"{path.name}: no main text found in the HTML (only scripts, styles or navigation?)")
    metadata = trafilatura.extract_metadata(html)
    title = (metadata.title if metadata and metadata.title else None) or path.stem
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if lines and lines[0] == title:  # the page's heading is usually the title: keep it once, as ¶1
        lines = lines[1:]
    return "\n\n".join([title, *lines]), title, None


def _read_pdf(path: Path, data: bytes) -> tuple[str, str | None, tuple[tuple[int, int], ...]]:
    if not data.lstrip().startswith(b"%PDF-"):
        raise SourceError(f"{path.name}: not a PDF (no %PDF- header)")
    import io

    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError(f"{path.name}: the PDF is encrypted; save an unencrypted copy and add that")
        pages_text = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except SourceError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, NotImplementedError) as exc:
        raise SourceError(f"{path.name}: the PDF is damaged or unreadable ({type(exc).__name__})") from exc
    if not any(pages_text):
        raise SourceError(f"{path.name}: the PDF has no extractable text (scanned images?); run OCR first")
    parts: list[str] = []
    pages: list[tuple[int, int]] = []
    cursor = 0
    for text in pages_text:
        start = cursor
        parts.append(text)
        cursor += len(text)
        pages.append((start, cursor))
        parts.append("\n\n")
        cursor += 2
    full = "".join(parts[:-1])
    return full, (str(meta_title).strip() or None) if meta_title else None, tuple(pages)


READERS: dict[str, Reader] = {".txt": _read_text, ".md": _read_text, ".html": _read_html, ".htm": _read_html,
                              ".pdf": _read_pdf}
SUFFIXES = tuple(READERS)
