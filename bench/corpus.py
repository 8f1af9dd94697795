"""A corpus of real English text found on every machine: the docstrings of Python's standard library.

Read with `ast` (nothing is imported, so no module runs), one document per module, one paragraph per
docstring paragraph, reflowed. Generated on the fly into a temporary folder; never committed."""
from __future__ import annotations

import ast
import re
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path

_SKIP_DIRS = {"site-packages", "__pycache__", "pydoc_data"}
_WORD = re.compile(r"[A-Za-z]{2,}")


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if not _SKIP_DIRS.intersection(p.relative_to(root).parts))


def _paragraphs(doc: str) -> Iterator[str]:
    """Prose paragraphs of a docstring: code, doctests, tables and lists are dropped."""
    for block in re.split(r"\n\s*\n", doc):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or any(line.startswith((">>>", "...", "$", "+-", "==", "--", "|")) for line in lines):
            continue
        text = " ".join(lines)
        words = _WORD.findall(text)
        if len(text) >= 60 and len(words) >= 8 and sum(map(len, words)) >= 0.6 * len(text):
            yield text


def _reference_topics(root: Path) -> Iterator[tuple[str, str]]:
    """The language reference topics that `help()` shows (pydoc_data/topics.py), read as a literal."""
    path = root / "pydoc_data" / "topics.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        topics = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign))
    except (OSError, SyntaxError, ValueError, StopIteration):
        return
    for name in sorted(topics):
        paras = list(_paragraphs(topics[name]))
        if len(paras) >= 2:
            yield f"reference.{name}", paras


def module_texts() -> Iterator[tuple[str, str]]:
    """(name, document text) for each language-reference topic and each stdlib module with enough docstring
    prose, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    for name, paras in _reference_topics(root):
        yield name, f"Python reference: {name[10:]}\n\n" + "\n\n".join(paras) + "\n"
    for path in _stdlib_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        paras = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                for para in _paragraphs(doc or ""):
                    if para not in seen:  # many classes repeat their parent's docstring
                        seen.add(para)
                        paras.append(para)
        if len(paras) >= 2:
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            yield name, f"The {name} module\n\n" + "\n\n".join(paras) + "\n"


def write_corpus(folder: Path, passages: int, max_chars: int = 700, skip: int = 0) -> tuple[int, list[str]]:
    """Write modules as .txt files into `folder` until they hold at least `passages` chunks.

    `skip` leaves out the first modules (to get documents that are not in another corpus).
    Returns (chunk count, file names)."""
    from docqa.chunking import chunk_document
    from docqa.sources import split_paragraphs
    from docqa.types import Document

    folder.mkdir(parents=True, exist_ok=True)
    count, names = 0, []
    for i, (module, text) in enumerate(module_texts()):
        if i < skip:
            continue
        if count >= passages:
            break
        doc = Document(module, module, text, "", split_paragraphs(text))
        count += len(chunk_document(doc, max_chars))
        name = f"{module}.txt"
        (folder / name).write_text(text, encoding="utf-8")
        names.append(name)
    if count < passages:
        raise RuntimeError(f"the standard library's docstrings give only {count} passages, not {passages}")
    return count, names
