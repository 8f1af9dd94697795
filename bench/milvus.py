"""Item 9, the Milvus store beside the FAISS folder, in the same run: build throughput, warm ask() and the JSON
`/ask` route over real HTTP, how soon a second Assistant sees a change, whether both stores give the same answers
on the seed gold set and the Rhine set, and how far Milvus's own hybrid search (BM25 analyzer + dense, RRF) agrees
with docqa's ranking. `--milvus-passages N` adds a synthetic corpus of N passages (the standard library's
docstrings as text, hashed vectors: it measures the stores, not the model) with each replica's memory measured in
a fresh process; 100,000 takes a quarter of an hour here."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from .common import ROOT, Row, ms, p50

# ../shared beside the main checkout (/work/main), or two levels up from a worktree (/work/wt/<name>)
RHINE = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
              if (p / "eval-data" / "squad2-dev-rhine.json").is_file()), ROOT.parent / "shared") \
    / "eval-data" / "squad2-dev-rhine.json"


def rhine(folder: Path) -> list[str]:
    """Write the Rhine article (SQuAD 2.0 dev) as rhine.txt in `folder`; return its 498 questions."""
    data = json.loads(RHINE.read_text(encoding="utf-8"))
    article = next(a for a in data["data"] if a["title"] == "Rhine")
    paragraphs = [p["context"].strip() for p in article["paragraphs"]]
    (folder / "rhine.txt").write_text("Rhine\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return [q["question"] for p in article["paragraphs"] for q in p["qas"]]


def _top(answer) -> tuple[str, int, int] | None:
    passages = answer.passages or answer.closest
    return (passages[0].source, passages[0].start, passages[0].end) if passages else None


def _timed_build(make) -> tuple[float, object]:
    start = time.perf_counter()
    assistant = make()
    assistant.load()
    return time.perf_counter() - start, assistant


def run(work: Path, seeds: Path, embedder, settings, questions: list[str], smoke: bool,
        large: int | None = None) -> list[Row]:
    """The rows of item 9. `seeds` is a folder of the seed documents; everything else is made under `work`."""
    from docqa import Assistant

    work = work / "milvus"
    shutil.rmtree(work, ignore_errors=True)
    sources = work / "sources"
    shutil.copytree(seeds, sources)
    extra = rhine(sources) if RHINE.is_file() else []
    rows: list[Row] = []
    # Build throughput: the same documents, the same embedder, into each store.
    t_folder, folder = _timed_build(lambda: Assistant(sources=sources, index_dir=work / "index", settings=settings,
                                                      embedder=embedder))
    store = f"milvus:{work / 'docqa.db'}"
    t_milvus, milvus = _timed_build(lambda: Assistant(sources=sources, settings=settings, embedder=embedder,
                                                      store=store))
    n = milvus.retriever.stored.manifest.passage_count
    rows.append(Row("9 milvus", f"build {n} passages (seed + Rhine), embedding included",
                    f"{n / t_milvus:.1f} passages/s",
                    f"FAISS folder {n / t_folder:.1f} passages/s", f"{t_milvus / t_folder:.2f}", "-"))
    rows += warm_asks(folder, milvus, questions, f"{n} passages")
    rows += http_rows({"folder": folder, "milvus": milvus}, questions, f"{n} passages")
    from docqa.evaluation import load_gold

    gold = load_gold()
    everything = [q["question"] for q in gold.answerable] + list(gold.off_topic) + extra
    rows += agreement(folder, milvus, everything, smoke)
    rows.append(freshness(sources, store, settings, embedder, milvus))
    milvus.store.close()
    if large:
        try:
            scale(work, large, settings, rows)
        except Exception as exc:  # keep the rows measured so far
            rows.append(Row("9 milvus", f"{large} passages: failed ({type(exc).__name__}: {str(exc)[:300]})",
                            "-", "-", "-", "-"))
    return rows


def agreement(folder, milvus, questions: list[str], smoke: bool) -> list[Row]:
    """Same top passage and same found/abstained between the stores; byte-exact citations; and Milvus's own
    hybrid search against docqa's ranking."""
    same_top = same_found = exact = cited = native_top = native_in = 0
    stored = milvus.retriever.stored
    where = {(c.source, c.start, c.end): i for i, c in enumerate(stored.chunks)}
    for q in questions:
        a, b = folder.ask(q), milvus.ask(q)
        same_top += _top(a) == _top(b)
        same_found += a.found == b.found
        for p in b.passages + b.closest:
            cited += 1
            exact += milvus.document(p.source).text[p.start : p.end] == p.text
        top = _top(b)
        if top is not None:
            vector = milvus.embedder.encode_query(b.query).vector
            native = milvus.store.search(vector, b.query, milvus.settings.candidates, milvus.settings.rrf_k)
            native_top += bool(native) and native[0] == where[top]
            native_in += where[top] in native
    n = len(questions)
    return [
        Row("9 milvus", f"same top passage as the FAISS folder, {n} questions (seed gold set + Rhine set)",
            f"{same_top / n:.3f}", "FAISS folder", "-", ">= 0.95", None if smoke else same_top / n >= 0.95),
        Row("9 milvus", "same found/abstained decision", f"{same_found / n:.3f}", "FAISS folder", "-", ">= 0.95",
            None if smoke else same_found / n >= 0.95),
        Row("9 milvus", f"citations byte-exact (source[start:end] == text), {cited} cited",
            f"{exact / max(cited, 1):.3f}", "-", "-", "1.000", None if smoke else exact == cited),
        Row("9 milvus", "Milvus hybrid_search alone (its BM25 analyzer + dense, RRF): top-1 = docqa's top",
            f"{native_top / n:.3f}", "docqa ranking", "-", "-"),
        Row("9 milvus", "docqa's top passage among Milvus's hybrid top-50 candidates", f"{native_in / n:.3f}",
            "docqa ranking", "-", "-"),
    ]


