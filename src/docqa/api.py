"""The one-call API: `docqa.ask()` over a cached default Assistant."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from .assistant import Assistant
from .settings import default_index_dir, default_sources
from .types import Answer


@functools.lru_cache(maxsize=4)
def _assistant_for(sources: str, index_dir: str) -> Assistant:
    return Assistant(sources=sources, index_dir=index_dir)


def default_assistant() -> Assistant:
    """The Assistant over $DOCQA_SOURCES (else ./seeds) and $DOCQA_INDEX (else ./index), built once."""
    return _assistant_for(str(default_sources().resolve()), str(default_index_dir().resolve()))


def ask(question: str, *, history: Sequence[dict[str, Any]] | None = None, top_k: int | None = None) -> Answer:
    """Answer a question about the default documents with cited passages (`top_k` defaults to Settings.top_k)."""
    return default_assistant().ask(question, history=history, top_k=top_k)
