"""What every benchmark shares: timing, interleaving, the result row, the table and the machine."""
from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure beside its same-run baseline, and the goal it is judged by."""

    item: str
    measure: str
    value: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None = None  # None: no goal, or nothing measured (smoke)

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "-"}[self.met]


def p50(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))


def p95(samples: Sequence[float]) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), 95))


def ms(samples: Sequence[float]) -> str:
    """'p50 / p95 ms' of samples in seconds."""
    return f"{p50(samples) * 1e3:.2f} / {p95(samples) * 1e3:.2f} ms"


def secs(samples: Sequence[float]) -> str:
    return f"{p50(samples):.2f} / {p95(samples):.2f} s"


def interleave(runs: dict[str, Callable[[], float | None]], repeats: int) -> dict[str, list[float]]:
    """Call each run `repeats` times, alternating which goes first, so drift and noise hit them alike.

    A run returns its own duration in seconds, or None to be timed from the outside."""
    names = list(runs)
    out: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            own = runs[name]()
            out[name].append(own if own is not None else time.perf_counter() - start)
    return out


def run_process(argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Wall time of a fresh process; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: offline, no tokenizer thread warnings, plus `extra`."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


def rss_bytes() -> int:
    """This process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def machine() -> dict[str, str]:
    """nproc, CPU model, load, versions and date: what a reader needs to compare figures."""
    cpu = "unknown"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "load average (1/5/15 min) at start": load,
        "python": platform.python_version(),
    }


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    head = ["item", "measure", "docqa", "baseline (same run)", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.item, r.measure, r.value, r.baseline, r.ratio, r.goal, r.verdict]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def bare_model():
    """The reference: a plain SentenceTransformer from the bundled model folder (what the baselines run)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    from docqa.embedding import bundled_model_path

    return SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True,
                               trust_remote_code=False)
