"""`Settings.model_name`: the bundled model, or any local sentence-transformers folder, offline.

Folders are made from the bundled model's own files: a plain copy (docqa's fast encoder runs it), a CLS-pooled
copy and one with an extra Dense layer to 128 dimensions (both refused by the fast encoder, so
sentence-transformers runs them)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from docqa import Assistant, ModelError, Settings
from docqa.embedding import SentenceEmbedder, SentenceTransformersEmbedder, bundled_model_path, load_embedder
from docqa.store import version_dir

from conftest import SEEDS

QUESTIONS = ["What did Hegseth say about Article 5?", "x", "Ünïcödé – “quotes” 🎉"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(bundled_model_path(), root / "copy")
    shutil.copytree(bundled_model_path(), root / "cls")
    pooling = root / "cls" / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    torch.manual_seed(0)
    dense = SentenceTransformer(modules=[Transformer(str(bundled_model_path())), Pooling(384, "mean"), Dense(384, 128)],
                                device="cpu")
    dense.save(str(root / "dense"))
    return {"copy": root / "copy", "cls": root / "cls", "dense": root / "dense"}


def _reference(folder: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return model.encode(QUESTIONS, normalize_embeddings=True)


def test_a_copy_of_the_bundled_folder_runs_through_the_fast_encoder_with_the_same_vectors(folders, embedder):
    chosen = load_embedder(str(folders["copy"]))
    assert isinstance(chosen, SentenceEmbedder) and chosen.path == folders["copy"]
    assert chosen.dims == embedder.dims == 384
    np.testing.assert_allclose(chosen.encode_queries(QUESTIONS), embedder.encode_queries(QUESTIONS), atol=1e-6)


def test_the_fast_path_for_a_chosen_folder_imports_no_sentence_transformers(folders):
    code = ("import sys; from docqa.embedding import get_embedder\n"
            f"e = get_embedder({str(folders['copy'])!r})\n"
            "print(e.encode_queries(['NATO']).shape, 'sentence_transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "(1, 384) False"


@pytest.mark.parametrize("kind, dims", [("cls", 384), ("dense", 128)])
def test_a_folder_the_fast_encoder_refuses_runs_through_sentence_transformers(folders, kind, dims):
    chosen = load_embedder(str(folders[kind]))
    assert isinstance(chosen, SentenceTransformersEmbedder)
    assert chosen.dims == dims  # asked of the model, never assumed
    vectors = chosen.encode_queries(QUESTIONS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(QUESTIONS), dims)
    np.testing.assert_allclose(vectors, _reference(folders[kind]), atol=1e-5)
    query = chosen.encode_query(QUESTIONS[0])
    np.testing.assert_allclose(query.vector, vectors[0], atol=1e-5)
    if kind == "cls":  # token vectors share the sentence space: the grounding check can use them
        assert query.tokens.shape[1] == dims and len(query.spans) == len(query.tokens)
    else:  # the Dense layer changes the size: no token vectors rather than vectors of another space
        assert query.tokens.shape == (0, dims) and query.part([(0, 4)]) is None


def test_an_assistant_indexes_and_answers_with_a_128_dimension_model(folders, tmp_path):
    shutil.copytree(SEEDS, tmp_path / "seeds")
    settings = Settings(model_name=str(folders["dense"]))
    assistant = Assistant(sources=tmp_path / "seeds", index_dir=tmp_path / "index", settings=settings)
    answer = assistant.ask("What did Hegseth say about Article 5?")
    live = version_dir(tmp_path / "index")
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["model"]["dims"] == 128 and manifest["model"]["name"] == str(folders["dense"])
    assert np.load(live / "sentences.npy", allow_pickle=False).shape[1] == 128
    for p in answer.passages + answer.closest:
        text = (tmp_path / "seeds" / p.source).read_text(encoding="utf-8")
        assert text[p.start : p.end] == p.text


@pytest.mark.parametrize("name, content, message", [
    ("custom_module.py", b"print('ran')\n", "can carry code"),
    ("pytorch_model.bin", b"\x80\x04K\x01.", "can carry code"),
])
def test_a_chosen_folder_with_code_or_pickles_is_refused_before_loading(folders, tmp_path, name, content, message):
    for kind in ("copy", "cls"):
        folder = tmp_path / kind
        shutil.copytree(folders[kind], folder)
        (folder / name).write_bytes(content)
        with pytest.raises(ModelError, match=message):
            load_embedder(str(folder)).encode_queries(["NATO"])


def test_a_chosen_folder_with_a_module_from_outside_sentence_transformers_is_refused(folders, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(folders["cls"], folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "os.system"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelError, match="outside sentence-transformers: os.system"):
        load_embedder(str(folder)).encode_queries(["NATO"])


def test_a_missing_folder_says_what_model_name_may_be(tmp_path):
    with pytest.raises(ModelError, match="model folder not found: .*nowhere.*local sentence-transformers folder"):
        load_embedder(str(tmp_path / "nowhere"))
