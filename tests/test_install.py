"""What `pip install` reads: every library docqa imports is declared, and the Python range is the one CI tests."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_levels(folder: Path) -> set[str]:
    names = set()
    for path in ([folder] if folder.is_file() else folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"docqa", "__future__"}


def test_every_library_the_package_imports_is_a_declared_dependency():
    """The core's imports are dependencies; the Milvus store's (milvus_*.py) may come from the [milvus] extra."""
    declared = {_normal(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    milvus = declared | {_normal(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["milvus"]}
    providers = metadata.packages_distributions()
    package = ROOT / "src" / "docqa"
    core = set().union(*(_imported_top_levels(p) for p in package.rglob("*.py") if not p.name.startswith("milvus_")))
    for module in sorted(_imported_top_levels(package)):
        dists = {_normal(d) for d in providers.get(module, [])}
        assert dists, f"docqa imports {module!r}, which no installed distribution provides"
        allowed = declared if module in core else milvus
        assert dists & allowed, f"docqa imports {module!r} ({sorted(dists)}), which pyproject.toml doesn't declare"


def test_supported_pythons_are_3_11_to_3_13_and_ci_tests_the_ends():
    supported = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in supported] == ["3.11", "3.12", "3.13"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "test_on 3.11 python3.11" in ci and "test_on 3.13 env PYENV_VERSION=3.13.0 python3.13" in ci


def test_this_python_is_a_supported_one():
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in SpecifierSet(
        PYPROJECT["project"]["requires-python"])
