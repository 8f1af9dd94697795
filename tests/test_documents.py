"""Your own documents: txt, md, html and pdf; add, update, remove; page-accurate citations; bad files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docqa import Assistant, SourceError
from docqa.errors import EmptySourcesError
from docqa.sources import load_document
from docqa.store import MANIFEST, version_dir


def make_pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


HTML = """<!doctype html><html><head><title>Lighthouse keeping</title>
<script>var tracking = "should never be indexed";</script><style>body { color: red }</style></head>
<body><nav><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/shop">Shop</a></nav>
<article><h1>Lighthouse keeping</h1>
<p>The keeper climbed the tower every evening at dusk to light the great lamp and wind its clockwork.</p>
<p>Paraffin lamps were replaced by electric lamps in the twentieth century, ending the nightly climb.</p>
</article><footer>Copyright 2026 Example Press. All rights reserved.</footer></body></html>"""


@pytest.fixture
def library(tmp_path: Path, embedder) -> Assistant:
    sources = tmp_path / "docs"
    sources.mkdir()
    return Assistant(sources=sources, index_dir=tmp_path / "index", embedder=embedder)


def test_pdf_pages_are_kept_and_cited(tmp_path: Path, library: Assistant):
    pdf = make_pdf(tmp_path / "orchard.pdf", [
        "Orchard handbook\n\nApple trees are pruned in late winter while they are dormant.",
        "Pears ripen off the tree and should be picked while still firm and green.",
    ])
    library.add([pdf])
    answer = library.ask("When should pears be picked?")
    assert answer.found
    p = answer.passages[0]
    assert p.source == "orchard.pdf" and p.page == 2
    text = library.document("orchard.pdf").text
    assert text[p.start : p.end] == p.text and "Pears ripen" in p.text
    doc = library.document("orchard.pdf")
    assert doc.pages is not None and len(doc.pages) == 2
    assert doc.pages[1][0] <= p.start < p.end <= doc.pages[1][1]
    assert library.ask("When are apple trees pruned?").passages[0].page == 1


def test_html_main_text_without_scripts_or_navigation(tmp_path: Path, library: Assistant):
    (tmp_path / "lighthouse.html").write_text(HTML, encoding="utf-8")
    library.add([tmp_path / "lighthouse.html"])
    doc = library.document("lighthouse.html")
    assert doc.title == "Lighthouse keeping"
    assert "keeper climbed the tower" in doc.text
    for junk in ("tracking", "color: red", "About us", "All rights reserved"):
        assert junk not in doc.text
    answer = library.ask("Why did the nightly climb end?")
    assert answer.found and answer.passages[0].source == "lighthouse.html" and answer.passages[0].page is None
    assert doc.text[answer.passages[0].start : answer.passages[0].end] == answer.passages[0].text


def test_markdown_and_filter_by_document(tmp_path: Path, library: Assistant):
    (tmp_path / "bees.md").write_text("# Beekeeping\n\nBees need a water source near the hive.\n", encoding="utf-8")
    (tmp_path / "wells.md").write_text("# Wells\n\nA well must be tested for bacteria every year.\n",
                                       encoding="utf-8")
    library.add([tmp_path / "bees.md", tmp_path / "wells.md"])
    assert [d.name for d in library.list_documents()] == ["bees.md", "wells.md"]
    answer = library.ask("What water do bees need?", sources=["wells.md"])
    assert all(p.source == "wells.md" for p in answer.passages + answer.closest)
    assert library.ask("What water do bees need?", sources=["bees.md"]).passages[0].source == "bees.md"
    with pytest.raises(ValueError, match="unknown document"):
        library.ask("anything", sources=["nope.md"])


def test_re_adding_unchanged_is_a_no_op_and_update_replaces(tmp_path: Path, library: Assistant, embedder):
    note = tmp_path / "note.txt"
    note.write_text("Kettles\n\nDescale the kettle monthly with vinegar.\n", encoding="utf-8")
    library.add([note])
    manifest = (version_dir(library.index_dir) / MANIFEST).read_bytes()
    copy = tmp_path / "copy-of-note.txt"
    shutil.copy(note, copy)
    report = library.add([note, copy])  # same content under two names: nothing new
    assert not report.rebuilt and (version_dir(library.index_dir) / MANIFEST).read_bytes() == manifest
    assert [d.name for d in library.list_documents()] == ["note.txt"]

    note.write_text("Kettles\n\nDescale the kettle weekly with citric acid.\n", encoding="utf-8")
    report = library.add([note])
    assert report.embedded == ("note.txt",)
    assert "citric acid" in library.ask("How do I descale the kettle?").passages[0].text
    assert len(library.list_documents()) == 1


def test_remove_and_re_add(tmp_path: Path, library: Assistant):
    for name, body in (("a.txt", "Alpha\n\nOwls hunt at night."), ("b.txt", "Beta\n\nHens lay eggs by day.")):
        (tmp_path / name).write_text(body, encoding="utf-8")
    library.add([tmp_path / "a.txt", tmp_path / "b.txt"])
    report = library.remove("a.txt")
    assert report.removed == ("a.txt",) and not (library.sources / "a.txt").exists()
    assert all(c.source == "b.txt" for c in library.retriever.stored.chunks)
    gone = library.ask("When do owls hunt?")
    assert all(p.source != "a.txt" for p in gone.passages + gone.closest)
    report = library.add([tmp_path / "a.txt"])
    assert report.embedded == ("a.txt",) and report.reused == ("b.txt",)
    assert library.ask("When do owls hunt?").passages[0].source == "a.txt"


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    import pypdf

    corrupt = tmp / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + b"\x00garbage\xff" * 200)
    plain = make_pdf(tmp / "plain.pdf", ["Secret plans for the garden."])
    writer = pypdf.PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password="pw", owner_password="owner")
    encrypted = tmp / "encrypted.pdf"
    with encrypted.open("wb") as f:
        writer.write(f)
    scanned = make_pdf(tmp / "scanned.pdf", ["", ""])
    binary = tmp / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    empty = tmp / "empty.md"
    empty.write_bytes(b"")
    scripts = tmp / "scripts.html"
    scripts.write_text("<html><head><script>alert(1)</script></head><body><script>x()</script></body></html>")
    big = tmp / "big.txt"
    big.write_bytes(b"word " * (21 * 1024 * 1024 // 5))
    return {"corrupt pdf": (corrupt, "damaged"), "encrypted pdf": (encrypted, "encrypted"),
            "scanned pdf": (scanned, "no extractable text"), "binary as txt": (binary, "binary"),
            "empty file": (empty, "empty"), "scripts-only html": (scripts, "no main text"),
            "over the limit": (big, "limit")}


def test_bad_files_are_refused_and_change_nothing(tmp_path: Path, library: Assistant):
    good = tmp_path / "good.txt"
    good.write_text("Good\n\nFerns like shade.", encoding="utf-8")
    library.add([good])
    before = sorted(p.name for p in library.sources.iterdir()), (version_dir(library.index_dir) / MANIFEST).read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    for case, (path, reason) in _bad_files(bad).items():
        with pytest.raises(SourceError, match=reason) as info:
            library.add([path])
        assert path.name in str(info.value), case
        after = (sorted(p.name for p in library.sources.iterdir()),
                 (version_dir(library.index_dir) / MANIFEST).read_bytes())
        assert after == before, case
    assert library.ask("What do ferns like?").found


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "..", ".hidden.txt", "a/b.txt", ""])
def test_unsafe_names_are_refused(library: Assistant, name: str):
    with pytest.raises(SourceError):
        library.remove(name)


def test_a_bad_file_dropped_into_the_folder_is_skipped_not_fatal(tmp_path: Path, library: Assistant):
    (library.sources / "fine.txt").write_text("Fine\n\nMoss grows on north faces.", encoding="utf-8")
    (library.sources / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    report = library.load()
    assert any(line.startswith("broken.pdf") for line in report.skipped)
    assert [d.name for d in library.list_documents()] == ["fine.txt"]
    assert not library.load().rebuilt  # remembered by hash, not retried on every load


def test_load_document_offsets_for_pdf_text(tmp_path: Path):
    pdf = make_pdf(tmp_path / "two.pdf", ["First page text.", "Second page text."])
    doc = load_document(pdf, tmp_path)
    assert [doc.text[s:e] for s, e in doc.pages] == ["First page text.", "Second page text."]


def test_construction_touches_no_disk_and_first_use_names_the_folder(tmp_path: Path):
    assistant = Assistant(sources=tmp_path / "not-yet", index_dir=tmp_path / "index")  # as the README says
    assert not (tmp_path / "index").exists()
    with pytest.raises(SourceError, match="sources folder not found: .*not-yet"):
        assistant.ask("anything?")
    (tmp_path / "not-yet").mkdir()  # created later: the same object now works
    with pytest.raises(EmptySourcesError, match=r"^no documents in .*not-yet; add some with `docqa add"):
        assistant.ask("anything?")


def test_an_empty_folder_is_a_clear_error_not_an_abstention(library: Assistant):
    with pytest.raises(EmptySourcesError, match="no documents in"):
        library.ask("What do owls hunt?")


def test_an_error_for_many_unknown_names_is_capped(tmp_path: Path, library: Assistant):
    note = tmp_path / "ferns.txt"
    note.write_text("Ferns\n\nFerns like shade.", encoding="utf-8")
    library.add([note])
    unknown = [f"missing-{n:06d}.txt" for n in range(100_000)]
    with pytest.raises(ValueError) as info:
        library.ask("What do ferns like?", sources=unknown)
    message = str(info.value)
    assert len(message) < 500 and "missing-000000.txt" in message and "and 99,990 more" in message
    assert "known: ferns.txt" in message


def test_a_link_to_a_file_outside_is_never_indexed_or_quoted(tmp_path: Path, library: Assistant):
    secret = tmp_path / "secret.txt"
    secret.write_text("Secrets\n\nThe vault code is 4471 and the vault is behind the painting.", encoding="utf-8")
    (library.sources / "vault.txt").symlink_to(secret)
    (library.sources / "ferns.txt").write_text("Ferns\n\nFerns like shade and damp soil.", encoding="utf-8")
    library.load()
    assert [d.name for d in library.list_documents()] == ["ferns.txt"]
    answer = library.ask("What is the vault code?")
    assert all("4471" not in p.text for p in [*answer.passages, *answer.closest])
    with pytest.raises(ValueError, match="unknown document"):
        library.ask("What is the vault code?", sources=["vault.txt"])


def test_indexing_reads_with_the_assistants_settings(tmp_path: Path, fake_embedder):
    from dataclasses import replace

    from docqa import Settings

    sources = tmp_path / "docs"
    sources.mkdir()
    make_pdf(sources / "three.pdf", ["One.", "Two.", "Three."])
    (sources / "fine.txt").write_text("Fine\n\nMoss grows on north faces.", encoding="utf-8")
    assistant = Assistant(sources=sources, index_dir=tmp_path / "index", embedder=fake_embedder,
                          settings=replace(Settings(), max_pdf_pages=2))
    report = assistant.load()
    assert len(report.skipped) == 1 and report.skipped[0].endswith("three.pdf: 3 pages is over the 2-page limit")
