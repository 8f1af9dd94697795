"""Bad input through the Python API (`Assistant.ask`, `docqa.ask`) and the CLI: a clear error or a clean answer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import unicodedata

import pytest

import docqa
from docqa import Answer, HistoryError, QuestionError
from docqa.api import _assistant_for

GDP = "What percent of GDP should NATO members spend on defense?"
MEMBERSHIP = "Is NATO membership for Ukraine a feasible outcome?"
LIMIT = docqa.Settings().max_question_chars


def _rejects(error: type[Exception], *words: str):
    return ("error", error, words)


def _answers(found: bool | None = None):
    """A clean Answer; `found` True/False when the outcome is certain, None when either is fine."""
    return ("answer", found)


# (id, question, keyword arguments, expectation)
QUESTION_CASES = [
    ("empty", "", {}, _rejects(QuestionError, "empty")),
    ("spaces", "     ", {}, _rejects(QuestionError, "empty")),
    ("tabs-newlines", "\t\n\r\n  \t", {}, _rejects(QuestionError, "empty")),
    ("zero-width-only", "\u200b\u200c\u200d\u2060\ufeff", {}, _rejects(QuestionError, "empty")),
    ("unicode-spaces-only", "\u00a0\u2003\u3000", {}, _rejects(QuestionError, "empty")),
    ("10k-chars", "a" * 10_000, {}, _rejects(QuestionError, "10,000 characters", f"{LIMIT:,}")),
    ("1m-chars-no-spaces", "x" * 1_000_000, {}, _rejects(QuestionError, "1,000,000 characters", f"{LIMIT:,}")),
    ("1m-chars-words", "defense " * 125_000, {}, _rejects(QuestionError, "1,000,000 characters")),
    ("limit-plus-one", "a" * (LIMIT + 1), {}, _rejects(QuestionError, f"{LIMIT + 1:,} characters")),
    ("at-limit", ("GDP defense " * LIMIT)[:LIMIT], {}, _answers()),
    ("none", None, {}, _rejects(QuestionError, "must be text", "NoneType")),
    ("bytes", GDP.encode(), {}, _rejects(QuestionError, "must be text", "bytes")),
    ("number", 42, {}, _rejects(QuestionError, "must be text", "int")),
    ("nul-inside", GDP.replace(" percent", "\x00 percent"), {}, _answers(True)),
    ("control-only", "\x00\x01\x07\x08\x1b\x7f", {}, _rejects(QuestionError, "empty")),
    ("c1-controls", "\x85\x9b" + GDP + "\x9c", {}, _answers(True)),
    ("ansi-colour", "\x1b[31;1mIs NATO membership\x1b[0m for Ukraine a feasible outcome?", {}, _answers(True)),
    ("ansi-only", "\x1b[2J\x1b[H\x1b[?25l", {}, _rejects(QuestionError, "empty")),
    ("lone-surrogate", "\ud800" + MEMBERSHIP, {}, _answers(True)),
    ("surrogates-only", "\udc80\udfff\ud83d", {}, _rejects(QuestionError, "empty")),
    ("emoji", "🛡️🇺🇦 " + GDP + " 🤔", {}, _answers(True)),
    ("emoji-only", "🤔🔥🇺🇦", {}, _answers()),
    ("arabic-rtl", "ما هو موقف حلف الناتو من عضوية أوكرانيا؟", {}, _answers()),
    ("rtl-override", "\u202e" + GDP + "\u202c", {}, _answers(True)),
    ("chinese", "北约成员国应该把多少国内生产总值用于国防?", {}, _answers()),
    ("russian", "Что сказал Хегсет о членстве Украины в НАТО?", {}, _answers()),
    ("combining-marks", "e\u0301" * 500, {}, _answers()),
    ("markdown", "**What** percent of _GDP_ should [NATO](http://x) members spend on `defense`?", {}, _answers(True)),
    # Markup is shown as text, never run. Found or not is the ranker's call: the markup's "1" is a number no
    # document holds, which now abstains (issue 9's absent-names rule).
    ("html-img", '<img src=x onerror="window.__pwned=1"> ' + GDP, {}, _answers()),
    ("html-script", "<script>alert(1)</script>", {}, _answers()),
]

HISTORY_CASES = [
    ("history-string", "hello", _rejects(HistoryError, "must be a list", "str")),
    ("history-dict", {"role": "user", "content": GDP}, _rejects(HistoryError, "must be a list", "dict")),
    ("history-generator", (m for m in []), _rejects(HistoryError, "must be a list")),
    ("history-wrong-role", [{"role": "bot", "content": "hi"}], _rejects(HistoryError, "history[0]['role']", "'bot'")),
    ("history-missing-role", [{"content": "hi"}], _rejects(HistoryError, "history[0]['role']")),
    ("history-tuple-message", [("user", GDP)], _rejects(HistoryError, "history[0] must be a dict")),
    ("history-int-content", [{"role": "user", "content": 5}], _rejects(HistoryError, "'content'", "int")),
    ("history-none-content", [{"role": "user", "content": None}], _rejects(HistoryError, "'content'", "NoneType")),
    ("history-huge", [{"role": "user", "content": "x" * 300_000}], _rejects(HistoryError, "200,000 characters")),
    # 1.6M characters in all: refused whole (once accepted because only the last 50 messages were checked)
    ("history-many-small", [{"role": "user", "content": "Hegseth and NATO"}] * 100_000,
     _rejects(HistoryError, "200,000 characters")),
    ("history-many-tiny", [{"role": "user", "content": "NATO"}] * 1_000, _answers()),
    ("history-bad-late", [{"role": "user", "content": GDP}] * 59 + [{"role": "robot", "content": "x"}],
     _rejects(HistoryError, "history[59]['role']")),
    ("history-structured-bad-parts", [{"role": "user", "content": [1, None, {"text": 5}, {"type": "text",
                                      "text": MEMBERSHIP}]}], _answers()),
    ("history-file-part", [{"role": "user", "content": {"path": "/etc/passwd", "mime_type": "text/plain"}}],
     _answers()),
    ("history-control-surrogates", [{"role": "user", "content": "\x00\ud800\x1b[31mNATO"}], _answers()),
]

TOP_K_CASES = [0, -1, 51, 1.5, True, "3", 10**20, float("nan")]


def _check(outcome, expect, question_text=None):
    kind = expect[0]
    if kind == "error":
        _, error, words = expect
        assert isinstance(outcome, error), f"expected {error.__name__}, got {outcome!r}"
        message = str(outcome)
        assert "\n" not in message and len(message) < 300
        for w in words:
            assert w in message
        return
    assert isinstance(outcome, Answer), f"expected an answer, got {outcome!r}"
    if expect[1] is not None:
        assert outcome.found is expect[1], outcome.markdown
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in outcome.question)
    assert "<img" not in outcome.markdown and "<script" not in outcome.markdown
    json.dumps(outcome.to_dict(), ensure_ascii=False).encode("utf-8")  # no surrogate survives to the output
    if outcome.found:
        assert outcome.passages and outcome.passages[0].highlight_text.strip()


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (QuestionError, HistoryError, ValueError) as exc:
        return exc


@pytest.fixture
def no_encoding(seed_assistant, monkeypatch):
    """Fails the test if the question reaches the model."""
    def boom(*args, **kwargs):
        raise AssertionError("a rejected question reached the tokenizer")

    seed_assistant.retriever  # loaded before the spy goes in
    monkeypatch.setattr(seed_assistant.embedder, "encode_query", boom)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, question, kwargs, expect", QUESTION_CASES, ids=[c[0] for c in QUESTION_CASES])
def test_question_through_assistant(seed_assistant, name, question, kwargs, expect):
    _check(_call(seed_assistant.ask, question, **kwargs), expect)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, history, expect", HISTORY_CASES, ids=[c[0] for c in HISTORY_CASES])
def test_history_through_assistant(seed_assistant, name, history, expect):
    _check(_call(seed_assistant.ask, "And what about the troops?", history=history), expect)


@pytest.mark.parametrize("top_k", TOP_K_CASES, ids=repr)
def test_bad_top_k_is_a_value_error(seed_assistant, top_k):
    with pytest.raises(ValueError, match="top_k must be an integer from 1 to 50"):
        seed_assistant.ask(GDP, top_k=top_k)


@pytest.mark.parametrize("length", [10_000, 1_000_000, 50_000_000])
def test_long_questions_are_rejected_before_tokenising(seed_assistant, no_encoding, length):
    question = "x" * length
    started = time.perf_counter()
    with pytest.raises(QuestionError, match=f"{length:,} characters; the limit is {LIMIT:,}"):
        seed_assistant.ask(question)
    assert time.perf_counter() - started < 0.5  # a length check: tokenising 50 M characters takes minutes


def test_whitespace_questions_never_reach_the_model(seed_assistant, no_encoding):
    for question in ["", " \u200b\u2060 ", "\x1b[0m", "\udc80"]:
        with pytest.raises(QuestionError, match="empty"):
            seed_assistant.ask(question)


def test_cleaned_question_is_what_is_answered(seed_assistant):
    answer = seed_assistant.ask("\x1b[1mWhat\x1b[0m percent\x00 of GDP\u200b should NATO members spend on defense?")
    assert answer.question == GDP
    assert answer.found and "5 percent" in answer.passages[0].highlight_text


@pytest.fixture
def default_api(seed_assistant, monkeypatch):
    """`docqa.ask` pointed at the seed assistant's folders (its index is already built)."""
    monkeypatch.setenv("DOCQA_SOURCES", str(seed_assistant.sources))
    monkeypatch.setenv("DOCQA_INDEX", str(seed_assistant.index_dir))
    yield docqa.ask
    _assistant_for.cache_clear()


