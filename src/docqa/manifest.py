"""Manifest: what an index version holds and how it was built (manifest.json), as frozen dataclasses.

`Manifest.from_json` checks every field's type and names the first bad one; `to_json` writes it back. Nothing
else reads the file by key.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import IndexMismatchError, StoreError
from .lexical import TOKENISER

# 3: the manifest records the BM25 tokeniser (lexical.TOKENISER), and sentence fragments are joined (chunking.py).
FORMAT_VERSION = 3


@dataclass(frozen=True)
class ModelInfo:
    """The embedding model the vectors came from."""

    name: str
    package: str
    dims: int


@dataclass(frozen=True)
class ChunkingInfo:
    """How documents were cut into passages; a change means every passage is cut again."""

    splitter: str
    max_passage_chars: int
    language: str


@dataclass(frozen=True)
class SourceEntry:
    """One indexed document: its hash, title, passage range, and its size and mtime when it was read."""

    sha256: str
    title: str
    first: int
    passages: int
    bytes: int
    mtime_ns: int | None  # None when the file was too recently changed for its mtime to prove anything


@dataclass(frozen=True)
class SkippedEntry:
    """A document that could not be read: not retried until its hash changes."""

    sha256: str
    reason: str


@dataclass(frozen=True)
class FileEntry:
    """A data file of the index version, by size and sha256."""

    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """manifest.json of one index version (written last: a version without it is incomplete)."""

    format_version: int
    docqa_version: str
    generation: int
    model: ModelInfo
    chunking: ChunkingInfo
    faiss: str
    passage_count: int
    sentence_count: int
    sources: Mapping[str, SourceEntry]
    skipped: Mapping[str, SkippedEntry] = field(default_factory=dict)
    files: Mapping[str, FileEntry] = field(default_factory=dict)
    created: str = ""
    tokeniser: str = TOKENISER  # how the BM25 terms were cut (lexical.TOKENISER when they were)

    @property
    def dims(self) -> int:
        return self.model.dims

    def to_json(self) -> str:
        """The manifest as indented JSON (keys in field order)."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, path: Path) -> Manifest:
        """Parse and check `text`; StoreError (IndexMismatchError for another format version) names `path`."""
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path}: unreadable ({exc}); run `docqa index` to rebuild") from exc
        if not isinstance(data, dict):
            raise StoreError(f"{path}: not a JSON object; run `docqa index` to rebuild")
        version = data.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version != FORMAT_VERSION:
            raise IndexMismatchError(f"{path}: format version {version}, this docqa reads {FORMAT_VERSION}; "
                                     "run `docqa index` to rebuild")
        return _parse(cls, data, path, "")


_SCALARS = {"int": int, "str": str, "int | None": (int, type(None))}
_NESTED = {"ModelInfo": ModelInfo, "ChunkingInfo": ChunkingInfo}
_MAPS = {"Mapping[str, SourceEntry]": SourceEntry, "Mapping[str, SkippedEntry]": SkippedEntry,
         "Mapping[str, FileEntry]": FileEntry}


def _parse(kind: type, data: Any, path: Path, where: str) -> Any:
    """`kind` built from `data`, each field type-checked; extra or missing fields are refused."""
    names = {f.name: f for f in fields(kind)}
    if not isinstance(data, dict) or set(data) - set(names):
        extra = sorted(set(data) - set(names)) if isinstance(data, dict) else []
        raise StoreError(f"{path}: {where or 'manifest'} has unexpected field(s) {extra} or is not an object; "
                         "run `docqa index` to rebuild")
    values = {}
    for name, f in names.items():
        label = f"{where}.{name}" if where else name
        value = data.get(name)
        hint = str(f.type)
        if name not in data:  # every field is written, so a missing one means damage
            _bad(path, label, hint)
        if hint in _NESTED:
            value = _parse(_NESTED[hint], value, path, label) if isinstance(value, dict) else _bad(path, label, hint)
        elif hint in _MAPS:
            if not isinstance(value, dict):
                _bad(path, label, "dict")
            value = {str(k): _parse(_MAPS[hint], v, path, f"{label}[{k!r}]") for k, v in value.items()}
        elif not isinstance(value, _SCALARS[hint]) or isinstance(value, bool):
            _bad(path, label, _SCALARS[hint].__name__ if isinstance(_SCALARS[hint], type) else hint)
        values[name] = value
    return kind(**values)


def _bad(path: Path, label: str, kind: str) -> Any:
    raise StoreError(f"{path}: field {label!r} is missing or not a {kind}; run `docqa index` to rebuild")
