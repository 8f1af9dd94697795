"""Chunking: Document -> Chunks of whole sentences, never crossing a paragraph, with exact offsets.

Sentences come from pysbd, then pieces that do not end a sentence are joined back to the one before (`_joins`):
pysbd cuts inside code and symbols ("re.sub()", "a .* b", "one or zero times: ?"), and after a list item
("are 1) …, 2) …"), and such a fragment must not stand alone as a sentence (it would win the highlight).

A line of a paragraph that opens a list item ("- Sunday ride: …", "2. Grease bands …") or a "Label: value" field
("Insurance: PetCover, excess £99") starts a passage of its own: in a note such lines are separate facts, and
packed together each one's words and vector are blurred by its neighbours'."""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from .settings import Settings
from .types import Chunk, Document


# What the manifest records as the splitter: a change re-cuts every index built before it.
SPLITTER = "pysbd+lines/2"
# A line that opens a list item: "- x", "* x", "• x", "1. x", "2) x".
_ITEM = re.compile(r"(?:[-*•]|\d{1,3}[.)])\s")
# A line "Label: value" (a label of at most four words, then the value): a field of a note or a form.
_FIELD = re.compile(r"([^\W\d][\w'’()/-]*(?: [\w'’()/-]+){0,3}): \S")
_NUMBERED = re.compile(r"\b(?:\d{1,3}|[IVX]{1,4})$")


def is_field(text: str) -> bool:
    """Whether a line reads "Label: value" ("Owner: Anna Berg"), not a numbered heading ("Step 2: Install")."""
    match = _FIELD.match(text)
    return match is not None and _NUMBERED.search(match.group(1)) is None


def _opens_item(text: str, span: tuple[int, int]) -> bool:
    """Whether the sentence at `span` starts a line of its paragraph with a list item or a field."""
    start, end = span
    if start == 0 or text[start - 1] != "\n":
        return False
    line = " ".join(text[start:end].split())
    return _ITEM.match(line) is not None or is_field(line)


@functools.lru_cache(maxsize=4)
def _segmenter(language: str):  # pysbd.Segmenter; imported lazily (it compiles many regexes)
    import pysbd

    return pysbd.Segmenter(language=language, clean=False)


def split_sentences(
    text: str, start: int = 0, language: str = "en", window: int = Settings.sentence_window_chars
) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, shifted by `start`, trimmed of whitespace.

    pysbd's time grows faster than linearly with its input (a 100,000-character line takes seconds, a 5 MB one
    never ends), so it only ever sees `window` characters: a window ends at whitespace, its last sentence (which
    the cut may have broken) is dropped and the next window starts where that sentence did."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while len(text) - pos > window:
        cut = _last_space(text, pos + window // 2, pos + window)
        found = _segment(text[pos:cut], start + pos, language)
        if len(found) > 1:
            spans.extend(found[:-1])
            pos = found[-1][0] - start
        else:  # one sentence fills the window: keep it cut at whitespace (_split_long cuts it again anyway)
            spans.extend(found)
            pos = cut
    spans.extend(_segment(text[pos:], start + pos, language))
    return _join_fragments(spans, text, start)


# A sentence ends with . ! ? or a colon (a list or an example follows), then closing quotes or brackets.
_ENDS = re.compile(r"[.!?:…][\"'”’)\]]*$")
# A terminal that follows a space or a symbol is a symbol itself ("the same as ?", "the metacharacter .").
_SYMBOL_END = re.compile(r"(?:^|[\s*+?\-,\[({|^$\\])[.!?]$")
# What no sentence opens with: punctuation that continues the one before (", matches …", "] is …", ")").
_CONTINUES = re.compile(r"^[,;:)\]}.?!]")


def _joins(before: str, piece: str, gap: str) -> bool:
    """Whether `piece` continues `before` rather than starting a sentence (`gap`: the text between them)."""
    if not gap and not piece.startswith("["):  # cut inside a token: "re." + "sub()", ".*[.]." + "*$" (not a note)
        return True
    if not any(ch.isalnum() for ch in piece) or _CONTINUES.match(piece):  # ".", ")", ", +?"
        return True
    if "\n" in gap and not piece[0].islower():  # a line of a list, a heading, ...: only a wrapped line continues
        return False
    if not _ENDS.search(before):  # "Two common operations are" + "1) performing …,"
        return True
    return piece[0].islower() and _SYMBOL_END.search(before) is not None  # "or ?" + "when you can"


def _join_fragments(spans: list[tuple[int, int]], text: str, start: int) -> list[tuple[int, int]]:
    """`spans` with every fragment that does not start a sentence joined to the sentence before it."""
    joined: list[tuple[int, int]] = []
    for a, b in spans:
        if joined:
            s, e = joined[-1]
            if _joins(text[s - start : e - start], text[a - start : b - start], text[e - start : a - start]):
                joined[-1] = (s, b)
                continue
        joined.append((a, b))
    return joined


def _last_space(text: str, low: int, high: int) -> int:
    """The offset of the last whitespace in text[low:high], else `high`."""
    for i in range(high - 1, low - 1, -1):
        if text[i].isspace():
            return i
    return high


def _segment(text: str, start: int, language: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter(language).segment(text):
        piece = piece.strip()
        if not piece:
            continue
        found = text.find(piece, cursor)
        if found < 0:  # pysbd altered the text: the rest becomes one span below
            break
        spans.append((start + found, start + found + len(piece)))
        cursor = found + len(piece)
    rest = text[cursor:].strip()
    if rest:
        found = text.index(rest, cursor)
        spans.append((start + found, start + found + len(rest)))
    return spans


def _split_long(span: tuple[int, int], text: str, limit: int) -> Iterator[tuple[int, int]]:
    """Cut a sentence longer than `limit` at whitespace, so no chunk exceeds the limit."""
    start, end = span
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit)
        if cut <= start:
            cut = start + limit
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        yield start, end


def chunk_document(
    doc: Document, max_chars: int = 700, language: str = "en", window: int = Settings.sentence_window_chars
) -> list[Chunk]:
    """Pack consecutive sentences of each paragraph into chunks of at most about `max_chars`; a line opening a
    list item or a field starts a new chunk."""
    chunks: list[Chunk] = []
    for para in doc.paragraphs:
        sentences = [
            piece
            for span in split_sentences(doc.text[para.start : para.end], para.start, language, window)
            for piece in _split_long(span, doc.text, max_chars)
        ]
        group: list[tuple[int, int]] = []
        for span in sentences:
            if group and (span[1] - group[0][0] > max_chars or _opens_item(doc.text, span)):
                chunks.append(_make_chunk(doc, para.number, group))
                group = []
            group.append(span)
        if group:
            chunks.append(_make_chunk(doc, para.number, group))
    return chunks


def _make_chunk(doc: Document, paragraph: int, sentences: list[tuple[int, int]]) -> Chunk:
    start, end = sentences[0][0], sentences[-1][1]
    return Chunk(
        source=doc.name,
        title=doc.title,
        paragraph=paragraph,
        start=start,
        end=end,
        text=doc.text[start:end],
        sentences=tuple(sentences),
        page=_page_of(doc, start),
    )


def _page_of(doc: Document, offset: int) -> int | None:
    if doc.pages is None:
        return None
    for number, (start, end) in enumerate(doc.pages, 1):
        if start <= offset < end:
            return number
    return len(doc.pages)