def freshness(sources: Path, store: str, settings, embedder, writer) -> Row:
    """How soon a second Assistant on the same collection answers from a document the first one added."""
    from docqa import Assistant

    reader = Assistant(sources=sources, settings=settings, embedder=embedder, store=store)
    reader.load()
    note = sources.parent / "freshness-note.txt"
    note.write_text("Freshness note\n\nThe quartermaster's ledger lists 417 crates of zucchini.\n", encoding="utf-8")
    question = "How many crates of zucchini does the quartermaster's ledger list?"
    writer.add([note])
    committed = time.perf_counter()
    while not any(p.source == note.name for p in reader.ask(question).passages):
        if time.perf_counter() - committed > 60:
            break
        time.sleep(0.02)
    seen = time.perf_counter() - committed
    writer.remove(note.name)
    reader.store.close()
    return Row("9 milvus", "a second Assistant answers from a document added by the first, after commit",
               f"{seen * 1e3:.0f} ms", f"refresh every {settings.store_refresh_seconds:.1f} s", "-",
               f"<= {settings.store_refresh_seconds:.1f} s + reload")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ask_server(assistant):
    """The JSON `POST /ask` route of `serving` (without the Gradio page) on a free local port, over real HTTP."""
    from fastapi import FastAPI

    from docqa.serving import Server, ask_endpoint

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route("/ask", ask_endpoint(assistant, None), methods=["POST"], include_in_schema=False)
    server = Server(app, "127.0.0.1", _free_port()).start()
    try:
        yield server.url + "ask"
    finally:
        server.close()


def http_rows(assistants: dict, questions: list[str], size: str) -> list[Row]:
    """Warm `POST /ask` p50 / p95 per store, one server each, questions interleaved; the Milvus store's round
    trips per question."""
    import httpx

    with ask_server(assistants["folder"]) as folder_url, ask_server(assistants["milvus"]) as milvus_url, \
            httpx.Client(timeout=120) as http:
        urls = {"folder": folder_url, "milvus": milvus_url}
        for url in urls.values():  # warm: the first request builds the route's thread pool
            http.post(url, json={"question": questions[0]}).raise_for_status()
        timed: dict[str, list[float]] = {"folder": [], "milvus": []}
        for i, q in enumerate(questions):
            for name in ("folder", "milvus") if i % 2 == 0 else ("milvus", "folder"):
                start = time.perf_counter()
                http.post(urls[name], json={"question": q}).raise_for_status()
                timed[name].append(time.perf_counter() - start)
    return [Row("9 milvus", f"warm POST /ask over HTTP p50 / p95, {len(questions)} questions, {size}",
                ms(timed["milvus"]), f"FAISS folder {ms(timed['folder'])}",
                f"{p50(timed['milvus']) / p50(timed['folder']):.2f}", "-")]


