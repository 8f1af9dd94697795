from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from docqa.errors import SourceError
from docqa.settings import Settings
from docqa.sources import file_sha256, find_sources, load_document, split_paragraphs

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


# --- Files that must not be read: links out of the folder, FIFOs, devices, sockets ---------------------------


def test_links_leading_outside_the_folder_are_skipped_with_a_warning(tmp_path: Path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("root:x:0:0", encoding="utf-8")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "real.txt").write_text("Real\n\nA document.", encoding="utf-8")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "secret.txt").symlink_to(outside / "secret.txt")
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    (root / "alias.txt").symlink_to(root / "real.txt")  # inside the folder: fine
    with caplog.at_level("WARNING", logger="docqa"):
        found = [p.name for p in find_sources(root)]
    assert found == ["alias.txt", "real.txt"]
    assert "passwd.txt: a link to a file outside the sources folder" in caplog.text
    assert "secret.txt: a link" in caplog.text and "dangling.md" in caplog.text


def test_fifos_sockets_and_devices_are_skipped_not_opened(tmp_path: Path, caplog):
    import os
    import socket

    (tmp_path / "ok.txt").write_text("Fine\n\nText.", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.txt")  # opening it for reading would block until a writer comes: forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.md"))
    (tmp_path / "zero.txt").symlink_to("/dev/zero")  # outside anyway; a device that never ends
    with caplog.at_level("WARNING", logger="docqa"):
        assert [p.name for p in find_sources(tmp_path)] == ["ok.txt"]
    sock.close()
    assert "pipe.txt: not a regular file" in caplog.text and "sock.md: not a regular file" in caplog.text
    with pytest.raises(SourceError, match="not a regular file"):
        load_document(tmp_path / "pipe.txt", tmp_path)  # returns at once: the FIFO is opened without blocking
    with pytest.raises(SourceError, match="not a regular file"):
        file_sha256(tmp_path / "pipe.txt")  # as when a file is swapped for a FIFO between scan and hash


# --- Encodings ------------------------------------------------------------------------------------------------


def test_bom_is_not_part_of_the_title(tmp_path: Path):
    (tmp_path / "bom.md").write_bytes("\ufeff# Field notes\n\nBody.\n".encode())
    doc = load_document(tmp_path / "bom.md", tmp_path)
    assert doc.title == "Field notes"
    assert doc.text == open(tmp_path / "bom.md", encoding="utf-8").read()  # offsets still refer to this text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_bom_is_read_with_exact_offsets(tmp_path: Path, encoding: str):
    content = "Herons\r\n\r\nThe grey heron wades in shallow water.\r\n\r\nIt nests in colonies.\r\n"
    data = content.encode(encoding)
    if encoding != "utf-16":  # the plain codec writes its own BOM; the -le/-be ones need it spelled out
        data = "\ufeff".encode(encoding) + data
    (tmp_path / "herons.txt").write_bytes(data)
    doc = load_document(tmp_path / "herons.txt", tmp_path)
    assert doc.text == open(tmp_path / "herons.txt", encoding="utf-16").read()
    assert doc.title == "Herons"
    assert [doc.text[p.start : p.end] for p in doc.paragraphs][1] == "The grey heron wades in shallow water."


def test_utf16_without_a_bom_is_still_binary(tmp_path: Path):
    (tmp_path / "x.txt").write_bytes("no bom here".encode("utf-16-le"))
    with pytest.raises(SourceError, match="binary"):
        load_document(tmp_path / "x.txt", tmp_path)


# --- Bounded PDF reading ---------------------------------------------------------------------------------------


def shared_stream_pdf(path: Path, pages: int, lines: int) -> Path:
    """A PDF whose `pages` pages all draw one compressed content stream of `lines` text lines: small on disk,
    and every page costs a full parse of the stream."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    ops = "".join(f"BT /F1 9 Tf 20 {700 - i % 600} Td ({' '.join(words[(i + k) % 10] for k in range(8))}) Tj ET\n"
                  for i in range(lines))
    writer = PdfWriter()
    stream = DecodedStreamObject()
    stream.set_data(ops.encode())
    contents = writer._add_object(stream.flate_encode())
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    resources = writer._add_object(DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}))
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Contents")] = contents
        page[NameObject("/Resources")] = resources
    with path.open("wb") as f:
        writer.write(f)
    return path


def test_pdf_sharing_one_stream_across_pages_is_refused_by_the_character_bound(tmp_path: Path):
    pdf = shared_stream_pdf(tmp_path / "shared.pdf", pages=400, lines=2000)  # ~90 KB; 47 M characters of text
    assert pdf.stat().st_size < 200_000
    with pytest.raises(SourceError, match=r"shared\.pdf: over 20,971,520 characters of text by page \d+, the limit"):
        load_document(pdf, tmp_path)


def test_pdf_that_reads_too_long_is_abandoned(tmp_path: Path):
    from dataclasses import replace

    pdf = shared_stream_pdf(tmp_path / "slow.pdf", pages=1, lines=30_000)  # one page: several seconds
    with pytest.raises(SourceError, match=r"^slow\.pdf: reading its text took over 0\.5 s, the limit$"):
        load_document(pdf, tmp_path, settings=replace(Settings(), max_pdf_seconds=0.5))


def test_pdf_page_bound(tmp_path: Path):
    from dataclasses import replace

    from test_documents import make_pdf

    pdf = make_pdf(tmp_path / "ten.pdf", [f"Page {n} text." for n in range(10)])
    with pytest.raises(SourceError, match="ten.pdf: 10 pages is over the 5-page limit"):
        load_document(pdf, tmp_path, settings=replace(Settings(), max_pdf_pages=5))
    assert len(load_document(pdf, tmp_path).pages) == 10


@pytest.mark.slow  # one page of it takes pypdf about 30 s; all 400 pages, in-process, about 3 hours
def test_the_reported_shared_stream_pdf_is_refused_within_the_bounds(tmp_path: Path):
    import resource
    import time

    pdf = shared_stream_pdf(tmp_path / "shared.pdf", pages=400, lines=35_000)  # 150 KB; 2.8 MB stream decoded
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"^shared\.pdf: (over 20,971,520 characters|reading its text took over)"):
        load_document(pdf, tmp_path)
    print(f"\nshared-stream PDF ({pdf.stat().st_size:,} bytes, 400 pages) refused in "
          f"{time.perf_counter() - started:.1f} s; reader peak RSS "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024} MB")


def test_pdf_reader_over_its_memory_bound_is_refused(tmp_path: Path):
    from dataclasses import replace

    pdf = shared_stream_pdf(tmp_path / "big.pdf", pages=400, lines=5000)  # 99 M characters of text in all
    settings = replace(Settings(), max_document_chars=10**9, max_pdf_memory_bytes=160 * 1024 * 1024)
    with pytest.raises(SourceError, match=r"^big\.pdf: it needs more memory than the limit$"):
        load_document(pdf, tmp_path, settings=settings)
