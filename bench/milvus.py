"""Item 9, the Milvus store beside the FAISS folder, in the same run: build throughput, warm ask() and /ask,
how soon a second Assistant sees a change, whether both stores give the same answers on the seed gold set and
the Rhine set, and how far Milvus's own hybrid search (BM25 analyzer + dense, RRF) agrees with docqa's ranking.
`--milvus-passages N` adds a synthetic corpus of N passages (hashed vectors: it measures the stores, not the
model); 100,000 takes minutes here."""
from __future__ import annotations

import json
import shutil
import time
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
    # Warm ask(), interleaved.
    asked: dict[str, list[float]] = {"folder": [], "milvus": []}
    for i, q in enumerate(questions):
        for name in ("folder", "milvus") if i % 2 == 0 else ("milvus", "folder"):
            start = time.perf_counter()
            (folder if name == "folder" else milvus).ask(q)
            asked[name].append(time.perf_counter() - start)
    rows.append(Row("9 milvus", f"warm ask() p50 / p95, {len(questions)} questions, {n} passages",
                    ms(asked["milvus"]), f"FAISS folder {ms(asked['folder'])}",
                    f"{p50(asked['milvus']) / p50(asked['folder']):.2f}", "-"))
    from docqa.evaluation import load_gold

    gold = load_gold()
    everything = [q["question"] for q in gold.answerable] + list(gold.off_topic) + extra
    rows += agreement(folder, milvus, everything, smoke)
    rows.append(freshness(sources, store, settings, embedder, milvus))
    milvus.store.close()
    if large:
        rows += scale(work, large, settings)
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


def scale(work: Path, count: int, settings) -> list[Row]:
    """Write, load and warm ask() at `count` synthetic passages (hashed vectors) in both stores."""
    from docqa import Assistant

    from docqa.hash_embedder import HashEmbedder
    from .corpus import write_corpus

    corpus = work / "large"
    write_corpus(corpus, count, settings.max_passage_chars)
    embedder = HashEmbedder(384)
    quick = replace(settings, store_refresh_seconds=3600.0)
    out = []
    t_folder, folder = _timed_build(lambda: Assistant(sources=corpus, index_dir=work / "large-index",
                                                      settings=quick, embedder=embedder))
    store = f"milvus:{work / 'large.db'}"
    t_milvus, milvus = _timed_build(lambda: Assistant(sources=corpus, settings=quick, embedder=embedder,
                                                      store=store))
    n = milvus.retriever.stored.manifest.passage_count
    out.append(Row("9 milvus", f"build {n} passages, hashed vectors (store cost, not the model)",
                   f"{n / t_milvus:.0f} passages/s", f"FAISS folder {n / t_folder:.0f} passages/s",
                   f"{t_milvus / t_folder:.2f}", "-"))
    loads = {}
    for name, make in (("folder", lambda: Assistant(sources=corpus, index_dir=work / "large-index", settings=quick,
                                                    embedder=embedder)),
                       ("milvus", lambda: Assistant(sources=corpus, settings=quick, embedder=embedder, store=store))):
        loads[name], assistant = _timed_build(make)
        if name == "milvus":
            assistant.store.close()
    out.append(Row("9 milvus", f"load {n} passages into a new Assistant", f"{loads['milvus']:.1f} s",
                   f"FAISS folder {loads['folder']:.1f} s", f"{loads['milvus'] / loads['folder']:.2f}", "-"))
    from .query import questions

    asked: dict[str, list[float]] = {"folder": [], "milvus": []}
    for i, q in enumerate(questions(50)):
        for name in ("folder", "milvus") if i % 2 == 0 else ("milvus", "folder"):
            start = time.perf_counter()
            (folder if name == "folder" else milvus).ask(q)
            asked[name].append(time.perf_counter() - start)
    out.append(Row("9 milvus", f"warm ask() p50 / p95 at {n} passages, hashed query vectors", ms(asked["milvus"]),
                   f"FAISS folder {ms(asked['folder'])}", f"{p50(asked['milvus']) / p50(asked['folder']):.2f}", "-"))
    milvus.store.close()
    return out
