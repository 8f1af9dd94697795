"""Soak: 2,000 questions through Assistant.ask; memory, file descriptors and temporary files stay flat."""
from __future__ import annotations

import gc
import json
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import pytest

from docqa import Answer, DocQAError

WARM_UP = 200
QUESTIONS = 2000
MAX_GROWTH_MB = 50


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def questions(seed_text: str, n: int, rng: random.Random) -> list[tuple[str, list | None]]:
    """Distinct questions: seed phrasings, random word mixes, off-topic, follow-ups with history, bad input."""
    words = re.findall(r"[A-Za-z]{4,}", seed_text)
    stems = ["What did Hegseth say about", "Why does the article mention", "Who wants", "How much",
             "Is there anything about", "What is the position on"]
    off_topic = ["tomatoes", "quantum chromodynamics", "the Roman empire", "sourdough bread", "Mars rovers"]
    out: list[tuple[str, list | None]] = []
    for i in range(n):
        kind = i % 10
        if kind < 5:
            q = f"{rng.choice(stems)} {' '.join(rng.sample(words, rng.randint(1, 4)))} ({i})?"
            out.append((q, None))
        elif kind < 7:
            out.append((f"{rng.choice(stems)} {rng.choice(off_topic)} #{i}?", None))
        elif kind < 9:
            history = [{"role": "user", "content": f"What did Hegseth say about {rng.choice(words)}?"},
                       {"role": "assistant", "content": "> quoted passage [1]"}]
            out.append((f"And what about {rng.choice(words)} {i}?", history))
        else:
            out.append((rng.choice(["", "\u200b", "x" * 5000, "\x1b[31m", "\ud800"]) + f"{'' if i % 20 else i}", None))
    return out


@pytest.mark.slow
@pytest.mark.timeout(1200)  # about a minute on an idle 2-core machine; far longer while other jobs share the CPU
def test_soak_2000_questions(seed_assistant, seed_text, tmp_path: Path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    rng = random.Random(2000)
    for q, h in questions(seed_text, WARM_UP, rng):
        try:
            seed_assistant.ask(q, history=h)
        except DocQAError:
            pass
    gc.collect()
    before = {"rss_mb": rss_mb(), "fds": open_fds(), "tmp_bytes": folder_bytes(temp)}
    latencies, answered, abstained, rejected = [], 0, 0, 0
    for q, h in questions(seed_text, QUESTIONS, rng):
        started = time.perf_counter()
        try:
            answer = seed_assistant.ask(q, history=h)
        except DocQAError:
            rejected += 1
        else:
            assert isinstance(answer, Answer)
            answered += answer.found
            abstained += not answer.found
        latencies.append(time.perf_counter() - started)
    gc.collect()
    after = {"rss_mb": rss_mb(), "fds": open_fds(), "tmp_bytes": folder_bytes(temp)}
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    print(f"\nsoak: {QUESTIONS} questions after {WARM_UP} warm-up: {answered} answered, {abstained} abstained, "
          f"{rejected} rejected, 0 crashes; p50 {p50:.1f} ms, p95 {p95:.1f} ms; before {before}; after {after}; "
          f"RSS growth {after['rss_mb'] - before['rss_mb']:.1f} MB")
    assert answered + abstained + rejected == QUESTIONS and answered > 0 and abstained > 0 and rejected > 0
    assert after["rss_mb"] - before["rss_mb"] < MAX_GROWTH_MB
    assert after["fds"] <= before["fds"]
    assert after["tmp_bytes"] == before["tmp_bytes"] == 0


WEB_QUESTIONS = 10_000
WEB_WARM_UP = 300


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 10 minutes on an idle 2-core machine
def test_web_soak_10000_questions_keeps_the_server_flat(web_server: str, seed_text: str) -> None:
    """10,000 questions over the JSON `POST /ask` to the real server in this process (every tenth with a long
    history, every fifth through gradio_client's `/ask`): the process's RSS grows by under 50 MB."""
    import httpx
    from gradio_client import Client

    rng = random.Random(10_000)
    client = Client(web_server, verbose=False)
    long_history = [{"role": "user", "content": "What did Hegseth say about NATO? " * 40},
                    {"role": "assistant", "content": "> quoted passage [1] " * 60}] * 20  # ~50,000 characters
    statuses: dict[int, int] = {}

    def run(batch: list[tuple[str, list | None]], http) -> None:
        for i, (q, h) in enumerate(batch):
            if i % 10 == 3:
                h = long_history
            if i % 5 == 1:
                try:
                    client.predict(q, h, api_name="/ask")
                    statuses[200] = statuses.get(200, 0) + 1
                except Exception:  # gradio_client's AppError for a refused question
                    statuses[400] = statuses.get(400, 0) + 1
                continue
            body = json.dumps({"question": q, "history": h})  # ASCII escapes: lone surrogates travel too
            status = http.post("/ask", content=body, headers={"content-type": "application/json"}).status_code
            statuses[status] = statuses.get(status, 0) + 1

    with httpx.Client(base_url=web_server.rstrip("/"), timeout=60) as http:
        run(questions(seed_text, WEB_WARM_UP, rng), http)
        gc.collect()
        before, started = rss_mb(), time.perf_counter()
        statuses.clear()
        run(questions(seed_text, WEB_QUESTIONS, rng), http)
        gc.collect()
        after, seconds = rss_mb(), time.perf_counter() - started
    print(f"\nweb soak: {WEB_QUESTIONS} questions in {seconds:.0f} s ({seconds / WEB_QUESTIONS * 1000:.1f} ms each), "
          f"statuses {dict(sorted(statuses.items()))}; RSS {before:.0f} -> {after:.0f} MB "
          f"(growth {after - before:.1f} MB)")
    assert set(statuses) <= {200, 400} and statuses.get(200, 0) > WEB_QUESTIONS // 2
    assert after - before < MAX_GROWTH_MB
