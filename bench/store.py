"""The index store under load: build memory against corpus size, questions during a build, and how soon a loaded
Assistant sees another process's change. Each part runs on its own:

    python -m bench.store memory [--sizes 0.25,0.5,1] [--src PATH]   peak RSS of a build, in a child per size
    python -m bench.store during [--kb 250] [--src PATH]             ask() latency idle and during a build
    python -m bench.store refresh                                    another process adds / edits; next ask()

`--src` runs the child against another checkout's `src` (e.g. the code before the change) for a same-run
baseline. Figures go to docs/benchmarks.md by hand, with the command that made them.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from .common import ROOT, p50, p95

WORDS = ("river mountain city council budget report treaty defence energy water school museum harbour railway "
         "bridge farmer market winter summer village museum library engine signal forest coast island").split()
QUESTIONS = ["What did Hegseth say about Article 5?", "Will U.S. troops be sent to Ukraine?",
             "How does Trump plan to pressure Russia?", "What percent of GDP should NATO members spend?"]


def write_text(path: Path, size: int, seed: int) -> None:
    """`size` characters of plain sentences in paragraphs of four (deterministic)."""
    rng = random.Random(seed)
    paragraphs: list[str] = [f"Document {seed}"]
    total = 0
    while total < size:
        paragraph = " ".join((" ".join(rng.choice(WORDS) for _ in range(14)) + ".").capitalize() for _ in range(4))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")


def _env(src: Path | None) -> dict[str, str]:
    path = [str(src or ROOT / "src"), str(ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


MEMORY_CHILD = """
import json, sys, time
from pathlib import Path
from docqa import Settings
from docqa.embedding import get_embedder
from docqa.indexing import sync_index

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

embedder = get_embedder(Settings().model_name)
embedder.encode_queries(["warm up"])
before = hwm()
start = time.perf_counter()
stored, _, _ = sync_index(sys.argv[1], sys.argv[2], Settings(), embedder)
print(json.dumps({"passages": len(stored.chunks), "seconds": time.perf_counter() - start,
                  "model_loaded_mb": before, "peak_mb": hwm()}))
"""


def memory(sizes: list[float], src: Path | None, work: Path) -> list[dict]:
    """Peak RSS of a full build (real model) of `size` MB of text in documents of 250 KB, one child per size."""
    rows = []
    for size in sizes:
        sources, index = work / f"mem-{size}", work / f"mem-{size}-index"
        shutil.rmtree(sources, ignore_errors=True)
        shutil.rmtree(index, ignore_errors=True)
        sources.mkdir(parents=True)
        count = max(1, round(size * 4))
        for i in range(count):
            write_text(sources / f"doc-{i:03d}.txt", int(size * 1e6 / count), i)
        done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(sources), str(index)], env=_env(src),
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        row = {"corpus_mb": size, "documents": count, **json.loads(done.stdout.strip().splitlines()[-1])}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


DURING_CHILD = """
import json, shutil, sys, threading, time
from pathlib import Path
from docqa import Assistant
questions, doc, work = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
shutil.copytree(Path(sys.argv[4]), work / "seeds")
assistant = Assistant(work / "seeds", work / "index")
assistant.load()

def timed(q):
    start = time.perf_counter()
    assistant.ask(q)
    return time.perf_counter() - start

idle = [timed(q) for _ in range(5) for q in questions]
building = threading.Event()
def build():
    building.set()
    start = time.perf_counter()
    assistant.add([doc])
    out["build"] = time.perf_counter() - start
out = {}
thread = threading.Thread(target=build)
thread.start()
building.wait()
during = []
while thread.is_alive():
    during.append(timed(questions[len(during) % len(questions)]))
    time.sleep(0.2)