def warm_asks(folder, milvus, questions: list[str], size: str) -> list[Row]:
    """Warm ask() p50 / p95 per store, interleaved; and the Milvus store's round trips per question."""
    vectors = getattr(milvus.retriever.stored.faiss_index, "_v", None)
    milvus.ask(questions[0])  # the first question also makes the null cosine (one more search)
    folder.ask(questions[0])
    calls = vectors.calls if vectors is not None else 0
    asked: dict[str, list[float]] = {"folder": [], "milvus": []}
    for i, q in enumerate(questions):
        for name in ("folder", "milvus") if i % 2 == 0 else ("milvus", "folder"):
            start = time.perf_counter()
            (folder if name == "folder" else milvus).ask(q)
            asked[name].append(time.perf_counter() - start)
    rows = [Row("9 milvus", f"warm ask() p50 / p95, {len(questions)} questions, {size}", ms(asked["milvus"]),
                f"FAISS folder {ms(asked['folder'])}", f"{p50(asked['milvus']) / p50(asked['folder']):.2f}", "-")]
    if vectors is not None:
        rows.append(Row("9 milvus", f"Milvus round trips per warm ask() (search + batched gets; cached vectors "
                                    f"reused), {size}", f"{(vectors.calls - calls) / len(questions):.1f}",
                        "-", "-", "-"))
    return rows


RSS_SCRIPT = """
import json, os, pickle, sys, time
from docqa import Assistant
from docqa.hash_embedder import HashEmbedder

def rss(pid, field="VmRSS"):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

args = json.loads(sys.argv[1])
with open(args["settings"], "rb") as f:
    settings = pickle.load(f)
where = {"index_dir": args["index"]} if args.get("index") else {"store": args["store"]}
# What any replica loads whatever the corpus (code, word frequencies, the abstention model...), loaded by a
# two-sentence folder index first, so that `base` leaves out all but what the corpus costs.
import tempfile
from pathlib import Path
with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "s").mkdir()
    (Path(tmp) / "s" / "a.txt").write_text("Warm up\\n\\nThe river flows north. It floods in spring.\\n")
    Assistant(sources=Path(tmp) / "s", index_dir=Path(tmp) / "i", settings=settings,
              embedder=HashEmbedder(args["dims"])).ask("Where does the river flow?")
if "store" in where:
    import pymilvus, docqa.milvus_store, docqa.milvus_vectors
base = rss(os.getpid())
a = Assistant(sources=args["sources"], settings=settings, embedder=HashEmbedder(args["dims"]), **where)
start = time.perf_counter()
rebuilt = a.load().rebuilt
loaded = time.perf_counter() - start
for q in args["questions"]:
    a.ask(q)
print(json.dumps({"base": base, "rss": rss(os.getpid()), "peak": rss(os.getpid(), "VmHWM"), "load": loaded,
                  "rebuilt": rebuilt}))
"""

# Milvus Lite 3 runs its engine in a thread of the process that opens the file, serving gRPC on a local port:
# run it in a process of its own, so the replica's memory and Milvus's are measured apart.
LITE_SERVER = """
import sys
from milvus_lite.server_manager import server_manager_instance
print(server_manager_instance.start_and_get_uri(sys.argv[1]), flush=True)
sys.stdin.read()
"""


