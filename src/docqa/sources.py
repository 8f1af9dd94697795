"""Sources: files -> Documents (one reader per format), with a title, paragraphs and, for PDFs, pages.

Offsets always refer to `Document.text`: for .txt and .md that is the file exactly as
`open(path, encoding="utf-8").read()` gives it; for .html and .pdf it is the extracted text.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import SourceError, SourcesFolderError
from .settings import Settings
from .types import Document, Paragraph

log = logging.getLogger("docqa")

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


@dataclass(frozen=True)
class SourceFile:
    """A document file found in the sources folder, identified by the sha256 of its bytes."""

    name: str  # path relative to the sources folder, with forward slashes
    path: Path
    sha256: str
    size: int


def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes (SourceError for a FIFO, socket or device: never blocks)."""
    digest = hashlib.sha256()
    with _open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_sources(folder: str | Path) -> list[Path]:
    """The document files under `folder` with a known suffix, sorted. Hidden files and folders are skipped, and
    so, with a warning, are links that lead outside the folder and anything that is not a regular file (a FIFO
    would block the reader forever; a device never ends)."""
    root = Path(folder)
    if not root.is_dir():
        raise SourcesFolderError(root)
    real_root = root.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in READERS or any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        if path.is_dir() and not path.is_symlink():  # a folder named like a document
            continue
        why = _unusable(path, real_root)
        if why:
            log.warning("skipping %s: %s", path.relative_to(root).as_posix(), why)
        else:
            found.append(path)
    return found


def _unusable(path: Path, real_root: Path) -> str | None:
    """Why `path` must not be read as a source, or None."""
    try:
        if not path.resolve().is_relative_to(real_root):
            return "a link to a file outside the sources folder"
        mode = path.stat().st_mode
    except (OSError, RuntimeError) as exc:  # a dangling or looping link
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device)"
    return None


# A file whose mtime is this close to the moment its stat is recorded may still change within the same
# timestamp tick (ext4 stamps are about 4 ms coarse): its mtime is not recorded, so readers compare text.
RACY_MTIME_NS = 2_000_000_000


