"""Milvus: where the collections are (`milvus:./docqa.db` for Milvus Lite, `http://host:19530` for a server),
how to connect with one clear error, and the three collections' schemas.

    <name>_meta       one row per committed generation ("head:...") and per complete document ("doc:...")
    <name>_p<dims>    passages: exact offsets, paragraph, page, sentence spans, text (BM25) and dense vector
    <name>_s<dims>    sentence vectors of each passage, for the highlight

The dimension is part of the data collections' names, so a build with another model writes new collections
and the old ones stay answerable until its generation is committed. pymilvus is imported inside functions:
`import docqa` stays light and works without the `[milvus]` extra.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StoreError

# Text the BM25 function sees is capped by VARCHAR's limit (bytes); passages are far shorter (max_passage_chars).
MAX_TEXT_BYTES = 65_535
MAX_KEY_BYTES = 256
MAX_SOURCE_BYTES = 4_096


@dataclass(frozen=True)
class MilvusTarget:
    """Where a Milvus store lives: a Milvus Lite file or a server URI, and the collections' name prefix."""

    uri: str  # a file path for Milvus Lite, else http(s)://host:port
    name: str = "docqa"

    @property
    def lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "grpc://"))

    @property
    def label(self) -> str:
        """How errors name the store."""
        return f"milvus:{self.uri}" if self.lite else self.uri

    def collection(self, kind: str, dims: int | None = None) -> str:
        return f"{self.name}_{kind}" if dims is None else f"{self.name}_{kind}{dims}"


def parse_store(spec: str | None) -> MilvusTarget | None:
    """`milvus:PATH` or `http(s)://host:port` (optionally `#name` for the collections' prefix) as a
    MilvusTarget; None (the FAISS folder) for an empty spec or `folder`. Anything else is a ValueError."""
    if spec is None or spec.strip() in ("", "folder", "faiss"):
        return None
    spec = spec.strip()
    uri, _, name = spec.partition("#")
    name = name or "docqa"
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"store {spec!r}: the collection prefix after '#' must be letters, digits and '_'")
    if uri.startswith("milvus:"):
        path = uri[len("milvus:"):]
        if not path:
            raise ValueError(f"store {spec!r}: give a file after 'milvus:', e.g. milvus:./docqa.db")
        return MilvusTarget(str(Path(path).expanduser()), name)
    if uri.startswith(("http://", "https://")):
        return MilvusTarget(uri, name)
    raise ValueError(f"store {spec!r}: expected 'folder', 'milvus:PATH' (Milvus Lite) or http://host:19530")


def connect(target: MilvusTarget, timeout: float = 10.0) -> Any:
    """A MilvusClient for `target`, or StoreError naming the store and the fix."""
    quiet()
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise StoreError(f"{target.label}: the Milvus store needs pymilvus; pip install -e '.[milvus]'") from exc
    if target.lite:
        try:
            import milvus_lite  # noqa: F401
        except ImportError as exc:
            raise StoreError(f"{target.label}: Milvus Lite is not installed; pip install -e '.[milvus]'") from exc
        folder = Path(target.uri).parent
        if not folder.is_dir():
            raise StoreError(f"{target.label}: folder {folder} does not exist; create it or choose another path")
    token = os.environ.get("DOCQA_MILVUS_TOKEN", "")
    try:
        return MilvusClient(uri=target.uri, token=token, timeout=timeout)
    except Exception as exc:  # pymilvus raises MilvusException, ConnectionConfigException, grpc errors...
        raise StoreError(f"{target.label}: cannot connect ({reason(exc)}); {_connect_fix(target, exc)}") from exc


def _connect_fix(target: MilvusTarget, exc: BaseException) -> str:
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    if target.lite and ("lock" in text.lower() or "Open local milvus failed" in text):
        return ("another process has the file open (Milvus Lite serves one process); stop it, or share a "
                "Milvus server (http://host:19530) between processes")
    if target.lite:
        return "check that the file is a Milvus Lite database, or choose a new file"
    return "check that the Milvus server is running and reachable, and DOCQA_MILVUS_TOKEN if it needs one"


def reason(exc: BaseException) -> str:
    """The one-line gist of a pymilvus error."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:200]


def quiet() -> None:
    """pymilvus logs every failed call with a traceback on its own stderr handler, and gRPC's C core logs
    connection chatter (Milvus Lite answers long-idle keepalive pings with GOAWAY, and gRPC reconnects);
    docqa reports its errors in one line instead. GRPC_VERBOSITY is read when gRPC loads: set it to see them."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    for name in ("pymilvus", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def create_collections(client: Any, target: MilvusTarget, dims: int) -> None:
    """The meta collection and the data collections for `dims`, each with its indexes, loaded."""
    from pymilvus import DataType, Function, FunctionType

    def meta(schema: Any) -> None:
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_KEY_BYTES)
        schema.add_field("value", DataType.JSON)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one vector field

    def passages(schema: Any) -> None:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_KEY_BYTES)
        schema.add_field("doc_key", DataType.VARCHAR, max_length=MAX_KEY_BYTES)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
        schema.add_field("ordinal", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                         analyzer_params=ANALYZER)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dims)
        schema.add_field("info", DataType.JSON)  # title, paragraph, page, start, end, sentence spans
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))

    def sentences(schema: Any) -> None:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_KEY_BYTES)
        schema.add_field("doc_key", DataType.VARCHAR, max_length=MAX_KEY_BYTES)
        schema.add_field("ordinal", DataType.INT64)  # the passage's place in its document
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dims)

    for name, fields, indexes in (
        (target.collection("meta"), meta, [("unused", "FLAT", "L2")]),
        (target.collection("p", dims), passages,
         [("dense", "FLAT", "IP"), ("sparse", "SPARSE_INVERTED_INDEX", "BM25")]),
        (target.collection("s", dims), sentences, [("vector", "FLAT", "IP")]),
    ):
        if not client.has_collection(name):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            fields(schema)
            index = client.prepare_index_params()
            for field, kind, metric in indexes:
                index.add_index(field, index_type=kind, metric_type=metric)
            client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        client.load_collection(name)


# Milvus Lite offers the `standard` and `jieba` tokenizers; English stemming and lower-casing come as filters,
# which is close to, not the same as, docqa's bm25s tokenisation (PyStemmer plus a longer stop-word list).
ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"}]}