def _rss(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def lite_server(path: Path):
    """Milvus Lite serving `path` from a process of its own; yields (its http:// URI, its pid)."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(path))  # this process's engine lets go of the file
    proc = subprocess.Popen([sys.executable, "-c", LITE_SERVER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        uri = (proc.stdout.readline() if proc.stdout else "").strip()
        if not uri.startswith("http://"):
            raise RuntimeError(f"Milvus Lite did not start for {path}: {uri!r}")
        yield uri, proc.pid
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def replica_memory(corpus: Path, settings, where: dict, questions: list[str], work: Path) -> dict:
    """A fresh process that loads the index as a web replica would and answers `questions`: its RSS (and its
    child processes', i.e. Milvus Lite's server)."""
    pickled = work / "settings.pickle"
    pickled.write_bytes(pickle.dumps(settings))
    args = {"sources": str(corpus), "settings": str(pickled), "dims": 384, "questions": questions, **where}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, json.dumps(args)], capture_output=True, text=True,
                         env=env, timeout=3600)
    if out.returncode:
        raise RuntimeError(f"replica memory: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_large(folder: Path, passages: int, max_chars: int) -> int:
    """The standard library's docstrings (bench.corpus: about 11,000 passages) as documents, then again as
    numbered variants (each paragraph ends with "Variant N.", so every copy is a new document with its own
    hashed vectors) until `passages` passages; returns the count."""
    from docqa.chunking import chunk_document
    from docqa.sources import split_paragraphs
    from docqa.types import Document

    from .corpus import module_texts

    folder.mkdir(parents=True, exist_ok=True)
    texts = list(module_texts())
    count, copy = 0, 0
    while count < passages:
        for module, text in texts:
            if count >= passages:
                break
            if copy:
                title, _, body = text.partition("\n\n")
                text = f"{title} ({copy})\n\n" + "\n\n".join(f"{p.rstrip()} Variant {copy}."
                                                              for p in body.strip().split("\n\n")) + "\n"
            name = f"{module}.txt" if not copy else f"{module}.v{copy}.txt"
            doc = Document(name, name, text, "", split_paragraphs(text))
            count += len(chunk_document(doc, max_chars))
            (folder / name).write_text(text, encoding="utf-8")
        copy += 1
    return count


def scale(work: Path, count: int, settings, out: list[Row]) -> None:
    """Write, load, warm ask() and /ask at `count` synthetic passages (hashed vectors) in both stores, and each
    replica's memory in a fresh process; rows go to `out` as they are measured."""
    from docqa import Assistant

    from docqa.hash_embedder import HashEmbedder

    corpus = work / "large"
    write_large(corpus, count, settings.max_passage_chars)
    embedder = HashEmbedder(384)
    quick = replace(settings, store_refresh_seconds=3600.0)
    t_folder, folder = _timed_build(lambda: Assistant(sources=corpus, index_dir=work / "large-index",
                                                      settings=quick, embedder=embedder))
    store = f"milvus:{work / 'large.db'}"
    t_milvus, milvus = _timed_build(lambda: Assistant(sources=corpus, settings=quick, embedder=embedder,
                                                      store=store))
    n = milvus.retriever.stored.manifest.passage_count
    sentences = milvus.retriever.stored.manifest.sentence_count
    out.append(Row("9 milvus", f"build {n} passages, hashed vectors (store cost, not the model)",
                   f"{n / t_milvus:.0f} passages/s", f"FAISS folder {n / t_folder:.0f} passages/s",
                   f"{t_milvus / t_folder:.2f}", "-"))
    from .query import questions

    qs = questions(50)
    out += warm_asks(folder, milvus, qs[:30], f"{n} passages, hashed query vectors")
    out += http_rows({"folder": folder, "milvus": milvus}, qs[30:], f"{n} passages, hashed query vectors")
    milvus.store.close()
    del folder, milvus
    f = replica_memory(corpus, quick, {"index": str(work / "large-index")}, qs[:5], work)
    with lite_server(work / "large.db") as (uri, pid):  # the replica talks to it over gRPC, as to a server
        m = replica_memory(corpus, quick, {"store": uri}, qs[:5], work)
        lite, lite_peak = _rss(pid), _rss(pid, "VmHWM")
    out.append(Row("9 milvus", f"load {n} passages into a new replica process (no rebuild: "
                               f"{not f['rebuilt'] and not m['rebuilt']})", f"{m['load']:.1f} s",
                   f"FAISS folder {f['load']:.1f} s", f"{m['load'] / f['load']:.2f}", "-"))
    mib = 1 << 20
    out.append(Row("9 milvus", f"replica RSS after load + 5 answers, {n} passages, {sentences} sentences",
                   f"{m['rss'] / mib:.0f} MiB (peak {m['peak'] / mib:.0f}); Milvus Lite's own process "
                   f"{lite / mib:.0f} MiB (peak {lite_peak / mib:.0f})",
                   f"FAISS folder {f['rss'] / mib:.0f} MiB (peak {f['peak'] / mib:.0f})",
                   f"{m['rss'] / f['rss']:.2f}", "-"))
    out.append(Row("9 milvus", "replica bytes per passage above the bare process (text, offsets, BM25, objects)",
                   f"{(m['rss'] - m['base']) / n:.0f} B", f"FAISS folder {(f['rss'] - f['base']) / n:.0f} B",
                   f"{(m['rss'] - m['base']) / max(f['rss'] - f['base'], 1):.2f}", "-"))
