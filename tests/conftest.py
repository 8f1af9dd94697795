"""Shared fixtures: one real model and one real index per test session; a tiny fake embedder for plumbing."""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from docqa import Assistant, Settings
from docqa.hash_embedder import HashEmbedder
from docqa.types import Chunk

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))


class FakeEmbedder(HashEmbedder):
    """The package's hashed bag-of-words embedder, counting its encode calls (how many texts each time), so
    tests can prove that only what changed is embedded."""

    name = "fake"

    def __init__(self, dims: int = 64) -> None:
        super().__init__(dims)
        self.calls: list[int] = []

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return super().encode_queries(texts)

    def encode_query(self, text: str):
        self.calls.append(1)
        return super().encode_query(text)

    def encode_chunks(self, chunks: Sequence[Chunk], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(len(chunks))
        return super().encode_chunks(chunks, progress)


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

    server = launch(build_demo(assistant), assistant, port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def web_server(seed_assistant: Assistant):
    """The app over the seed, for the whole session; yields its base URL (ending in '/')."""
    yield from _serve(seed_assistant)


def _loaded_assistant(work: Path, embedder, documents: dict[str, str], with_seed: bool = False) -> Assistant:
    """An Assistant over `documents` (and a copy of the seed), in `work`, with its real index loaded."""
    if with_seed:
        shutil.copytree(SEEDS, work / "sources")
    else:
        (work / "sources").mkdir()
    for name, text in documents.items():
        (work / "sources" / name).write_text(text, encoding="utf-8")
    assistant = Assistant(sources=work / "sources", index_dir=work / "index", embedder=embedder)
    assistant.load()
    return assistant


@pytest.fixture(scope="session")
def markup_assistant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    """An Assistant over one document whose text contains HTML tags, with a real index."""
    return _loaded_assistant(tmp_path_factory.mktemp("markup"), embedder, {MARKUP_DOC_NAME: MARKUP_DOC_TEXT})


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
    return _loaded_assistant(tmp_path_factory.mktemp("library"), embedder, {LIBRARY_DOC_NAME: LIBRARY_DOC_TEXT},
                             with_seed=True)


@pytest.fixture(scope="module")
def library_web_server(library_assistant: Assistant):
    """The app over `library_assistant`, for one test module; yields its base URL."""
    yield from _serve(library_assistant)
