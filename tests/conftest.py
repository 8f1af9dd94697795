"""Shared fixtures: one real model and one real index per test session; a tiny fake embedder for plumbing."""
from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from docqa import Assistant, Settings
from docqa.types import Chunk

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))


class FakeEmbedder:
    """Hashed bag-of-words vectors: deterministic, instant, good enough for plumbing tests."""

    name = "fake"

    def __init__(self, dims: int = 64) -> None:
        self.dims = dims
        self.calls: list[int] = []  # number of texts in each encode call

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dims, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dims] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dims), np.float32)

    def encode_query(self, text: str):
        from docqa.embedding import QueryEncoding

        self.calls.append(1)
        words = [(m.start(), m.end()) for m in re.finditer(r"\w+", text)] or [(0, 0)]
        tokens = np.vstack([self._vector(text[s:e]) for s, e in words])
        return QueryEncoding(self._vector(text), tokens, tuple(words))

    def encode_chunks(self, chunks: Sequence[Chunk], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(len(chunks))
        passages = [self._vector(c.text) for c in chunks]
        sentences = [self._vector(c.text[s - c.start : e - c.start]) for c in chunks for s, e in c.sentences]
        empty = np.zeros((0, self.dims), np.float32)
        return (np.vstack(passages) if passages else empty), (np.vstack(sentences) if sentences else empty)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def embedder():
    """The real bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    from docqa.embedding import get_embedder

    e = get_embedder(Settings().model_name)
    e.model  # load now, so the first test that uses it is not billed for it
    return e


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A private copy of seeds/ that a test may change."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    """An Assistant over a copy of seeds/ with a real index built in a temporary folder (shared, read-only)."""
    work = tmp_path_factory.mktemp("seed-index")
    shutil.copytree(SEEDS, work / "seeds")
    assistant = Assistant(sources=work / "seeds", index_dir=work / "index", embedder=embedder)
    assistant.load()
    return assistant


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_FILE.read_text(encoding="utf-8")


# --- Web server fixtures (tests/test_web.py, tests/test_browser.py) -----------------------------------------------
# The real app served in-process on a free loopback port with the same safe options as `docqa serve`, once per
# session: `web_server` over the seed; `markup_web_server` over one small document full of markup (XSS tests).

MARKUP_DOC_NAME = "markup-notes.txt"
MARKUP_DOC_TEXT = (
    "Notes on markup in documents\n\n"
    "The archived page contained <script>window.__pwned = 2</script> and "
    '<img src=x onerror="window.__pwned=3"> written out as plain text, which a reader must see literally.\n'
)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(assistant: Assistant):
    from docqa.serving import launch
    from docqa.web import build_demo

    demo = build_demo(assistant)
    port = _free_port()
    launch(demo, port=port, blocked_paths=[assistant.sources, assistant.index_dir], prevent_thread_lock=True,
           quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def web_server(seed_assistant: Assistant):
    """The app over the seed, for the whole session; yields its base URL (ending in '/')."""
    yield from _serve(seed_assistant)


@pytest.fixture(scope="session")
def markup_assistant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    """An Assistant over one document whose text contains HTML tags, with a real index."""
    work = tmp_path_factory.mktemp("markup")
    (work / "sources").mkdir()
    (work / "sources" / MARKUP_DOC_NAME).write_text(MARKUP_DOC_TEXT, encoding="utf-8")
    assistant = Assistant(sources=work / "sources", index_dir=work / "index", embedder=embedder)
    assistant.load()
    return assistant


@pytest.fixture(scope="session")
def markup_web_server(markup_assistant: Assistant):
    """The app over the markup document, started only by the tests that use it."""
    yield from _serve(markup_assistant)


# `library_web_server`: the app over a private copy of the seed plus one small markdown note, one server per test
# module that uses it; uploads there change its sources folder, never the shared `web_server`'s.

LIBRARY_DOC_NAME = "garden-notes.md"
LIBRARY_DOC_TEXT = (
    "# Garden notes\n\n"
    "Tomatoes need full sun and steady watering to ripen well.\n\n"
    "Compost is turned every two weeks so that it heats evenly and breaks down before spring.\n"
)


@pytest.fixture(scope="module")
def library_assistant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    """An Assistant over the seed and the garden note (two documents), in a folder of its own."""
    work = tmp_path_factory.mktemp("library")
    shutil.copytree(SEEDS, work / "sources")
    (work / "sources" / LIBRARY_DOC_NAME).write_text(LIBRARY_DOC_TEXT, encoding="utf-8")
    assistant = Assistant(sources=work / "sources", index_dir=work / "index", embedder=embedder)
    assistant.load()
    return assistant


@pytest.fixture(scope="module")
def library_web_server(library_assistant: Assistant):
    """The app over `library_assistant`, for one test module; yields its base URL."""
    yield from _serve(library_assistant)