thread.join()
print(json.dumps({"idle": idle, "during": during, "build": out["build"]}))
"""


def during(kb: int, src: Path | None, work: Path) -> dict:
    """ask() latency idle and while the same Assistant adds (indexes) a document of `kb` KB, real model."""
    doc = work / "upload.txt"
    write_text(doc, kb * 1000, 99)
    shutil.rmtree(work / "during", ignore_errors=True)
    (work / "during").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", DURING_CHILD, json.dumps(QUESTIONS), str(doc), str(work / "during"),
                           str(ROOT / "seeds")], env=_env(src), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    data = json.loads(done.stdout.strip().splitlines()[-1])
    summary = {"kb": kb, "build_s": round(data["build"], 1), "questions_during": len(data["during"]),
               "idle_p50_ms": round(p50(data["idle"]) * 1e3), "idle_p95_ms": round(p95(data["idle"]) * 1e3),
               "during_p50_ms": round(p50(data["during"]) * 1e3) if data["during"] else None,
               "during_max_ms": round(max(data["during"]) * 1e3) if data["during"] else None}
    print(json.dumps(summary), flush=True)
    return summary


ADD = textwrap.dedent("""
    import sys
    from docqa import Assistant
    Assistant(sys.argv[1], sys.argv[2]).add([sys.argv[3]])
""")


def refresh(work: Path, repeats: int = 3) -> dict:
    """How long the first question takes after another process adds a document (`Assistant.add` in a child,
    real model) or edits a cited file, against a question with nothing changed; and the per-question cost
    of the checks."""
    from docqa import Assistant
    from docqa.store import current_version

    shutil.rmtree(work / "refresh", ignore_errors=True)
    shutil.copytree(ROOT / "seeds", work / "refresh" / "seeds")
    sources, index = work / "refresh" / "seeds", work / "refresh" / "index"
    assistant = Assistant(sources, index)
    assistant.load()

    def timed(question: str) -> tuple[float, object]:
        start = time.perf_counter()
        answer = assistant.ask(question)
        return time.perf_counter() - start, answer

    steady = [timed(QUESTIONS[0])[0] for _ in range(10)]
    added, edited = [], []
    for i in range(repeats):
        doc = work / "refresh" / f"rivers-{i}.md"
        doc.write_text(f"# Rivers {i}\n\nThe river Rhine{i} is about {1230 + i} kilometres long.\n", encoding="utf-8")
        subprocess.run([sys.executable, "-c", ADD, str(sources), str(index), str(doc)], env=_env(None), check=True,
                       capture_output=True)
        seconds, answer = timed(f"How long is the river Rhine{i}?")
        assert answer.found and answer.passages[0].source == doc.name, answer.markdown  # type: ignore[attr-defined]
        added.append(seconds)
        path = sources / doc.name
        path.write_text(path.read_text(encoding="utf-8").replace("long", "long, give or take"), encoding="utf-8")
        seconds, answer = timed(f"How long is the river Rhine{i}?")
        cited = answer.passages[0]  # type: ignore[attr-defined]
        assert path.read_text(encoding="utf-8")[cited.start : cited.end] == cited.text
        edited.append(seconds)
    start = time.perf_counter()
    for _ in range(10_000):
        current_version(index)
    pointer = (time.perf_counter() - start) / 10_000
    stored = assistant.retriever.stored
    name = next(iter(stored.manifest.sources))
    start = time.perf_counter()
    for _ in range(10_000):
        assistant._source_is_current(name, stored)
    cited_check = (time.perf_counter() - start) / 10_000
    out = {"steady_ask_p50_ms": round(p50(steady) * 1e3, 1), "after_add_p50_ms": round(p50(added) * 1e3, 1),
           "after_edit_p50_ms": round(p50(edited) * 1e3, 1), "pointer_check_us": round(pointer * 1e6, 1),
           "cited_file_check_us": round(cited_check * 1e6, 1), "repeats": repeats}
    print(json.dumps(out), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["memory", "during", "refresh"])
    p.add_argument("--sizes", default="0.25,0.5,1", help="corpus sizes in MB (memory)")
    p.add_argument("--kb", type=int, default=250, help="size of the document added during questions (during)")
    p.add_argument("--src", type=Path, default=None, help="run the child against this src folder")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="docqa-bench-store-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"command: python -m bench.store {' '.join(argv if argv is not None else sys.argv[1:])}; "
          f"load average {os.getloadavg()[0]:.1f}; nproc {os.cpu_count()}", flush=True)
    if args.part == "memory":
        memory([float(s) for s in args.sizes.split(",")], args.src, work)
    elif args.part == "during":
        during(args.kb, args.src, work)
    else:
        refresh(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
