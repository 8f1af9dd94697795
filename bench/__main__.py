"""`python -m bench [--smoke | --quick] [--only ITEMS]`: run the benchmarks and print one Markdown table."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from docqa.hash_embedder import HashEmbedder

from .common import ROOT, Row, format_table, machine

ITEMS = ("import", "cli", "query", "indexing", "scale", "quality", "ready", "web", "milvus")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--smoke", action="store_true",
                   help="check that every item runs, in seconds, with a hashed fake embedder and tiny sizes; "
                        "times nothing worth reading")
    p.add_argument("--quick", action="store_true", help="smaller sizes (1,000 passages, 100,000 vectors)")
    p.add_argument("--only", default=",".join(ITEMS), help=f"comma-separated items, from: {', '.join(ITEMS)}")
    p.add_argument("--passages", type=int, default=None, help="item 6 corpus size (default 10,000)")
    p.add_argument("--vectors", type=int, default=None, help="item 7 index size (default 1,000,000)")
    p.add_argument("--questions", type=int, default=None, help="item 1 questions (default 200)")
    p.add_argument("--repeats", type=int, default=None, help="fresh processes per side, items 2-4 (default 5)")
    p.add_argument("--milvus-passages", type=int, default=None,
                   help="item 9: also a synthetic corpus of this many passages in both stores (100000: minutes)")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows and the machine as JSON here")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(ITEMS)
    if unknown:
        p.error(f"unknown item(s): {', '.join(sorted(unknown))}")
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    defaults = {"smoke": (150, 3000, 6, 1), "quick": (1000, 100_000, 50, 3), "full": (10_000, 1_000_000, 200, 5)}
    passages, vectors, questions, repeats = defaults[size]
    args.passages = args.passages or passages
    args.vectors = args.vectors or vectors
    args.questions = args.questions or questions
    args.repeats = args.repeats or repeats
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = args.only.split(",")
    smoke = args.smoke
    work = args.work or Path(tempfile.mkdtemp(prefix="docqa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    info["command"] = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)

    from docqa import Assistant, Settings

    settings = Settings()
    if smoke:
        embedder = HashEmbedder()
        bare_encode = embedder.encode_queries
    else:
        from docqa.embedding import get_embedder

        from .common import bare_model

        embedder = get_embedder(settings.model_name, settings.encode_batch_size)
        model = bare_model()

        def bare_encode(texts, batch_size: int = 32):
            return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)

    seeds, seed_index = work / "seeds", work / "seed-index"
    shutil.rmtree(seeds, ignore_errors=True)
    shutil.copytree(ROOT / "seeds", seeds)
    assistant = Assistant(sources=seeds, index_dir=seed_index, settings=settings, embedder=embedder)
    assistant.load()

    rows: list[Row] = []

    def section(name: str, produce) -> None:
        if name not in only:
            return
        start = time.perf_counter()
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        new = produce()
        rows.extend(new)
        print(format_table(new), file=sys.stderr)
        print(f"-- {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    from . import indexing, quality, query, scale, startup, web

    section("import", lambda: startup.run_import(max(args.repeats * 4, 2), smoke))
    section("cli", lambda: startup.run_cold_cli(seeds, seed_index, args.repeats, smoke))
    section("query", lambda: query.run(assistant, bare_encode, args.questions, smoke))
    corpus_index = work / "corpus-index"

    def index_rows():
        nonlocal corpus_index
        out = []
        if not smoke:  # batch size and threads, on a fixed sample of docstring paragraphs
            from .corpus import module_texts

            sample = [p for _, text in module_texts() for p in text.split("\n\n")[1:]][:: 20][:200]
            out += indexing.sweep(lambda t, b: embedder.model.encode(list(t), batch_size=b), sample,
                                  (8, 16, 32, 64), (1, 2), 2)
        built, corpus_index = indexing.run(work, args.passages, embedder, bare_encode, settings, smoke)
        return built + out

    section("indexing", index_rows)

    def scale_rows():
        from docqa.indexing import sync_index
        from docqa.store import read_index

        if not (corpus_index / "CURRENT").is_file():
            from .corpus import write_corpus

            write_corpus(work / "corpus", min(args.passages, 2000), settings.max_passage_chars)
            sync_index(work / "corpus", corpus_index, settings, embedder)
        base = read_index(corpus_index).passage_vectors()
        return scale.run(base, args.vectors, 20 if smoke else 200, smoke)

    section("scale", scale_rows)
    section("quality", lambda: quality.run(assistant, bare_encode, smoke))
    if smoke:  # the web items need the real model in two servers: check they are wired, start nothing
        for name in ("ready", "web"):
            if name in only:
                assert (ROOT / "app.py").is_file() and callable(web.run_ready) and callable(web.run_web)
                rows.append(Row(f"{'4 app ready' if name == 'ready' else '5 web'}", "skipped in --smoke",
                                "-", "-", "-", "-"))
    else:
        section("ready", lambda: web.run_ready(seeds, seed_index, max(args.repeats - 2, 2), smoke))
        section("web", lambda: web.run_web(seeds, seed_index, query.questions(max(args.questions // 2, 10)), smoke))

    def milvus_rows():
        from importlib.util import find_spec

        if find_spec("pymilvus") is None or find_spec("milvus_lite") is None:
            return [Row("9 milvus", "skipped: pip install -e '.[milvus]'", "-", "-", "-", "-")]
        from . import milvus

        return milvus.run(work, seeds, embedder, settings, query.questions(args.questions), smoke,
                          args.milvus_passages)

    section("milvus", milvus_rows)
    print()
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
