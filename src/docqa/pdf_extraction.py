"""PDF text extraction in a child process that can be abandoned: pypdf may spend minutes and gigabytes inside
one page (a 70 KB file whose 400 pages share one 2 MB compressed stream read for over 600 s at 520 MB), so the
time, memory, pages and characters spent on one document are bounded here, and a refusal is one line.

The child runs this file through runpy (arguments MAX_PAGES MAX_CHARS MAX_BYTES_OF_MEMORY, the PDF on stdin), not
`-m docqa...`, so it never imports the docqa package and its numpy; it prints one JSON object:
{"pages": [...], "title": ...} or {"error": "..."}.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class PdfText:
    """The text of each page, and the title from the PDF's metadata."""

    pages: tuple[str, ...]
    title: str | None


class PdfRefused(Exception):
    """The PDF could not be read within the bounds; the message says why, in a few words."""


def extract_pdf(data: bytes, max_pages: int, max_chars: int, seconds: float, memory_bytes: int) -> PdfText:
    """Each page's text, extracted by a child process killed after `seconds`."""
    # run_path, not `python file.py`: that would put src/docqa on sys.path, where types.py hides the stdlib's.
    script = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, __file__, str(max_pages), str(max_chars), str(memory_bytes)],
            input=data, capture_output=True, timeout=seconds, check=False,
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed the child
        raise PdfRefused(f"reading its text took over {seconds:g} s, the limit") from exc
    try:
        result = json.loads(done.stdout)
    except ValueError as exc:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        memory = "MemoryError" in last or done.returncode == -9  # the limit, or the kernel's OOM killer
        why = "it needs more memory than the limit" if memory else f"the PDF reader failed ({last[:200]})"
        raise PdfRefused(why) from exc
    if "error" in result:
        raise PdfRefused(result["error"])
    return PdfText(tuple(result["pages"]), result["title"])


def _extract(data: bytes, max_pages: int, max_chars: int) -> dict[str, object]:
    import io

    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return {"error": "the PDF is encrypted; save an unencrypted copy and add that"}
        if len(reader.pages) > max_pages:
            return {"error": f"{len(reader.pages):,} pages is over the {max_pages:,}-page limit"}
        pages: list[str] = []
        shared: dict[object, str] = {}  # pages drawn by the same content stream have the same text: read it once
        total = 0
        for page in reader.pages:
            key = _content_key(page)
            text = shared.get(key) if key is not None else None
            if text is None:
                text = (page.extract_text() or "").strip()
                if key is not None:
                    shared[key] = text
            total += len(text)
            if total > max_chars:
                return {"error": f"over {max_chars:,} characters of text by page {len(pages) + 1}, the limit"}
            pages.append(text)
        title = reader.metadata.title if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, NotImplementedError) as exc:
        return {"error": f"the PDF is damaged or unreadable ({type(exc).__name__})"}
    except MemoryError:
        return {"error": "it needs more memory than the limit"}
    return {"pages": pages, "title": str(title).strip() or None if title else None}


def _content_key(page) -> object:
    """What determines a page's text: its content streams and resources, by object number (None if inline)."""
    from pypdf.generic import ArrayObject, IndirectObject

    def ref(value: object) -> object:
        if isinstance(value, IndirectObject):
            return (value.idnum, value.generation)
        if isinstance(value, ArrayObject) and all(isinstance(v, IndirectObject) for v in value):
            return tuple((v.idnum, v.generation) for v in value)
        return None

    contents = ref(page.raw_get("/Contents")) if "/Contents" in page else None
    resources = ref(page.raw_get("/Resources")) if "/Resources" in page else "inherited"
    return None if contents is None or resources is None else (contents, resources)


def main() -> None:
    """The child: bound its own memory, read the PDF from stdin, print the JSON result."""
    max_pages, max_chars, memory_bytes = (int(a) for a in sys.argv[1:4])
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not Linux: the time limit still holds
        pass
    result = _extract(sys.stdin.buffer.read(), max_pages, max_chars)
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
