from __future__ import annotations

from pathlib import Path

import pytest

from docqa.chunking import chunk_document, is_field, split_sentences
from docqa.sources import load_document

from conftest import SEED_FILE, SEEDS


@pytest.fixture(scope="module")
def seed_doc():
    return load_document(SEED_FILE, SEEDS)


def test_every_chunk_is_exact_and_inside_one_paragraph(seed_doc):
    chunks = chunk_document(seed_doc)
    assert chunks
    paragraphs = {p.number: p for p in seed_doc.paragraphs}
    for c in chunks:
        assert seed_doc.text[c.start : c.end] == c.text
        para = paragraphs[c.paragraph]
        assert para.start <= c.start < c.end <= para.end
        assert c.end - c.start <= 700
        assert c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
        for s, e in c.sentences:
            assert seed_doc.text[s:e] == seed_doc.text[s:e].strip()


def test_chunks_cover_every_paragraph_without_overlap(seed_doc):
    chunks = chunk_document(seed_doc)
    assert {c.paragraph for c in chunks} == {p.number for p in seed_doc.paragraphs}
    for a, b in zip(chunks, chunks[1:]):
        assert a.end <= b.start


@pytest.mark.parametrize("text", ["No U.S. troops would be sent there.", "Outlines U.S. Military Boundaries today."])
def test_us_abbreviation_does_not_split(text):
    assert split_sentences(text) == [(0, len(text))]


def test_sentences_are_split_and_offset():
    text = "First one here. Second one, Dr. Smith said. Third!"
    spans = split_sentences(text, start=100)
    assert [text[s - 100 : e - 100] for s, e in spans] == ["First one here.", "Second one, Dr. Smith said.", "Third!"]


def test_seed_sentence_with_us_troops_stays_whole(seed_doc):
    sentences = [seed_doc.text[s:e] for c in chunk_document(seed_doc) for s, e in c.sentences]
    assert any("no U.S. troops would be sent" in s for s in sentences)
    assert not any(s.endswith("U.S.") for s in sentences)


def test_long_paragraph_is_packed_into_limited_chunks(tmp_path: Path):
    body = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(60))
    (tmp_path / "long.txt").write_text("Title\n\n" + body + "\n", encoding="utf-8")
    doc = load_document(tmp_path / "long.txt", tmp_path)
    chunks = chunk_document(doc, max_chars=300)
    assert len(chunks) > 5
    assert all(c.end - c.start <= 300 and doc.text[c.start : c.end] == c.text for c in chunks)


def test_sentence_longer_than_limit_is_cut_at_whitespace(tmp_path: Path):
    words = " ".join(f"word{i}" for i in range(400))
    (tmp_path / "run.txt").write_text(words, encoding="utf-8")
    doc = load_document(tmp_path / "run.txt", tmp_path)
    chunks = chunk_document(doc, max_chars=200)
    assert all(c.end - c.start <= 200 and c.text == doc.text[c.start : c.end] for c in chunks)
    assert " ".join(c.text for c in chunks) == words


