"""Item 6, indexing throughput: a full build against the bare model.encode over the same passages, then a
re-index with nothing changed, then one added document (only its passages may be embedded)."""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .common import Row, p50
from .corpus import write_corpus


class CountingEmbedder:
    """Wraps an embedder and counts the passages it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.dims = inner.name, inner.dims
        self.passages = 0

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def encode_query(self, text):
        return self.inner.encode_query(text)

    def encode_chunks(self, chunks, progress: bool = False):
        self.passages += len(chunks)
        return self.inner.encode_chunks(chunks, progress=progress)


def sweep(encode_with: Callable[[Sequence[str], int], None], texts: Sequence[str], batch_sizes: Sequence[int],
          threads: Sequence[int], repeats: int) -> list[Row]:
    """docqa's encoder throughput for each (torch threads, batch size) pair over `texts`, interleaved."""
    import torch

    before = torch.get_num_threads()
    rates: dict[tuple[int, int], list[float]] = {(t, b): [] for t in threads for b in batch_sizes}
    try:
        for r in range(repeats):
            pairs = list(rates) if r % 2 == 0 else list(reversed(rates))
            for t, b in pairs:
                torch.set_num_threads(t)
                start = time.perf_counter()
                encode_with(texts, b)
                rates[(t, b)].append(len(texts) / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(before)
    best = max(rates, key=lambda k: p50(rates[k]))
    return [Row("6 indexing", f"docqa encoder, {t} thread(s), batch {b}, {len(texts)} passages",
                f"{p50(v):.1f} passages/s", f"best: {best[0]} thread(s), batch {best[1]}",
                f"{p50(v) / p50(rates[best]):.2f}", "-") for (t, b), v in rates.items()]


def run(work: Path, passages: int, embedder, bare_encode: Callable[[Sequence[str]], None], settings,
        smoke: bool, noop_repeats: int = 5) -> tuple[list[Row], Path]:
    """Build an index of >= `passages` stdlib passages under `work`; returns the rows and the index folder."""
    from docqa.indexing import sync_index

    sources, index_dir = work / "corpus", work / "corpus-index"
    shutil.rmtree(sources, ignore_errors=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    _, names = write_corpus(sources, passages, settings.max_passage_chars)
    counting = CountingEmbedder(embedder)

    # Full builds and bare encodes of the same passage texts, in the order build, bare, bare, build (so a
    # machine that gets busier or quieter during the run weighs on both alike); each side's mean.
    builds, bares = [], []
    stored = None
    for step in ("build", "bare", "bare", "build")[: 2 if smoke else 4]:
        start = time.perf_counter()
        if step == "build":
            stored, _, report = sync_index(sources, index_dir, settings, counting, force=stored is not None)
            builds.append(time.perf_counter() - start)
            assert report.rebuilt and counting.passages == len(builds) * stored.manifest.passage_count
        else:
            bare_encode([c.text for c in stored.chunks])
            bares.append(time.perf_counter() - start)
    n = stored.manifest.passage_count
    build, bare = sum(builds) / len(builds), sum(bares) / len(bares)
    counting.passages = n

    noop = []
    for _ in range(noop_repeats):
        start = time.perf_counter()
        _, _, report = sync_index(sources, index_dir, settings, counting)
        noop.append(time.perf_counter() - start)
        assert not report.rebuilt and counting.passages == n

    write_corpus(work / "extra", 1, settings.max_passage_chars, skip=len(names) + 1)
    added = next((work / "extra").glob("*.txt"))
    shutil.copy(added, sources / added.name)
    start = time.perf_counter()
    stored, _, report = sync_index(sources, index_dir, settings, counting)
    add = time.perf_counter() - start
    new = stored.manifest.passage_count - n
    assert report.embedded == (added.name,) and counting.passages == n + new, (report, counting.passages, new)
    shutil.rmtree(work / "extra")
    (sources / added.name).unlink()  # leave the corpus and its index as built, for the scale item

    rate, bare_rate = n / build, n / bare
    noop_share = p50(noop) / build
    rows = [
        Row("6 indexing", f"full build, {n} passages (mean of {len(builds)})", f"{rate:.1f} passages/s ({build:.0f} s)",
            f"model.encode {bare_rate:.1f} passages/s ({bare:.0f} s)", f"{rate / bare_rate:.2f}", ">= 0.9",
            None if smoke else rate / bare_rate >= 0.9),
        Row("6 indexing", f"re-index, nothing changed (p50 of {noop_repeats})", f"{p50(noop):.2f} s",
            f"full build {build:.1f} s", f"{noop_share:.1%}", "<= 2%", None if smoke else noop_share <= 0.02),
        Row("6 indexing", f"add 1 document ({new} passages)", f"{add:.2f} s, embedded {new} passages",
            f"full build {build:.1f} s", f"{add / build:.1%}", "only its passages embedded",
            None if smoke else True),
    ]
    sync_index(sources, index_dir, settings, counting)  # back to the corpus without the added document
    return rows, index_dir
