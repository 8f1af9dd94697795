"""The errors docqa raises; front ends turn them into one clear line."""
from __future__ import annotations


class DocQAError(Exception):
    """Base class for every error docqa raises on purpose."""


class QuestionError(DocQAError, ValueError):
    """The question is empty, too long, or not text."""


class HistoryError(DocQAError, ValueError):
    """The conversation history is not a list of {"role", "content"} messages."""


class SourceError(DocQAError):
    """A source folder or document cannot be read."""


class SourcesFolderError(SourceError):
    """The sources folder does not exist."""

    def __init__(self, folder: object) -> None:
        self.folder = folder
        super().__init__(f"sources folder not found: {folder} (create it, pass sources=..., or set DOCQA_SOURCES)")


class EmptySourcesError(SourceError):
    """The sources folder holds no document to answer from."""

    def __init__(self, folder: object) -> None:
        self.folder = folder
        super().__init__(f"no documents in {folder}; add some with `docqa add FILE` (.txt, .md, .html or .pdf)")


class StoreError(DocQAError):
    """The index on disk is missing, unreadable or does not match its manifest."""


class IndexMismatchError(StoreError):
    """The index was built by another model, dimension or format version."""


class ModelError(DocQAError):
    """The bundled embedding model is missing or has been tampered with."""

