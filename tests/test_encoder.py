"""The direct torch encoder: the same vectors as sentence-transformers, without importing it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from docqa.embedding import bundled_model_path
from docqa.encoder import BertEncoder
from docqa.errors import ModelError


def test_encoding_a_question_imports_neither_sentence_transformers_nor_sklearn() -> None:
    code = ("import sys, docqa.embedding as e; from docqa import Settings\n"
            "v = e.get_embedder(Settings().model_name).encode_queries(['What is NATO?'])\n"
            "assert v.shape == (1, 384), v.shape\n"
            "print(sorted(m for m in ('sentence_transformers', 'sklearn', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_long_and_odd_texts_match_sentence_transformers(embedder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)
    texts = [" ".join(["troops"] * 400), "x", "", "Ünïcödé – “quotes” 中文 🎉", "Article 5?"]
    mine = embedder.model.encode(texts)
    np.testing.assert_allclose(mine, reference.encode(texts, normalize_embeddings=True), atol=1e-5)
    assert len(embedder.model.tokenize(texts[:1])[0].ids) == reference.max_seq_length == 256


def test_a_folder_that_is_not_a_mean_pooled_bert_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(bundled_model_path(), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    with pytest.raises(ModelError, match="not a mean-pooled, normalised BERT"):
        BertEncoder(folder)
