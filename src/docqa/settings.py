"""Settings: every default lives here. Vary them with `dataclasses.replace`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    """What shapes the index (recorded in the manifest) and how questions are answered (query-time only)."""

    # Index-shaping: recorded in manifest.json; a change triggers a rebuild.
    model_name: str = MODEL_NAME
    max_passage_chars: int = 700
    language: str = "en"

    # Query-time: never recorded in the manifest.
    top_k: int = 3
    candidates: int = 50
    rrf_k: int = 60
    max_question_chars: int = 2000
    max_history_messages: int = 50
    encode_batch_size: int = 32
    # Passages a build embeds and writes at a time: its memory follows this, not the corpus (docs/benchmarks.md,
    # `python -m bench.build_memory`); 256 is 8 encoder batches, long enough to sort by length and fill them.
    build_batch_passages: int = 256
    max_document_bytes: int = 20 * 1024 * 1024  # also the web app's upload limit
    web_concurrency: int = 2  # questions the web app answers at once (CPU-bound; the encoder is serialised anyway)
    web_queue_size: int = 64  # questions waiting beyond that; more get Gradio's "Queue is full" (HTTP 503)


def default_sources() -> Path:
    """The sources folder: $DOCQA_SOURCES, else ./seeds."""
    return Path(os.environ.get("DOCQA_SOURCES", "seeds"))


def default_index_dir() -> Path:
    """The index folder: $DOCQA_INDEX, else ./index."""
    return Path(os.environ.get("DOCQA_INDEX", "index"))