API_SUBSET = [c for c in QUESTION_CASES if c[0] in {
    "empty", "zero-width-only", "1m-chars-no-spaces", "none", "nul-inside", "ansi-colour", "lone-surrogate",
    "emoji", "arabic-rtl", "markdown", "html-img"}]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, question, kwargs, expect", API_SUBSET, ids=[c[0] for c in API_SUBSET])
def test_question_through_docqa_ask(default_api, name, question, kwargs, expect):
    _check(_call(default_api, question, **kwargs), expect)


@pytest.mark.parametrize("history", [h for _, h, e in HISTORY_CASES if e[0] == "error"][:6])
def test_history_through_docqa_ask(default_api, history):
    with pytest.raises(HistoryError):
        default_api(GDP, history=history)


def test_top_k_through_docqa_ask(default_api):
    with pytest.raises(ValueError, match="top_k"):
        default_api(GDP, top_k=0)
    assert len(default_api(GDP, top_k=1).passages) == 1


# ---------------------------------------------------------------- the CLI


def _cli(seed_assistant, *args: str | bytes, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    cmd = [sys.executable, "-m", "docqa.cli", "ask", "--sources", str(seed_assistant.sources),
           "--index", str(seed_assistant.index_dir), *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("docqa: error: ")
    return lines[0]


CLI_REJECTED = [
    ("empty", [""], 1, "empty"),
    ("spaces", ["   \t "], 1, "empty"),
    ("zero-width-only", ["\u200b\u200d\ufeff"], 1, "empty"),
    ("control-only", ["\x01\x02\x7f"], 1, "empty"),
    ("ansi-only", ["\x1b[2J\x1b[H"], 1, "empty"),
    ("invalid-utf8-only", [b"\xed\xa0\x80\xff"], 1, "empty"),  # argv decodes to lone surrogates
    ("10k-chars", ["a" * 10_000], 1, "10,000 characters"),
    ("100k-chars", ["b" * 100_000], 1, "100,000 characters"),  # the kernel refuses one argv string > 128 KiB
    ("top-k-zero", ["--top-k", "0", GDP], 2, "top_k"),
    ("top-k-too-big", ["--top-k", "51", GDP], 2, "top_k"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, args, code, words", CLI_REJECTED, ids=[c[0] for c in CLI_REJECTED])
def test_cli_rejects_with_one_line(seed_assistant, name, args, code, words):
    proc = _cli(seed_assistant, *args)
    assert proc.returncode == code
    assert words in _one_error_line(proc)
    assert proc.stdout == b""


CLI_ANSWERED = [
    ("ansi-colour", "\x1b[31mIs NATO membership\x1b[0m for Ukraine a feasible outcome?", "NATO membership"),
    ("invalid-utf8-inside", "NATO \udcff membership for Ukraine?".encode("utf-8", "surrogateescape"), "NATO"),
    ("emoji", "🛡️ " + GDP + " 🤔", "5 percent"),
    ("arabic-rtl", "ما هو موقف حلف الناتو؟", None),
    ("html-img", '<img src=x onerror="alert(1)"> ' + GDP, None),  # found or not: see API_CASES' html-img
    ("markdown", "**What** percent of _GDP_ for `defense`?", None),
]


@pytest.mark.slow  # each run loads the model (about 6 s)
@pytest.mark.timeout(180)
@pytest.mark.parametrize("name, question, expected", CLI_ANSWERED, ids=[c[0] for c in CLI_ANSWERED])
def test_cli_answers_cleanly(seed_assistant, name, question, expected):
    proc = _cli(seed_assistant, "--json", question)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    answer = json.loads(proc.stdout.decode("utf-8"))
    assert "\x1b" not in answer["question"] and "\x00" not in answer["question"]
    if expected is not None:
        assert answer["found"] and expected in json.dumps(answer, ensure_ascii=False)


# ---------------------------------------------------------------- /ask through gradio_client (the web teammate's server)


WEB_QUESTIONS = [c for c in QUESTION_CASES if c[0] in {
    "empty", "zero-width-only", "10k-chars", "1m-chars-no-spaces", "none", "nul-inside", "control-only",
    "ansi-colour", "emoji", "arabic-rtl", "markdown", "html-img", "html-script"}]  # surrogates: raw HTTP below
WEB_HISTORIES = [c for c in HISTORY_CASES if c[0] in {
    "history-wrong-role", "history-int-content", "history-huge", "history-structured-bad-parts",
    "history-bad-late"}]


@pytest.fixture(scope="module")
def web_client(web_server: str):
    from gradio_client import Client

    return Client(web_server, verbose=False)


def _web_check(client, question, history, expect) -> None:
    from gradio_client.exceptions import AppError

    args = (question,) if history is None else (question, history)
    if expect[0] == "error":
        with pytest.raises(AppError) as caught:
            client.predict(*args, api_name="/ask")
        message = str(caught.value)
        assert "Traceback" not in message and 'File "' not in message and "\n" not in message.strip()
        for w in expect[2]:
            assert w.lower() in message.lower()
        return
    result = client.predict(*args, api_name="/ask")
    assert isinstance(result, dict) and isinstance(result["markdown"], str)
    if expect[1] is not None:
        assert result["found"] is expect[1]
    assert "<img" not in result["markdown"] and "<script" not in result["markdown"]
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in result.get("question", ""))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, question, kwargs, expect", WEB_QUESTIONS, ids=[c[0] for c in WEB_QUESTIONS])
def test_question_through_web_ask(web_client, name, question, kwargs, expect):
    _web_check(web_client, question, None, expect)


def _raw_ask(base: str, question, history) -> tuple[int, dict]:
    """POST /ask with ASCII-escaped JSON (which can carry lone surrogates); (status, JSON reply)."""
    import httpx

    body = json.dumps({"question": question, "history": history})  # ensure_ascii: "\\ud800" travels as an escape
    with httpx.Client(timeout=60) as http:
        response = http.post(f"{base}ask", content=body, headers={"Content-Type": "application/json"})
    return response.status_code, response.json()


@pytest.mark.timeout(120)
def test_lone_surrogates_through_raw_http(web_server: str):
    status, data = _raw_ask(web_server, "\ud800" + MEMBERSHIP, None)
    assert status == 200 and data["found"] is True
    status, data = _raw_ask(web_server, "And what about the troops?",
                            [{"role": "user", "content": "\x00\ud800\x1b[31mNATO"}])
    assert status == 200 and isinstance(data["markdown"], str)
    status, data = _raw_ask(web_server, "\udc80\udfff", None)
    assert status == 400 and "empty" in data["error"].lower()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, history, expect", WEB_HISTORIES, ids=[c[0] for c in WEB_HISTORIES])
def test_history_through_web_ask(web_client, name, history, expect):
    _web_check(web_client, "And what about the troops?", history, expect)