def stat_key(st: os.stat_result, now_ns: int | None = None) -> tuple[int, int | None]:
    """(size, mtime_ns) of a file, with the mtime left out (None) when it is too recent to be trusted."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return st.st_size, (st.st_mtime_ns if now_ns - st.st_mtime_ns > RACY_MTIME_NS else None)


def scan_sources(folder: str | Path, known: Mapping[str, tuple[int, int | None, str]] | None = None
                 ) -> dict[str, SourceFile]:
    """Every document file under `folder` by name, with its hash (nothing is parsed). `known` gives, by name, the
    (size, mtime_ns, sha256) recorded when a file was last read: a file whose size and mtime still match is not
    read again (as git does; an mtime too recent to prove anything was recorded as None and never matches)."""
    root = Path(folder)
    known = known or {}
    out = {}
    for path in find_sources(root):
        name = path.relative_to(root).as_posix()
        try:
            st = path.stat()
            size, mtime_ns, sha256 = known.get(name, (-1, None, ""))
            if mtime_ns is None or stat_key(st) != (size, mtime_ns):
                sha256 = file_sha256(path)
            out[name] = SourceFile(name, path, sha256, st.st_size)
        except SourceError as exc:  # swapped for a FIFO or device since find_sources looked
            log.warning("skipping %s", exc)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return out


# Characters a terminal acts on or that reorder what it shows: C0 and C1 controls (ESC starts window-title, screen
# clear, OSC 8 link and OSC 52 clipboard sequences), DEL, and the bidi embeddings, overrides and isolates.
_UNSAFE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPED = {c: f"\\u{c:04x}" for c in _UNSAFE} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}
_BLANKED = {c: "\ufffd" for c in _UNSAFE if chr(c) not in "\n\t"}


def show_name(name: str) -> str:
    """A file name safe to print: control and bidi characters escaped (a newline can't split a listing,
    an RTL override can't show a fake extension)."""
    return name.translate(_ESCAPED)


def show_names(names: list[str], limit: int = 10) -> str:
    """Up to `limit` names, safely shown, then how many more."""
    shown = ", ".join(show_name(n) for n in names[:limit]) or "none"
    return f"{shown} and {len(names) - limit:,} more" if len(names) > limit else shown


def terminal_text(text: str) -> str:
    """Document text safe for a terminal, the same length (offsets still hold): every control and bidi character
    but newline and tab becomes U+FFFD."""
    return text.translate(_BLANKED)


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
    for line in text.lstrip("\ufeff").splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def load_document(
    path: Path, root: Path, max_bytes: int | None = None, settings: Settings | None = None
) -> Document:
    """Read one source file into a Document; SourceError names the file and the reason. `settings` bounds
    the work (PDF pages, characters and seconds); `max_bytes` the file's size."""
    settings = settings or Settings()
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SourceError(f"{path.name}: unsupported type {path.suffix or '(none)'}; "
                          f"docqa reads {', '.join(sorted(READERS))}")
    data = _read_bytes(path)
    if not data.strip():
        raise SourceError(f"{path.name}: the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise SourceError(f"{path.name}: {len(data):,} bytes is over the {max_bytes:,}-byte limit")
    text, title, pages = reader(path, data, settings)
    if len(text) > settings.max_document_chars:
        raise SourceError(f"{path.name}: {len(text):,} characters of text is over the "
                          f"{settings.max_document_chars:,}-character limit")
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


def _open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file. Opening does not block (a FIFO would wait for a writer
    forever) and the type is checked on the open file, so a file swapped for a FIFO or device after the folder
    was scanned is refused."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise SourceError(f"{path.name}: not a regular file (a FIFO, socket or device)")
    return f


def _read_bytes(path: Path) -> bytes:
    try:
        with _open_regular(path) as f:
            return f.read()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc


Reader = Callable[[Path, bytes, Settings], tuple[str, str | None, tuple[tuple[int, int], ...] | None]]


def _read_text(path: Path, data: bytes, settings: Settings) -> tuple[str, str | None, None]:
    """UTF-8, or UTF-16 with its byte-order mark, decoded with universal newlines exactly as
    `open(path, encoding=...).read()` gives it (offsets refer to that text)."""
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8"
    if encoding == "utf-8" and b"\x00" in data[:8192]:
        raise SourceError(f"{path.name}: looks binary (NUL bytes), not a text document")
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding == "utf-8" else "UTF-16"
        raise SourceError(f"{path.name}: not {name} text (bad byte at offset {exc.start})") from exc
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding).read(), None, None


def _read_html(path: Path, data: bytes, settings: Settings) -> tuple[str, str | None, None]:
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


def _read_pdf(path: Path, data: bytes, settings: Settings) -> tuple[str, str | None, tuple[tuple[int, int], ...]]:
    if not data.lstrip().startswith(b"%PDF-"):
        raise SourceError(f"{path.name}: not a PDF (no %PDF- header)")
    from .pdf_extraction import PdfRefused, extract_pdf

    try:
        pdf = extract_pdf(data, settings.max_pdf_pages, settings.max_document_chars, settings.max_pdf_seconds,
                          settings.max_pdf_memory_bytes)
    except PdfRefused as exc:
        raise SourceError(f"{path.name}: {exc}") from exc
    if not any(pdf.pages):
        raise SourceError(f"{path.name}: the PDF has no extractable text (scanned images?); run OCR first")
    parts: list[str] = []
    pages: list[tuple[int, int]] = []
    cursor = 0
    for text in pdf.pages:
        start = cursor
        parts.append(text)
        cursor += len(text)
        pages.append((start, cursor))
        parts.append("\n\n")
        cursor += 2
    return "".join(parts[:-1]), pdf.title, tuple(pages)


READERS: dict[str, Reader] = {".txt": _read_text, ".md": _read_text, ".html": _read_html, ".htm": _read_html,
                              ".pdf": _read_pdf}