def _one_line(n: int) -> str:
    base = "The U.S. troops arrived at 5 p.m. on Monday, and Mr. Smith said it went well. Then they left again. "
    return (base * (n // len(base) + 1))[:n].rstrip()


def test_splitter_never_sees_more_than_a_window(monkeypatch):
    """pysbd is super-linear (100,000 chars on one line: 15 s; 5 MB: never ends), so it gets bounded windows."""
    from docqa import chunking

    real = chunking._segmenter("en")
    seen: list[int] = []

    class Spy:
        def segment(self, text: str):
            seen.append(len(text))
            return real.segment(text)

    monkeypatch.setattr(chunking, "_segmenter", lambda language: Spy())
    text = _one_line(100_000)
    spans = split_sentences(text, window=1000)
    assert seen and max(seen) <= 1000
    assert all(text[s:e] == text[s:e].strip() and text[s:e] for s, e in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_windows_give_the_same_sentences_as_one_pass():
    text = _one_line(6_000)
    whole = split_sentences(text, window=len(text))
    assert split_sentences(text, window=700) == whole
    assert all("U.S. troops" in text[s:e] for s, e in whole if text[s:e].startswith("The U.S."))
    assert not any(text[s:e].endswith("U.S.") for s, e in whole)


def test_long_one_line_document_chunks_exactly(tmp_path: Path):
    (tmp_path / "line.md").write_text("# Line\n\n" + _one_line(200_000) + "\n", encoding="utf-8")
    doc = load_document(tmp_path / "line.md", tmp_path)
    chunks = chunk_document(doc)
    assert chunks[-1].end == len(doc.text.rstrip())
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text and c.end - c.start <= 700
        assert "U.S. troops" in c.text or "U.S." not in c.text


@pytest.mark.slow  # about 35 s on one core; before the windows it never finished (pysbd alone: 15 s at 100 KB)
def test_five_megabyte_one_line_file_is_chunked_in_linear_time(tmp_path: Path):
    import time

    (tmp_path / "line.md").write_text("# Line\n\n" + _one_line(5_000_000) + "\n", encoding="utf-8")
    started = time.perf_counter()
    doc = load_document(tmp_path / "line.md", tmp_path)
    chunks = chunk_document(doc)
    print(f"\n5 MB on one line: {len(chunks):,} passages in {time.perf_counter() - started:.1f} s")
    assert chunks[-1].end == len(doc.text.rstrip())
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


@pytest.mark.parametrize("text, sentences", [
    # pysbd cuts after a symbol that looks like a full stop or a question mark ...
    ("The question mark character, ?, matches once or not at all. Use it for optional parts.",
     ["The question mark character, ?, matches once or not at all.", "Use it for optional parts."]),
    ("It is better to use ? when you can, because it is shorter. Nobody objects.",
     ["It is better to use ? when you can, because it is shorter.", "Nobody objects."]),
    ("Use the non-greedy *?, +? or ?? instead. They stop early.",
     ["Use the non-greedy *?, +? or ?? instead.", "They stop early."]),
    # ... inside code ...
    ("Adding .* to the front defeats this optimization. Use re.search() instead.",
     ["Adding .* to the front defeats this optimization.", "Use re.search() instead."]),
    ("A dotted lookup such as super(A, obj).m searches the base classes. It returns the first match.",
     ["A dotted lookup such as super(A, obj).m searches the base classes.", "It returns the first match."]),
    # ... and before the items of a list inside a sentence.
    ("Two common operations on a list are 1) doing something for every element, 2) selecting a subset. Both are "
     "easy.", ["Two common operations on a list are 1) doing something for every element, 2) selecting a subset.",
               "Both are easy."]),
])
def test_fragments_that_do_not_end_a_sentence_join_the_one_before(text, sentences):
    assert [text[s:e] for s, e in split_sentences(text)] == sentences


def test_a_sentence_may_open_with_a_lower_case_name_of_code():
    text = "Call the method on a compiled pattern. findall() returns a list of every match. lambda makes a function."
    assert len(split_sentences(text)) == 3


def test_a_wrapped_line_joins_its_sentence_but_the_lines_of_a_list_stay_apart():
    text = "Pour the water in slowly and\nwait for it to settle. Then:\n- open the lid\n* Stir twice\n2. Serve"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Pour the water in slowly and\nwait for it to settle.", "Then:", "- open the lid", "* Stir twice", "2. Serve"]


@pytest.mark.parametrize("line, field", [("Owner: Anna Berg", True), ("Opening hours: 7 am to 6 pm", True),
                                         ("Step 2: Install the package", False), ("Part IV: Trade", False),
                                         ("Conflicting options", False), ("See also", False)])
def test_a_label_value_line_is_a_field_not_a_heading(line, field):
    assert is_field(line) is field


def test_a_line_opening_a_field_or_a_list_item_starts_a_passage(tmp_path):
    """In a note, lines are separate facts: each field or list item is its own passage (still inside its
    paragraph, with exact offsets); wrapped prose lines and a lead-in sentence stay together."""
    text = ("Pets\n\nOur vet is Dr Fiona Kerr.\nInsurance: PetCover, excess £99 per claim.\n"
            "Open: Monday to Friday.\n\nRides this year:\n- Sunday ride: leaves at 8:30.\n"
            "- Wednesday ride: led by Priya.\n\nThe club met in the\nupstairs room at the Red Lion.\n")
    (tmp_path / "pets.md").write_text(text, encoding="utf-8")
    doc = load_document(tmp_path / "pets.md", tmp_path)
    chunks = chunk_document(doc)
    assert [c.text for c in chunks] == ["Pets", "Our vet is Dr Fiona Kerr.",
                                        "Insurance: PetCover, excess £99 per claim.", "Open: Monday to Friday.",
                                        "Rides this year:", "- Sunday ride: leaves at 8:30.",
                                        "- Wednesday ride: led by Priya.",
                                        "The club met in the\nupstairs room at the Red Lion."]
    assert [c.paragraph for c in chunks] == [1, 2, 2, 2, 3, 3, 3, 4]
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
