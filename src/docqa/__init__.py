"""docqa: answers questions about your documents with the exact passages that support them."""
from __future__ import annotations

from .api import ask, default_assistant
from .assistant import Assistant
from .errors import DocQAError, HistoryError, IndexMismatchError, ModelError, QuestionError, SourceError, StoreError
from .settings import Settings
from .types import Answer, Passage
from .version import __version__

__all__ = [
    "Answer",
    "Assistant",
    "DocQAError",
    "HistoryError",
    "IndexMismatchError",
    "ModelError",
    "Passage",
    "QuestionError",
    "Settings",
    "SourceError",
    "StoreError",
    "__version__",
    "ask",
    "default_assistant",
]
