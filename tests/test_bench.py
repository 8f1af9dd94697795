"""The benchmark script runs end to end in --smoke mode (nothing is timed or judged here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `bench` lives at the repository root, beside src/

from bench.quality import window_chunks  # noqa: E402
from bench.scale import synthesize  # noqa: E402


def test_smoke_run_prints_every_item(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    items = {row["item"] for row in json.loads(out.read_text())["rows"]}
    assert items == {"1 warm query", "2 import", "3 cold CLI", "4 app ready", "5 web", "6 indexing", "7 scale",
                     "8 quality", "9 milvus"}  # "9 milvus" says "skipped" without the [milvus] extra
    assert "| 6 indexing | full build" in done.stdout
    assert "nproc: " in done.stdout


def test_smoke_rejects_unknown_items() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--only", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown item(s): nope" in done.stderr


def test_synthetic_vectors_are_normalised_and_shaped_like_the_base() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((200, 16)).astype(np.float32) + 3.0  # a narrow cone, like real embeddings
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors = synthesize(base, 1000, 0.8, seed=1)
    assert vectors.shape == (1000, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    centre = base.mean(axis=0)  # still in the base's cone (isotropic noise would average about 0)
    assert abs(float((vectors @ centre).mean()) - float((base @ centre).mean())) < 0.05
    assert np.array_equal(vectors, synthesize(base, 1000, 0.8, seed=1))


def test_window_chunks_overlap_by_fifty() -> None:
    text = "x" * 1200
    assert window_chunks(text) == [(0, 500), (450, 950), (900, 1200)]
